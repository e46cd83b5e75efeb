"""Seed 004's synthetic check: random filled triangles and their mirror images, rendered on the fly.

An encoder/decoder that can learn ``u -> mirror(u)`` from pairs can learn a geometric transform at all; the
seed used this before moving to faces. Images are uint8 (N, side, side), white triangle on black.
"""

from __future__ import annotations

import cv2
import numpy as np

SIDE = 128


def random_triangles(n: int, rng: np.random.Generator, side: int = SIDE, margin: int = 8) -> np.ndarray:
    """``n`` images, each one filled triangle with vertices uniform in the image minus ``margin``."""
    images = np.zeros((n, side, side), np.uint8)
    vertices = rng.uniform(margin, side - margin, size=(n, 3, 2))
    for image, tri in zip(images, vertices, strict=True):
        cv2.fillPoly(image, [np.round(tri * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return images


def mirror(images: np.ndarray) -> np.ndarray:
    """The transform to learn: a left-right mirror about the image's vertical centre line."""
    return np.ascontiguousarray(images[..., ::-1])


def triangle_pairs(n: int, seed: int, side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(triangles, mirrored triangles), reproducible from ``seed``."""
    shapes = random_triangles(n, np.random.default_rng(seed), side)
    return shapes, mirror(shapes)
