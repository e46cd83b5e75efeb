"""Box maths the composed detectors share: how much two boxes overlap, duplicate suppression, tile offsets, masking
found faces, and the crop around a box that a second detector checks.

Why its own module: pure functions of boxes and images, testable without a model, kept apart from the detectors
(:mod:`kpdemo.detection.wrappers`) that decide when to use them.
"""

from __future__ import annotations

import cv2
import numpy as np

from kpdemo.detection.crops import crop_matrix
from kpdemo.detection.detector import Detection

#: How far around a face already found tile levels grey out (x its width per side); see :func:`masked`.
MASK_MARGIN = 0.25


def overlap(box: np.ndarray, other: np.ndarray) -> float:
    """Intersection over the *smaller* box's area: 1 when one box lies inside the other.

    Plain IoU would keep a half-face box from a tile next to the whole face's box (IoU ~0.5); this measure drops it.
    """
    x0, y0 = np.maximum(box[:2], other[:2])
    x1, y1 = np.minimum(box[2:], other[2:])
    inter = max(0.0, float(x1 - x0)) * max(0.0, float(y1 - y0))
    smaller = min(float(np.prod(box[2:] - box[:2])), float(np.prod(other[2:] - other[:2])))
    return inter / smaller if smaller > 0 else 0.0


def suppress_duplicates(detections: list[Detection], threshold: float = 0.5) -> list[Detection]:
    """Non-maximum suppression by *priority*: keep each detection unless it overlaps one kept before it.

    The caller orders detections by trust (short-range whole image first, then full-range from coarse to fine), so
    a face keeps the box whose calibration fits best, and a partial face cut by a tile edge never wins.
    """
    kept: list[Detection] = []
    for det in detections:
        if all(overlap(det.box, k.box) < threshold for k in kept):
            kept.append(det)
    return kept


def tile_starts(length: int, tile: int) -> list[int]:
    """Offsets of tiles ``tile`` px long covering ``length`` px with at least a quarter tile of overlap.

    The overlap bounds the faces a tile level must find whole: a face up to tile/4 wide lies inside some tile, and
    larger ones are found at the next, twice as large level.
    """
    if length <= tile:
        return [0]
    count = -(-(length - tile) // (tile * 3 // 4)) + 1  # ceil division: stride at most 3/4 of a tile
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def masked(image: np.ndarray, detections: list[Detection], margin: float = MASK_MARGIN) -> np.ndarray:
    """A copy of ``image`` with each detected face (box grown by ``margin`` x its width per side) filled grey.

    BlazeFace drops a small face outright when a face three or more times larger shares its view (seen at any
    threshold), so a tile level must not see the faces a coarser level already found.
    """
    out = image.copy()
    h, w = image.shape[:2]
    for det in detections:
        grow = margin * float(det.box[2] - det.box[0])
        x0, y0 = (max(0, int(v - grow)) for v in det.box[:2])
        x1, y1 = (int(np.ceil(v + grow)) for v in det.box[2:])
        out[y0 : min(y1, h), x0 : min(x1, w)] = 128
    return out


def around(image: np.ndarray, box: np.ndarray, size: int, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` px square crop of twice ``box``'s mean side, centred on it and turned by ``angle`` degrees, and the
    crop's affine. The face fills half of it, so a detector looking at the crop sees it whole and large."""
    x0, y0, x1, y1 = (float(v) for v in box)
    matrix = crop_matrix((x0 + x1) / 2, (y0 + y1) / 2, 2 * np.sqrt((x1 - x0) * (y1 - y0)), (size, size), angle)
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return crop, matrix


def centre_in_middle(box: np.ndarray, side: int) -> bool:
    """Whether a box's centre lies in the middle half of a ``side`` x ``side`` crop."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(side / 4 <= cx <= 3 * side / 4 and side / 4 <= cy <= 3 * side / 4)
