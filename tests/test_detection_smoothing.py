"""One-Euro filtering of landmark streams."""

from __future__ import annotations

import numpy as np

from kpdemo.smoothing import LandmarkSmoother, OneEuroFilter

FPS = 30.0


def run(filt: OneEuroFilter, signal: np.ndarray) -> np.ndarray:
    return np.array([filt(np.array([v]), i / FPS)[0] for i, v in enumerate(signal)])


def test_first_sample_passes_and_constant_stays_constant() -> None:
    out = run(OneEuroFilter(), np.full(20, 7.0))
    np.testing.assert_allclose(out, 7.0)


def test_jitter_of_a_still_point_is_reduced() -> None:
    noisy = 100 + np.random.default_rng(0).normal(0, 1.0, 300)
    out = run(OneEuroFilter(min_cutoff=1.0, beta=0.05), noisy)
    assert out[30:].std() < 0.4 * noisy[30:].std()


def test_beta_reduces_lag_on_fast_motion() -> None:
    ramp = np.arange(60) * 10.0  # 300 px/s
    slow = run(OneEuroFilter(min_cutoff=1.0, beta=0.0), ramp)
    fast = run(OneEuroFilter(min_cutoff=1.0, beta=0.05), ramp)
    lag_slow, lag_fast = ramp[-1] - slow[-1], ramp[-1] - fast[-1]
    assert lag_fast < 0.25 * lag_slow
    assert lag_fast < 10


def test_shape_change_or_time_going_back_restarts() -> None:
    filt = OneEuroFilter()
    filt(np.zeros((3, 2)), 0.0)
    filt(np.ones((3, 2)), 0.1)
    np.testing.assert_array_equal(filt(np.full((5, 2), 4.0), 0.2), 4.0)
    np.testing.assert_array_equal(filt(np.full((5, 2), 9.0), 0.1), 9.0)


def test_smoother_keeps_faces_apart() -> None:
    smoother = LandmarkSmoother()
    a = np.array([[0.0, 0.0], [40.0, 0.0], [0.0, 50.0], [40.0, 50.0]])
    b = a + 500
    smoother([a, b], 0.0)
    out = smoother([b + 1, a + 1], 1 / FPS)  # order swapped: matched by position, not index
    assert np.abs(out[0] - (b + 1)).max() < 1 and np.abs(out[1] - (a + 1)).max() < 1
    (single,) = smoother([a + 900], 2 / FPS)  # a new face far away: a fresh filter passes it through
    np.testing.assert_allclose(single, a + 900)
