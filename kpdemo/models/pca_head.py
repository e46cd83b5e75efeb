"""A PCA shape head (seed 002 "bells and whistles"): predict whitened shape coefficients, reconstruct the points.

The head's last layer outputs ``n_components`` numbers ``z``; points = ``mean + z @ basis`` where ``basis`` rows are
the principal directions of the training shapes scaled by their standard deviations, so ``z`` is unit-scale and
every output is a plausible face. ``mean`` and ``basis`` are buffers: they travel in the checkpoint's state_dict,
and :func:`fit_pca` fills them from the training shapes before training.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def pca_components(shapes: np.ndarray, variance: float = 0.99) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(components for ``variance``, mean (D,), unit directions (D, D) as rows, per-direction std (D,)).

    ``shapes`` (N, K, 2) in normalised crop units.
    """
    flat = np.asarray(shapes, np.float64).reshape(len(shapes), -1)
    mean = flat.mean(0)
    _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
    var = s**2 / max(len(flat) - 1, 1)
    needed = int(np.searchsorted(np.cumsum(var) / var.sum(), variance) + 1)
    return needed, mean, vt, np.sqrt(var)


class PCAHead(nn.Module):
    """Linear(in_features -> n_components) followed by the fixed PCA reconstruction to ``num_points * 2``."""

    def __init__(self, in_features: int, num_points: int, n_components: int) -> None:
        super().__init__()
        self.coefficients = nn.Linear(in_features, n_components)
        self.register_buffer("mean", torch.zeros(num_points * 2))
        self.register_buffer("basis", torch.zeros(n_components, num_points * 2))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mean + self.coefficients(features) @ self.basis

    def fit_shapes(self, shapes: np.ndarray) -> float:
        """Set mean and basis from training shapes (N, K, 2); returns the variance fraction the head keeps."""
        n = self.basis.shape[0]
        _, mean, vt, std = pca_components(shapes)
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.basis.copy_(torch.as_tensor(vt[:n] * std[:n, None], dtype=torch.float32))
        nn.init.zeros_(self.coefficients.weight)
        nn.init.zeros_(self.coefficients.bias)  # start at the mean shape
        return float((std[:n] ** 2).sum() / (std**2).sum())
