"""Small faces: each model's full path on the 300-W common test faces shrunk to ever fewer pixels in a bigger picture.

A face across the room from a webcam, a group photo, a person in a street scene: in-the-wild faces are often a few
dozen pixels wide, and what shrinking takes away (the eyelids' and lips' edges) no model can get back. Each test
image (a 256 px crop whose face box is about 183 px) is shrunk so that its face's 68-point box is ``size`` px on its
longer side (area resampling: the detail is lost, as in a photo taken from farther away) and pasted, at a whole-pixel
offset, in the middle of a ``FRAME`` (640 x 480, a webcam frame) grey picture; its true points are scaled and
shifted alike (exactly: no half-pixel drift, which at 30 px would already be a percent of NME), and scored by
:func:`bench.sweep.sweep`. NME is normalised by each face's own eye-corner distance, so it does not grow by itself as
the face shrinks. Nothing is chosen here. Writes ``bench/results/small_faces.csv`` and ``small_faces.png``.

    python bench/small_faces.py [--sizes 160 96 64 48 36 28] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import RESULTS  # noqa: E402
from kpdemo.datasets import LandmarkSet  # noqa: E402

SIZES = (160, 96, 64, 48, 36, 28)
#: The picture each shrunk face is shown in: (height, width) of a webcam frame.
FRAME = (480, 640)
#: The picture's grey: a plain background, so that what a detector finds or misses is the face.
BACKGROUND = 114


def shrunk(data: LandmarkSet, size: float) -> LandmarkSet:
    """``data`` with each face's landmark box shrunk to ``size`` px (never enlarged) in the middle of a ``FRAME``
    picture."""
    height, width = FRAME
    images, points = [], []
    for i in range(len(data)):
        image, truth = data.image(i), data.points[i].astype(np.float64)
        side = float((truth.max(0) - truth.min(0)).max())
        if size > side:
            raise ValueError(f"face {i} of {data.name} is {side:.0f} px; {size:g} px would enlarge it")
        small_w, small_h = round(image.shape[1] * size / side), round(image.shape[0] * size / side)
        small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
        # continuous coordinates (the image spans [0, w]) scale exactly by the size ratio of each axis
        scaled = truth * [small_w / image.shape[1], small_h / image.shape[0]]
        centre = (scaled.min(0) + scaled.max(0)) / 2
        dx, dy = round(width / 2 - centre[0]), round(height / 2 - centre[1])
        picture = np.full((height, width, 3), BACKGROUND, np.uint8)
        x0, y0 = max(dx, 0), max(dy, 0)
        x1, y1 = min(dx + small_w, width), min(dy + small_h, height)
        picture[y0:y1, x0:x1] = small[y0 - dy:y1 - dy, x0 - dx:x1 - dx]
        images.append(picture)
        points.append((scaled + [dx, dy]).astype(np.float32))
    return data.remade(f"{data.name}_face{size:g}px", images, points)


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, SIZES, shrunk, "size", "the face's 68-point box (px, longer side)",
               RESULTS / "small_faces.csv", reverse=True)


if __name__ == "__main__":
    main()
