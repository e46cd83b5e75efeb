"""Metric values on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from kpdemo import metrics
from kpdemo.schemas import KAGGLE15, NOSE1


def test_rmse_hand_case() -> None:
    true = np.zeros((1, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 0.0]]])
    # squared errors 9, 16, 0, 0 -> mean 6.25 -> 2.5
    assert metrics.rmse(pred, true) == pytest.approx(2.5)


def test_mask_excludes_missing_points() -> None:
    true = np.zeros((1, 2, 2))
    pred = np.array([[[3.0, 4.0], [100.0, 100.0]]])
    mask = np.array([[True, False]])
    assert metrics.rmse(pred, true, mask) == pytest.approx(np.sqrt(12.5))
    assert metrics.mean_point_error(pred, true, mask) == pytest.approx(5.0)


def _kaggle_face(eye_gap: float) -> np.ndarray:
    face = np.zeros((1, 15, 2))
    face[0, :, 0] = 48
    face[0, 3] = [48 + eye_gap / 2, 30]  # left outer corner
    face[0, 5] = [48 - eye_gap / 2, 30]  # right outer corner
    face[0, 0] = [48 + eye_gap / 3, 30]
    face[0, 1] = [48 - eye_gap / 3, 30]
    return face


def test_nme_by_outer_eye_corners() -> None:
    true = _kaggle_face(40.0)
    pred = true.copy()
    pred[..., 1] += 2.0  # every point 2 px off -> NME 2/40
    assert metrics.nme(pred, true, KAGGLE15) == pytest.approx(0.05)
    assert metrics.nme(pred, true, KAGGLE15, "eye_centres") == pytest.approx(2.0 / (2 * 40 / 3))


def test_nme_falls_back_to_box_without_eyes() -> None:
    true = np.array([[[10.0, 10.0]], [[20.0, 20.0]]])
    pred = true + [3.0, 4.0]
    norm = np.array([50.0, 100.0])
    np.testing.assert_allclose(metrics.nme_per_image(pred, true, NOSE1, norm=norm), [0.1, 0.05])


def test_failure_rate_and_regions() -> None:
    assert metrics.failure_rate(np.array([0.05, 0.11, 0.2, 0.01])) == 0.5
    true = _kaggle_face(40.0)
    pred = true.copy()
    pred[0, 10] += [4.0, 0.0]  # only the nose is off
    regions = metrics.region_nme(pred, true, KAGGLE15)
    assert regions["nose"] == pytest.approx(0.1) and regions["eyes"] == 0.0
