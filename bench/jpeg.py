"""Compressed faces: each model's full path on the 300-W common test faces saved as ever poorer JPEGs.

A photo off a messaging app or a web page, a frame of a video call on a weak line: the encoder throws away fine
detail in 8 px blocks and leaves block edges and ringing, which a landmark model may take for the eyelid, lip or jaw
edges its points sit on. Each test image (a 256 px crop whose face's 68-point box is about 183 px, stored at JPEG
quality 90) is encoded again at ``quality`` (OpenCV's libjpeg, 4:2:0 chroma) and decoded; its points do not move.
Scored by :func:`bench.sweep.sweep`. Nothing is chosen here. Writes ``bench/results/jpeg.csv`` and ``jpeg.png``.

    python bench/jpeg.py [--qualities 90 30 15 10 5] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import RESULTS  # noqa: E402
from kpdemo.datasets import LandmarkSet  # noqa: E402
from kpdemo.datasets.pack import decode, encode  # noqa: E402

#: 90 is the stored images' own quality (re-encoding at it changes little); 5 is a thumbnail's worst.
QUALITIES = (90, 30, 15, 10, 5)


def compressed(data: LandmarkSet, quality: float) -> LandmarkSet:
    """``data`` with every picture saved as a JPEG of ``quality`` (1-100) and read back (the training pack's codec)."""
    images = [decode(*encode(data.image(i)[None], int(quality)))[0] for i in range(len(data))]
    return data.remade(f"{data.name}_jpeg{quality:g}", images, list(data.points))


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, QUALITIES, compressed, "quality", "JPEG quality (the stored images are 90)",
               RESULTS / "jpeg.csv", reverse=True, plural="qualities")


if __name__ == "__main__":
    main()
