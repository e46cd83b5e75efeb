"""Square (or fixed-aspect) face windows: the affine that cuts them and the way back to full-image pixels.

Shared by the checkpoint predictor (crops as in training) and the mesh predictor (re-running the mesh on a face too
small for MediaPipe's own short-range detector).
"""

from __future__ import annotations

import cv2
import numpy as np

from kpdemo.datasets.kaggle15 import transform_points


def crop_matrix(cx: float, cy: float, side: float, out_hw: tuple[int, int]) -> np.ndarray:
    """2x3 pixel-index affine cutting a window ``side`` tall (width by the output's aspect) centred on (cx, cy).

    For a square output this is exactly :func:`kpdemo.datasets.kaggle15.square_crop_matrix` of a box of that side.
    """
    out_h, out_w = out_hw
    s = out_h / side
    x0, y0 = cx - side * out_w / out_h / 2, cy - side / 2
    return np.array([[s, 0, 0.5 * s - s * x0 - 0.5], [0, s, 0.5 * s - s * y0 - 0.5]], np.float64)


def crop_to_image(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Crop-pixel points back to full-image pixels through the inverse of the crop's affine."""
    return transform_points(points, cv2.invertAffineTransform(matrix))
