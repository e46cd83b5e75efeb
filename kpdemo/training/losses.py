"""Point-regression losses that honour a visibility mask (Kaggle's CSV leaves most rows partly unlabelled)."""

from __future__ import annotations

import torch


def masked_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean of squared (``mse``) or absolute (``l1``) errors over visible coordinates only.

    ``pred`` (N, K*2) or (N, K, 2); ``target`` (N, K, 2); ``mask`` (N, K). With every point visible this is
    exactly the plain mean, so numbers compare with seed 001's unmasked loss.
    """
    diff = pred.reshape(target.shape).float() - target
    err = diff.square() if kind == "mse" else diff.abs() if kind == "l1" else None
    if err is None:
        raise ValueError(f"unknown loss {kind!r}; known: mse, l1")
    weight = mask.unsqueeze(-1).to(err.dtype).expand_as(err)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)
