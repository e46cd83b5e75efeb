"""Batched, on-device augmentation that moves images and keypoints together.

* :func:`flip_batch`: horizontal mirror of chosen samples, with left/right labels swapped through the schema's
  ``flip_permutation`` (a mirrored left eye *is* the right eye).
* :func:`random_affine` + :func:`warp_batch`: one rotation / scale / shift per sample, applied to the images with
  ``affine_grid``/``grid_sample`` and to the points with the same matrix, so they cannot disagree.

Everything works on whole batches in normalised coordinates ([-1, 1] spans the crop, ``align_corners=False``),
so there is no per-sample Python in the training loop. Images must be float in [0, 1] (outside = black, as in
the dataset's own crops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def flip_batch(
    images: torch.Tensor, points: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor, which: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mirror samples where ``which`` (N,) is true: images (N,C,H,W), points (N,K,2) normalised, mask (N,K)."""
    sel = which.view(-1, 1, 1)
    flipped_points = points[:, perm] * points.new_tensor([-1.0, 1.0])
    return (
        torch.where(which.view(-1, 1, 1, 1), images.flip(-1), images),
        torch.where(sel, flipped_points, points),
        torch.where(which.view(-1, 1), mask[:, perm], mask),
    )


def random_affine(
    n: int, degrees: float, scale: float, shift: float, hw: tuple[int, int], device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(N, 2, 3) affines mapping input normalised points to output ones: rotation in +-``degrees``, zoom in
    1 +- ``scale``, shift in +-``shift`` (fraction of the half-size). Built in pixel units so a non-square crop
    rotates without shearing."""
    u = torch.rand(n, 4, device=device, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    zoom = 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    h, w = hw
    aspect = h / w  # normalised x is pixels / (w/2), y is pixels / (h/2)
    linear = torch.stack([torch.stack([cos, -sin * aspect], -1), torch.stack([sin / aspect, cos], -1)], -2)
    return torch.cat([linear, (u[:, 2:] * shift).unsqueeze(-1)], -1)


def warp_batch(
    images: torch.Tensor, points: torch.Tensor, affine: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``affine`` (N, 2, 3; input -> output normalised coordinates) to images and points together."""
    linear, offset = affine[:, :, :2], affine[:, :, 2:]
    inverse = torch.linalg.inv(linear)
    theta = torch.cat([inverse, -inverse @ offset], -1)  # grid_sample wants output -> input
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    moved = points @ linear.transpose(1, 2) + offset.transpose(1, 2)
    return warped, moved


@dataclass(frozen=True)
class Augmentation:
    """A named augmentation policy; ``none`` does nothing."""

    flip: bool = False
    degrees: float = 0.0
    scale: float = 0.0
    shift: float = 0.0

    @property
    def active(self) -> bool:
        return self.flip or bool(self.degrees or self.scale or self.shift)

    def __call__(
        self, images: torch.Tensor, points: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = len(images)
        if self.flip:
            which = torch.rand(n, device=images.device, generator=generator) < 0.5
            images, points, mask = flip_batch(images, points, mask, perm, which)
        if self.degrees or self.scale or self.shift:
            affine = random_affine(n, self.degrees, self.scale, self.shift, images.shape[-2:], images.device,
                                   generator)
            images, points = warp_batch(images, points, affine)
        return images, points, mask


#: Policies by name (the ``augmentation`` config value). ``flip_rotate`` is seed 001's; ``jitter`` adds the
#: small zoom/shift the seed suggested as a next step.
AUGMENTATIONS: dict[str, Augmentation] = {
    "none": Augmentation(),
    "flip": Augmentation(flip=True),
    "flip_rotate": Augmentation(flip=True, degrees=15.0),
    "flip_rotate_jitter": Augmentation(flip=True, degrees=15.0, scale=0.08, shift=0.06),
}


def get_augmentation(name: str) -> Augmentation:
    try:
        return AUGMENTATIONS[name]
    except KeyError:
        raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}") from None
