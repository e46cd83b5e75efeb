"""Faces in side light: each model's full path on the 300-W common test faces with one side of the face in shadow.

A window beside the desk, a lamp to one side, the sun low in the street: one half of the face lit, the other in a
shadow the camera's exposure does not lift. Each test image is taken as the scene (its sRGB values decoded to linear
light), and the light falling on it drops by ``contrast`` x across a soft edge through the middle of the face (a
line through the centre of its 68-point box, turned by up to 30 deg from the vertical, the shadow on either side,
its width a fifth of the box; drawn per picture from a fixed seed, the same for every model), then encoded back to
8-bit sRGB. Contrast 1/16 leaves the dark side's skin at a few grey levels; nothing is added to make up for it. Scored
by :func:`bench.sweep.sweep`. Nothing is chosen here. Writes ``bench/results/side_light.csv`` and
``side_light.png``.

    python bench/side_light.py [--contrasts 1 0.25 0.0625 0.015625] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import RESULTS  # noqa: E402
from bench.low_light import GAMMA  # noqa: E402
from kpdemo.datasets import LandmarkSet  # noqa: E402

CONTRASTS = (1.0, 0.25, 0.0625, 0.015625)
#: The shadow's edge turns by up to this much from the vertical (a light from the side, a little above or below).
MAX_TILT_DEG = 30.0
#: The edge's width (the distance over which the light falls from 1/4 to 3/4 of the way) as a share of the box.
EDGE_SHARE = 0.2


def shadow_gain(shape: tuple[int, int], points: np.ndarray, contrast: float, rng: np.random.Generator) -> np.ndarray:
    """The share of the light reaching each pixel (H x W): 1 on the lit side, ``contrast`` on the dark one."""
    low, high = points.min(0), points.max(0)
    centre, size = (low + high) / 2, float((high - low).max())
    angle = np.deg2rad(rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG)) + (np.pi if rng.random() < 0.5 else 0.0)
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    across = (xs - centre[0]) * np.cos(angle) + (ys - centre[1]) * np.sin(angle)  # signed distance from the edge
    dark = 1 / (1 + np.exp(-across * np.log(3) * 2 / (EDGE_SHARE * size)))  # logistic: 1/4 to 3/4 over the edge
    return contrast ** dark


def side_lit_picture(image: np.ndarray, points: np.ndarray, contrast: float, rng: np.random.Generator) -> np.ndarray:
    """An 8-bit RGB ``image`` with the light on one side of its face cut to ``contrast`` x, in linear light."""
    linear = (image.astype(np.float64) / 255) ** GAMMA
    lit = linear * shadow_gain(image.shape[:2], points, contrast, rng)[..., None]
    return (np.clip(lit, 0.0, 1.0) ** (1 / GAMMA) * 255 + 0.5).astype(np.uint8)


def side_lit(data: LandmarkSet, contrast: float) -> LandmarkSet:
    """``data`` with one side of each face in shadow (1: unchanged); each picture's side and edge from its own seed,
    the same at every contrast."""
    if contrast == 1:
        return data
    images = [side_lit_picture(data.image(i), data.points[i], contrast, np.random.default_rng(i))
              for i in range(len(data))]
    return data.remade(f"{data.name}_side{contrast:g}", images, list(data.points))


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, CONTRASTS, side_lit, "contrast", "light on the shadowed side (x the lit side)",
               RESULTS / "side_light.csv", reverse=True, log_x=True)


if __name__ == "__main__":
    main()
