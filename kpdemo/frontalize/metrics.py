"""Image similarity for frontalization results: mean absolute error in gray levels and SSIM.

SSIM follows Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5), ``K1 = 0.01``, ``K2 = 0.03``, computed over
the valid region (no padding) and averaged per image, on images scaled to [0, 1]. ``ssim(x, x) == 1``.
"""

from __future__ import annotations

import torch

WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def _gaussian_taps() -> list[float]:
    x = torch.arange(WINDOW, dtype=torch.float64) - (WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * SIGMA**2))
    return (g / g.sum()).tolist()


def _blur(x: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """Separable Gaussian over the valid region of (..., H, W), as weighted sums of shifted slices.

    Why not ``conv2d``: single-channel convolutions take a slow path on the CPU (seconds per batch).
    """
    k = len(taps)
    h, w = x.shape[-2:]
    rows = sum(t * x[..., i:i + h - k + 1, :] for i, t in enumerate(taps))
    return sum(t * rows[..., :, i:i + w - k + 1] for i, t in enumerate(taps))


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) batches of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (N,) of (N, C, H, W) images in [0, 1] (channels averaged)."""
    _check(a, b)
    if min(a.shape[-2:]) < WINDOW:
        raise ValueError(f"images must be at least {WINDOW}x{WINDOW} for SSIM")
    n, c = a.shape[:2]
    a, b = a.float(), b.float()
    taps = _gaussian_taps()
    mu_a, mu_b = _blur(a, taps), _blur(b, taps)
    var_a = _blur(a * a, taps) - mu_a**2
    var_b = _blur(b * b, taps) - mu_b**2
    cov = _blur(a * b, taps) - mu_a * mu_b
    c1, c2 = K1**2, K2**2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return index.reshape(n, c, -1).mean((1, 2))


def l1_gray(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute error (N,) in gray levels (0-255) of images in [0, 1]."""
    _check(a, b)
    return (a - b).abs().flatten(1).mean(1) * 255.0


def image_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean L1 (gray levels) and SSIM over a batch of [0, 1] images."""
    return {"l1_gray": float(l1_gray(pred, target).mean()), "ssim": float(ssim(pred, target).mean())}
