"""Face-crop geometry every part of kpdemo shares: the square around a face's points, the affine that cuts it, and
where points lie in their own box.

Coordinates use the continuous pixel convention of the datasets (a pixel's centre is at +0.5); the 2x3 matrices are in
OpenCV's pixel-index convention, so ``cv2.warpAffine`` and :func:`transform_points` agree to the sub-pixel. Here, not
in a dataset reader: alignment, detection, training crops and uploads all cut faces this way.
"""

from __future__ import annotations

import numpy as np


def square_crop_matrix(points: np.ndarray, scale: float, out_size: int) -> np.ndarray:
    """2x3 affine (pixel-index convention, as cv2 wants) mapping a square around ``points`` to ``out_size``.

    The square is centred on the points' bounding box with side ``scale`` x its longer side. Points map with
    the continuous convention ``x_out = (x - x0) * out_size / side``; the half-pixel shifts below make the image
    warp agree with it.
    """
    lo, hi = points.min(0), points.max(0)
    side = float((hi - lo).max() * scale)
    x0, y0 = (lo + hi) / 2 - side / 2
    s = out_size / side
    return np.array([[s, 0, 0.5 * s - s * x0 - 0.5], [0, s, 0.5 * s - s * y0 - 0.5]], np.float64)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 pixel-index affine to continuous-convention points (the inverse of the half-pixel shift)."""
    idx = points - 0.5
    return (idx @ matrix[:, :2].T + matrix[:, 2] + 0.5).astype(np.float32)


def points_centre_side(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., K, 2) points -> the centre (..., 2) and longer side (...) of their own box."""
    lo, hi = points.min(-2), points.max(-2)
    return (lo + hi) / 2, (hi - lo).max(-1)


def own_box_features(points: np.ndarray) -> np.ndarray:
    """(..., K, 2) points -> (..., 2K + 1): where each point lies in the points' own box (its centre at 0, its longer
    side 1), and a 1: what an own box (:func:`kpdemo.datasets.kaggle15.own_box`) is linear in. Take the points
    upright (in the frame a crop is cut in), so that the estimate does not turn with the face."""
    centre, side = points_centre_side(points)
    placed = (points - centre[..., None, :]) / side[..., None, None]
    flat = placed.reshape(*points.shape[:-2], -1)
    return np.concatenate([flat, np.ones((*flat.shape[:-1], 1))], -1)
