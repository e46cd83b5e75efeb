"""Faces at any roll: each model's full path on the 300-W common test faces turned by 0-180 degrees.

A person lying down, a phone photo turned sideways without EXIF, a head tilted into the camera: in-the-wild faces
are not always upright. Each test image is turned about its centre by +angle (even images) or -angle (odd ones) on a
canvas as wide as its diagonal (borders replicated, :func:`bench.photo_path.tilted`), its true points turned alike,
and scored by :func:`bench.sweep.sweep`. Nothing is chosen here: the orientation step's margin was chosen on
validation faces (see :class:`kpdemo.detection.wrappers.OrientedDetector`). Writes ``bench/results/rotation.csv`` and
``rotation.png``.

    python bench/rotation.py [--angles 0 30 60 90 120 150 180] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import RESULTS  # noqa: E402
from bench.photo_path import tilted  # noqa: E402

ANGLES = (0, 30, 60, 90, 120, 150, 180)


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, ANGLES, lambda faces, angle: tilted(faces, angle, whole=True), "angle",
               "roll of the face (degrees)", RESULTS / "rotation.csv")


if __name__ == "__main__":
    main()
