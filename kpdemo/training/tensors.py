"""A whole landmark dataset as device tensors, so a training epoch is index arithmetic with no per-sample Python.

Images stay uint8 ``(N, C, H, W)`` on the device (a quarter of float32's memory) and are widened per batch.
Points are stored in the network's normalised units: ``(p - centre) / half_size`` per axis, so ``[-1, 1]`` spans
the crop, which is also ``torch.nn.functional.affine_grid``'s convention (``align_corners=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kpdemo.datasets.base import LandmarkSet


def half_size(height: int, width: int) -> np.ndarray:
    """(half width, half height): the per-axis scale between crop pixels and normalised units."""
    return np.array([width / 2, height / 2], np.float32)


def points_to_network(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop pixels (continuous convention) -> normalised units."""
    half = half_size(height, width)
    return (np.asarray(points, np.float32) - half) / half


def points_from_network(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Normalised units (..., K, 2) -> crop pixels."""
    half = half_size(height, width)
    return np.asarray(points, np.float32) * half + half


@dataclass
class TensorSet:
    """``images`` uint8 (N, C, H, W), ``points`` float (N, K, 2) normalised, ``mask`` bool (N, K)."""

    images: torch.Tensor
    points: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.images.shape[-2]), int(self.images.shape[-1])

    @classmethod
    def from_landmarks(cls, data: LandmarkSet, device: str | torch.device = "cpu") -> TensorSet:
        """Move an in-memory :class:`LandmarkSet` to ``device``; lazy (path-backed) sets are read once here."""
        images = data.images if data.images is not None else np.stack([data.image(i) for i in range(len(data))])
        images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        h, w = images.shape[-2:]
        return cls(
            images=torch.from_numpy(np.ascontiguousarray(images)).to(device),
            points=torch.from_numpy(points_to_network(data.points, h, w)).to(device),
            mask=torch.from_numpy(data.mask).to(device),
        )


def pixels_to_input(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 or [0, 1] float images -> the network's input scale ``(v / 255 - mean) / std``."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images
    return (x - mean) / std
