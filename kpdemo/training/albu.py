"""An albumentations 2 CPU pipeline as a drop-in :class:`kpdemo.training.augment.Augmentation` (seed 002 part 2).

Seed 002 used albumentations for color jitter, rotation, shift/scale and homographies because the library moves
keypoints with the image. Its ``HorizontalFlip`` mirrors coordinates but does not swap left/right *labels*, so the
flip here is the shared :func:`~kpdemo.training.augment.flip_batch` with the schema's permutation instead.

It has the same call signature as the on-device policies (float [0, 1] images (N, C, H, W), normalised points),
so the shared training loop runs it unchanged; it runs per sample on the CPU, which is fine for small sets (IMM).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from kpdemo.training.augment import AUGMENTATIONS, Augmentation, flip_batch
from kpdemo.training.tensors import points_from_network, points_to_network

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402


def seed002_pipeline(degrees: float = 12.0, shift: float = 0.06, scale: float = 0.08,
                     perspective: float = 0.04) -> A.Compose:
    """Color jitter, rotation + shift/scale (one Affine) and a mild perspective warp; keypoints kept, even off-image."""
    return A.Compose(
        [
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.0, hue=0.0, p=0.8),
            A.Affine(rotate=(-degrees, degrees), translate_percent=(-shift, shift), scale=(1 - scale, 1 + scale),
                     border_mode=0, fill=0, p=0.9),
            A.Perspective(scale=(0.0, perspective), keep_size=True, border_mode=0, fill=0, p=0.5),
        ],
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
    )


@dataclass(frozen=True)
class AlbumentationsAugmentation(Augmentation):
    """Per-sample albumentations pipeline, then a label-swapping flip (when ``flip``) on the whole batch."""

    pipeline: A.Compose = field(default_factory=seed002_pipeline, compare=False)

    @property
    def active(self) -> bool:
        return True

    def __call__(
        self, images: torch.Tensor, points: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor,
        generator: torch.Generator | None = None, context: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if context != 1.0:
            raise ValueError("the albumentations pipeline works on crops of the model's own size (context 1)")
        device = images.device
        h, w = images.shape[-2:]
        arrays = (images.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
        pixels = points_from_network(points.cpu().numpy(), h, w) - 0.5  # continuous -> cv2 index convention
        out_images, out_points = [], []
        for image, pts in zip(arrays, pixels, strict=True):
            result = self.pipeline(image=image, keypoints=pts)
            out_images.append(result["image"].reshape(h, w, -1))
            out_points.append(np.asarray(result["keypoints"], np.float32)[:, :2] + 0.5)
        images = torch.from_numpy(np.stack(out_images)).permute(0, 3, 1, 2).to(device).float() / 255.0
        points = torch.from_numpy(points_to_network(np.stack(out_points), h, w)).to(device)
        if self.flip:
            which = torch.rand(len(images), generator=generator).to(device) < 0.5
            images, points, mask = flip_batch(images, points, mask, perm, which)
        return images, points, mask


AUGMENTATIONS["albu_seed002"] = AlbumentationsAugmentation(flip=True)
