"""Square (or fixed-aspect) face windows: the affine that cuts them and the way back to full-image pixels.

Shared by the checkpoint predictor (crops as in training) and the mesh predictor (re-running the mesh on a face too
small for MediaPipe's own short-range detector).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from kpdemo.geometry import own_box_features, points_centre_side, transform_points

if TYPE_CHECKING:  # a type only: importing kpdemo.checkpoints would import torch
    from kpdemo.checkpoints import OwnBox


def window_turn(angle: float) -> np.ndarray:
    """2x2 rotation from image axes to those of a window turned by ``angle`` degrees (a rotation by -angle)."""
    t = np.deg2rad(angle)
    return np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])


def crop_matrix(cx: float, cy: float, side: float, out_hw: tuple[int, int], angle: float = 0.0) -> np.ndarray:
    """2x3 pixel-index affine cutting a window ``side`` tall (width by the output's aspect) centred on (cx, cy).

    ``angle`` (degrees, image axes: y down) turns the window with the image: a face whose eye line runs at ``angle``
    comes out level in the crop. For a square output and no turn this is exactly
    :func:`kpdemo.geometry.square_crop_matrix` of a box of that side.
    """
    out_h, out_w = out_hw
    s = out_h / side
    linear = s * window_turn(angle)
    # continuous pixels (index + 0.5): crop = linear @ (image - centre) + output centre, written for indices
    shift = linear @ (0.5 - np.array([cx, cy])) + np.array([out_w, out_h]) / 2 - 0.5
    return np.column_stack([linear, shift]).astype(np.float64)


def own_landmark_box(points: np.ndarray, own_box: OwnBox, angle: float = 0.0) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the box that a model's training crops were cut around, for a face at its
    (predicted) ``points``, taken in a frame turned by ``angle`` degrees: the points' own upright box where
    ``own_box`` is empty (``()``), else that box moved and scaled as ``own_box``
    (:attr:`kpdemo.checkpoints.CheckpointMeta.own_box`) estimates from where the points lie in it."""
    to_window = window_turn(angle)
    upright = np.asarray(points, np.float64) @ to_window.T
    centre, side = points_centre_side(upright)
    if own_box:
        shift_x, shift_y, log_factor = np.asarray(own_box) @ own_box_features(upright)
        centre = centre + np.array([shift_x, shift_y]) * side
        side = side * np.exp(log_factor)
    cx, cy = to_window.T @ centre
    return float(cx), float(cy), float(side)


def upright_angle(right_eye: np.ndarray, left_eye: np.ndarray) -> float:
    """The eye line's angle (degrees, image axes) from the subject's right eye (image left on a frontal face) to the
    left: the ``angle`` of :func:`crop_matrix` that levels the eyes."""
    dx, dy = np.asarray(left_eye, np.float64) - np.asarray(right_eye, np.float64)
    return float(np.degrees(np.arctan2(dy, dx)))


def wrapped(angle: float) -> float:
    """``angle`` (degrees) brought into [-180, 180): the same turn, comparable by its size."""
    return (angle + 180.0) % 360.0 - 180.0


def crop_to_image(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Crop-pixel points back to full-image pixels through the inverse of the crop's affine."""
    return transform_points(points, cv2.invertAffineTransform(matrix))
