"""The browser bench's arithmetic (``bench/webcam_browser.py``): shown fps and lag pooled over the models' turns."""

from __future__ import annotations

import pytest

from bench.webcam_browser import CLIP_FRAMES, summarise


def test_rounds_pool_into_one_rate_and_keep_the_slowest_and_fastest() -> None:
    # round 1: 11 frames over 1 s (10 fps), each shown 3 frames after capture; round 2: 6 frames over 1 s (5 fps),
    # one of them captured just before the clip wrapped around (index 119, preview at 2: 3 frames late, not -117)
    fast = [[1000.0 + 100 * i, i, i + 3] for i in range(11)]
    slow = [[5000.0 + 200 * i, (CLIP_FRAMES - 1 + i) % CLIP_FRAMES, (CLIP_FRAMES + 2 + i) % CLIP_FRAMES]
            for i in range(6)]
    row = summarise([fast, slow], seconds=1.0)
    assert row["shown_fps"] == pytest.approx(15 / 2)  # 10 + 5 intervals over 2 s
    assert (row["shown_fps_min"], row["shown_fps_max"]) == pytest.approx((5.0, 10.0))
    assert row["frames_shown"] == 17 and row["rounds"] == 2
    assert row["lag_median_ms"] == pytest.approx(100.0) and row["lag_p95_ms"] == pytest.approx(100.0)


def test_a_round_that_showed_nothing_counts_as_zero_fps() -> None:
    row = summarise([[], [[0.0, 1, 2], [500.0, 2, 3]]], seconds=1.0)
    assert row["shown_fps_min"] == 0.0 and row["shown_fps"] == pytest.approx(2.0)
