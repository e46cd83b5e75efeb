"""Faces cut by the frame: each model's full path on the 300-W common test faces framed ever more tightly.

A webcam user close to the camera, a selfie, a tight crop: the frame cuts the chin, the brows, the jaw line. Each
test image is re-framed as a 480 x 480 picture of a square window ``window`` x the longer side of its face's
68-point box, centred on that box (1.4 is the dataset's own framing, the whole face with a margin; at 1.0 the
window just holds the points; below it cuts the face), its true points mapped alike (points outside the picture are
still scored), and scored by :func:`bench.sweep.sweep`. Nothing is chosen here (the padded detector's border was
set on validation faces: :class:`kpdemo.detection.wrappers.PaddedDetector`). Writes ``bench/results/closeup.csv`` and
``closeup.png``.

    python bench/closeup.py [--windows 1.4 1.2 1 0.9 0.8 0.7] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import RESULTS  # noqa: E402
from kpdemo.datasets import LandmarkSet  # noqa: E402
from kpdemo.detection.crops import crop_matrix  # noqa: E402
from kpdemo.geometry import transform_points  # noqa: E402

WINDOWS = (1.4, 1.2, 1.0, 0.9, 0.8, 0.7)
#: The side of each re-framed picture (px): about a webcam frame's height.
FRAME = 480


def framed(data: LandmarkSet, window: float) -> LandmarkSet:
    """``data`` re-framed: each image a ``FRAME`` px square picture of a window ``window`` x its face's landmark box,
    centred on the box (borders replicated where the window passes the image)."""
    images, points = [], []
    for i in range(len(data)):
        lo, hi = data.points[i].min(0), data.points[i].max(0)
        (cx, cy), side = (lo + hi) / 2, float((hi - lo).max())
        matrix = crop_matrix(float(cx), float(cy), window * side, (FRAME, FRAME))
        images.append(cv2.warpAffine(data.image(i), matrix, (FRAME, FRAME), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE))
        points.append(transform_points(data.points[i], matrix))
    return data.remade(f"{data.name}_window{window:g}", images, points)


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, WINDOWS, framed, "window", "window / face's landmark box (tighter to the right)",
               RESULTS / "closeup.csv", reverse=True)


if __name__ == "__main__":
    main()
