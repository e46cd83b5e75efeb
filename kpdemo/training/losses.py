"""Point-regression losses that honour a visibility mask (Kaggle's CSV leaves most rows partly unlabelled)."""

from __future__ import annotations

import math

import torch

#: Wing loss shape in normalised crop units ([-1, 1] spans the crop): log-shaped below ``WING_W`` (about 6 px at
#: 128 px), so small errors keep a strong gradient instead of vanishing as under L2 (Feng et al., CVPR 2018).
WING_W, WING_EPS = 0.1, 0.02


def wing(diff: torch.Tensor) -> torch.Tensor:
    """Elementwise wing loss of coordinate errors."""
    a = diff.abs()
    c = WING_W - WING_W * math.log(1 + WING_W / WING_EPS)
    return torch.where(a < WING_W, WING_W * torch.log1p(a / WING_EPS), a - c)


#: Point losses by name (``TrainConfig.loss``): elementwise functions of the coordinate error.
POINT_LOSSES = {"mse": torch.square, "l1": torch.abs, "wing": wing}


def masked_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean of squared (``mse``), absolute (``l1``) or wing errors over visible coordinates only.

    ``pred`` (N, K*2) or (N, K, 2); ``target`` (N, K, 2); ``mask`` (N, K). With every point visible this is
    exactly the plain mean, so numbers compare with seed 001's unmasked loss.
    """
    diff = pred.reshape(target.shape).float() - target
    if kind not in POINT_LOSSES:
        raise ValueError(f"unknown loss {kind!r}; known: {', '.join(POINT_LOSSES)}")
    err = POINT_LOSSES[kind](diff)
    weight = mask.unsqueeze(-1).to(err.dtype).expand_as(err)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)
