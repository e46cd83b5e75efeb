"""Covered faces: each model's full path on the 300-W common test faces with ever more of the face hidden.

A hand on the chin, a phone or a cup in front of the mouth, hair over an eye, another person's shoulder: in the wild
something often stands between the camera and part of the face, and the points behind it must still be placed (the
annotation, and the aligned face, want all 68). Each test face gets one occluder: an ellipse of random aspect and
tilt whose area is ``cover`` x the face's 68-point box, centred at a random point of the box's middle (the
central 60% of each side, so the occluder sits on the face), its edge feathered over 2 px, filled with the pixels
of another test picture (skin, hair, clothes, background: the textures that cover faces). Shape, place and source
are drawn per face from a fixed seed and kept across steps (only the size grows), so every model sees the same
pictures. Points do not move; hidden ones are scored like the rest. Scored by :func:`bench.sweep.sweep`. Nothing is
chosen here. Writes ``bench/results/occlusion.csv`` and ``occlusion.png``.

    python bench/occlusion.py [--covers 0 0.1 0.2 0.3 0.4] [--models checkpoint:ibug68_pip mediapipe468 dlib]
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

COVERS = (0.0, 0.1, 0.2, 0.3, 0.4)
#: Where in the face's landmark box an occluder's centre may fall (fractions of each side): its central 60%.
CENTRE_RANGE = (0.2, 0.8)
#: How far the occluder's edge is feathered (px): a real object's edge is not a hard cut-out line.
FEATHER = 2.0


def occluder_mask(shape: tuple[int, int], box: np.ndarray, cover: float, rng: np.random.Generator) -> np.ndarray:
    """A float (H, W) mask in [0, 1]: an ellipse of area ``cover`` x the area of ``box`` ((2, 2): top-left,
    bottom-right), its aspect, tilt and centre drawn from ``rng`` (the same draws whatever ``cover``)."""
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    angle = rng.uniform(0.0, 180.0)
    where = rng.uniform(*CENTRE_RANGE, size=2)
    mask = np.zeros(shape, np.float32)
    if cover <= 0:
        return mask
    (x0, y0), (x1, y1) = box
    area = cover * (x1 - x0) * (y1 - y0)
    semi_minor = np.sqrt(area / (np.pi * aspect))
    centre = (float(x0 + where[0] * (x1 - x0)), float(y0 + where[1] * (y1 - y0)))
    cv2.ellipse(mask, (centre, (2 * aspect * semi_minor, 2 * semi_minor), angle), 1.0, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(mask, (0, 0), FEATHER)


def covered(data: LandmarkSet, cover: float) -> LandmarkSet:
    """``data`` with an occluder over ``cover`` x each face's landmark box (none at 0), filled from another picture
    of ``data`` (a random one, at a random offset, resized to the picture's size when they differ)."""
    images = [with_occluder(data, i, cover) if cover > 0 else data.image(i) for i in range(len(data))]
    return data.remade(f"{data.name}_cover{cover:g}", images, list(data.points))


def with_occluder(data: LandmarkSet, i: int, cover: float) -> np.ndarray:
    """Picture ``i`` of ``data`` with its occluder; shape, place and source are seeded by ``i`` alone, so every
    model and every rerun sees the same one."""
    rng = np.random.default_rng([i, 7])
    source = (i + 1 + rng.integers(len(data) - 1)) % len(data) if len(data) > 1 else i
    image = data.image(i)
    h, w = image.shape[:2]
    mask = occluder_mask((h, w), np.stack([data.points[i].min(0), data.points[i].max(0)]), cover, rng)
    filler = cv2.resize(data.image(source), (w, h), interpolation=cv2.INTER_AREA)
    filler = np.roll(filler, tuple(rng.integers(-h // 3, h // 3 + 1, size=2)), axis=(0, 1))
    blended = mask[..., None] * filler + (1 - mask[..., None]) * image
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    sweep.main(argv, __doc__, COVERS, covered, "cover", "occluded share of the face's landmark box",
               RESULTS / "occlusion.csv")


if __name__ == "__main__":
    main()
