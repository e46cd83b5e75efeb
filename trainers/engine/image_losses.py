"""Per-decoder losses of the image-to-image trainer (seed 004), chosen by ``config.loss``.

Outputs and targets are on the networks' [-1, 1] scale. Why more than the seed's MAE:

* ``l1``: the seed's mean absolute error. Its per-pixel optimum is the median, so where a foreground covers a small
  part of the frame (a random triangle: about 7%) the all-background image is a deep minimum; the Light decoder
  (linear bottleneck, tanh layers) falls into it and its saturated tanh output gives no gradient back out.
* ``l1_balanced``: L1 with each image's foreground (target above mid-gray) and background carrying equal total
  weight, so a blank answer costs half the loss instead of 7% of it. For two-level images (the polygons).
* ``l1_ssim``: ``0.16 * L1 + 0.84 * (1 - SSIM)``, the mix Zhao et al. (2017, "Loss Functions for Image Restoration
  with Neural Networks") found best for restoration; L1 alone gives blurred faces whose structure (what SSIM
  scores) is worse than the mean face's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from kpdemo.frontalize.metrics import ssim

ImageLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SSIM_SHARE = 0.84


def l1_balanced(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over images of (mean |error| on foreground + mean |error| on background) / 2."""
    foreground = (target > 0).float()
    error = (output - target).abs()
    per_image = []
    for mask in (foreground, 1 - foreground):
        area = mask.flatten(1).sum(1)
        per_image.append(torch.where(area > 0, (error * mask).flatten(1).sum(1) / area.clamp(min=1), 0.0))
    return ((per_image[0] + per_image[1]) / 2).mean()


def l1_ssim(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    structure = 1 - ssim(output * 0.5 + 0.5, target * 0.5 + 0.5).mean()
    return (1 - SSIM_SHARE) * F.l1_loss(output, target) + SSIM_SHARE * structure


IMAGE_LOSSES: dict[str, ImageLoss] = {"l1": F.l1_loss, "l1_balanced": l1_balanced, "l1_ssim": l1_ssim}


def image_loss(name: str) -> ImageLoss:
    """The loss called ``name``, or an error listing the known ones."""
    if name not in IMAGE_LOSSES:
        raise ValueError(f"unknown image loss {name!r}; known: {', '.join(IMAGE_LOSSES)}")
    return IMAGE_LOSSES[name]
