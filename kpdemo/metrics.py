"""Landmark error metrics, all on pixel coordinates of shape (N, K, 2), optionally with a (N, K) visibility mask.

Definitions (per image, then averaged over images unless noted):

* **RMSE (px)**: ``sqrt(mean over visible coordinates of (pred - true)^2)``: the Kaggle leaderboard metric,
  computed over all visible x and y values of all images pooled together.
* **Mean point error (px)**: mean over visible points of the Euclidean distance ``||pred_k - true_k||``.
* **NME**: an image's mean point error divided by a normaliser ``d``:

  - ``"outer_eyes"``: distance between the outer eye corners (300-W "inter-ocular", as HRNet and SPIGA report);
  - ``"eye_centres"``: distance between the eye centres ("inter-pupil");
  - ``"box"``: ``sqrt(w * h)`` of the ground-truth points' bounding box, for schemas without eyes.

* **Failure rate**: the fraction of images whose NME exceeds a threshold (0.10 by default).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from kpdemo.schemas import KeypointSchema

Normaliser = Literal["outer_eyes", "eye_centres", "box"]


def _mask(true: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return np.ones(true.shape[:-1], bool) if mask is None else np.asarray(mask, bool)


def rmse(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root mean squared coordinate error in pixels over all visible coordinates."""
    m = _mask(true, mask)
    sq = (np.asarray(pred, np.float64) - true) ** 2
    return float(np.sqrt(sq[m].mean()))


def point_errors(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-image mean Euclidean point error in pixels, shape (N,)."""
    m = _mask(true, mask)
    dist = np.linalg.norm(np.asarray(pred, np.float64) - true, axis=-1)
    return (dist * m).sum(-1) / np.maximum(m.sum(-1), 1)


def mean_point_error(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    return float(point_errors(pred, true, mask).mean())


def normaliser(true: np.ndarray, schema: KeypointSchema, kind: Normaliser = "outer_eyes") -> np.ndarray:
    """Per-image normalising distance (N,) for :func:`nme_per_image`."""
    true = np.asarray(true, np.float64)
    if kind == "outer_eyes" and schema.outer_eye_corners is not None:
        a, b = schema.outer_eye_corners
        return np.linalg.norm(true[:, a] - true[:, b], axis=-1)
    if kind in ("outer_eyes", "eye_centres") and schema.has_eyes:
        right, left = schema.eye_centres(true)
        return np.linalg.norm(right - left, axis=-1)
    if kind == "box" or not schema.has_eyes:
        extent = true.max(1) - true.min(1)
        return np.sqrt(np.maximum(extent[:, 0], 1.0) * np.maximum(extent[:, 1], 1.0))
    raise ValueError(f"unknown normaliser {kind!r}")


def nme_per_image(
    pred: np.ndarray,
    true: np.ndarray,
    schema: KeypointSchema,
    kind: Normaliser = "outer_eyes",
    mask: np.ndarray | None = None,
    norm: np.ndarray | None = None,
) -> np.ndarray:
    """Per-image NME (N,). ``norm`` overrides the normaliser (e.g. a box size when ``true`` has one point)."""
    d = normaliser(true, schema, kind) if norm is None else np.asarray(norm, np.float64)
    return point_errors(pred, true, mask) / d


def nme(pred: np.ndarray, true: np.ndarray, schema: KeypointSchema, kind: Normaliser = "outer_eyes",
        mask: np.ndarray | None = None) -> float:
    return float(nme_per_image(pred, true, schema, kind, mask).mean())


def failure_rate(per_image_nme: np.ndarray, threshold: float = 0.10) -> float:
    return float((np.asarray(per_image_nme) > threshold).mean())


def region_nme(pred: np.ndarray, true: np.ndarray, schema: KeypointSchema,
               kind: Normaliser = "outer_eyes") -> dict[str, float]:
    """NME restricted to each named region of the schema (e.g. jaw, brows, nose, eyes, mouth)."""
    d = normaliser(true, schema, kind)
    return {
        name: float((point_errors(pred[:, list(idx)], true[:, list(idx)]) / d).mean())
        for name, idx in schema.regions.items()
    }
