"""Blurred faces: each model's full path on the 300-W common test faces ever more out of focus.

A webcam that has not found focus, a face moving in a long exposure, a photo upscaled from a thumbnail: the edges
the points sit on (eyelids, lips, the jaw against the background) spread out. Each test image (a 256 px crop whose
face's 68-point box is about 183 px) is blurred by a Gaussian of ``sigma`` px (borders reflected); its points do
not move. Scored by :func:`bench.sweep.sweep`. Nothing is chosen here. Writes ``bench/results/blur.csv`` and
``blur.png``.

    python bench/blur.py [--sigmas 0 2 4 6 8] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import RESULTS  # noqa: E402
from kpdemo.datasets import LandmarkSet  # noqa: E402

SIGMAS = (0, 2, 4, 6, 8)


def blurred(data: LandmarkSet, sigma: float) -> LandmarkSet:
    """``data`` blurred by a Gaussian of ``sigma`` px (0: unchanged)."""
    images = [cv2.GaussianBlur(data.image(i), (0, 0), sigma) if sigma else data.image(i) for i in range(len(data))]
    return data.remade(f"{data.name}_blur{sigma:g}", images, list(data.points))


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, SIGMAS, blurred, "sigma", "Gaussian blur sigma (px; the face's box is ~183 px)",
               RESULTS / "blur.csv")


if __name__ == "__main__":
    main()
