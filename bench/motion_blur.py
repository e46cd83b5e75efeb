"""Moving faces: each model's full path on the 300-W common test faces smeared by motion during the exposure.

A head turning in front of a webcam whose exposure is long in a dim room, a hand-held phone: the picture is the face
smeared along a line, sharp across it, unlike the even blur of a lens out of focus (``bench/blur.py``). Each test
image is convolved with a line ``length`` px long (the faces' 68-point boxes are about 183 px) at an angle drawn per
picture from a fixed seed (the same for every model and length), borders reflected; its points do not move (the
annotation is where the face was mid-exposure). Scored by :func:`bench.sweep.sweep`. Nothing is chosen here. Writes
``bench/results/motion_blur.csv`` and ``motion_blur.png``.

    python bench/motion_blur.py [--lengths 0 8 16 24 32] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import RESULTS  # noqa: E402
from kpdemo.datasets import LandmarkSet  # noqa: E402
from kpdemo.training.augment import motion_kernels  # noqa: E402

LENGTHS = (0, 8, 16, 24, 32)


def line_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A normalised kernel: a line ``length`` px long through the middle pixel's centre at ``angle_deg`` (the
    training smear's :func:`~kpdemo.training.augment.motion_kernels`, in float64), its points spread finely enough
    along it (8 a pixel, at least 64) that a long line leaves no gaps."""
    side = int(np.ceil(length)) | 1  # odd, so the middle pixel is the image's pixel
    kernel = motion_kernels(torch.tensor([length], dtype=torch.float64),
                            torch.tensor([np.deg2rad(angle_deg)], dtype=torch.float64), side, max(64, int(8 * length)))
    return kernel[0].numpy().astype(np.float32)


def smeared(data: LandmarkSet, length: float) -> LandmarkSet:
    """``data`` smeared along a line ``length`` px long (0: unchanged), each picture at its own angle."""
    if length == 0:
        return data
    angles = np.random.default_rng(0).uniform(0, 180, len(data))
    images = [cv2.filter2D(data.image(i), -1, line_kernel(length, angles[i]), borderType=cv2.BORDER_REFLECT)
              for i in range(len(data))]
    return data.remade(f"{data.name}_motion{length:g}", images, list(data.points))


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, LENGTHS, smeared, "length", "motion blur (px along a line; the face's box is ~183 px)",
               RESULTS / "motion_blur.csv")


if __name__ == "__main__":
    main()
