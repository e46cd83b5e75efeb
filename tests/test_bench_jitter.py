"""The jitter bench's two measures read known synthetic tracks correctly (the bench itself runs the real path)."""

from __future__ import annotations

import numpy as np

from bench.jitter import SETTLE_FRAMES, added_lag_frames, jitter_px


def sweep(n: int, delay_frames: float = 0.0) -> np.ndarray:
    """(n, 3, 2) points of a face sweeping side to side, ``delay_frames`` behind the undelayed sweep."""
    t = np.arange(n) - delay_frames
    x = 100 * np.sin(2 * np.pi * t / 60)[:, None] + np.array([0.0, 10.0, 20.0])
    return np.stack([x, np.zeros_like(x)], axis=-1)


def test_added_lag_recovers_a_known_delay() -> None:
    raw = sweep(180)
    assert abs(added_lag_frames(raw, sweep(180, 1.5)) - 1.5) < 1e-9
    assert added_lag_frames(raw, raw) == 0.0


def test_jitter_is_the_rms_distance_from_the_mean_position() -> None:
    rng = np.random.default_rng(0)
    still = np.tile(np.array([[50.0, 60.0], [70.0, 80.0]]), (2000, 1, 1))
    noisy = still + rng.normal(0, 0.5, still.shape)  # 0.5 px per axis -> 0.5 * sqrt(2) px RMS distance
    assert abs(jitter_px(noisy) - 0.5 * np.sqrt(2)) < 0.02
    noisy[:SETTLE_FRAMES] += 100  # the filter's settling frames do not count
    assert abs(jitter_px(noisy) - 0.5 * np.sqrt(2)) < 0.02
    assert jitter_px(still) == 0.0


def test_each_live_path_rebuilds_the_checkpoint_on_its_own_network(monkeypatch) -> None:
    """The bench measures both live paths on any CPU: each setting must reach a freshly built predictor."""
    from bench.jitter import LIVE_PATHS, live_path
    from kpdemo.detection import get_predictor
    from kpdemo.detection.registry import forget_instances

    for setting in {name for settings in LIVE_PATHS.values() for name in settings}:
        monkeypatch.setenv(setting, "auto")  # restored after the test
    try:
        live_path("companion")
        on_companion = get_predictor("checkpoint:ibug68_pip")
        live_path("int8")
        on_int8 = get_predictor("checkpoint:ibug68_pip")
        assert on_companion.live_network == "ibug68_pip_live" and "ibug68_pip_live" in on_companion.video_backend
        assert on_int8 is not on_companion and on_int8.live_network is None
    finally:
        forget_instances()  # later tests build the predictor under their own settings
