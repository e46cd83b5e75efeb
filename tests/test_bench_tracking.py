"""The tracking bench's clips carry their truth with the face, and its policies differ only in how often they
detect in full (the bench itself plays the real webcam path on the 300-W faces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.tracking import FACE_SIDE, POLICIES, SIZE_HW, clip, main, peak_px_per_frame, score
from kpdemo.datasets import load_dataset
from kpdemo.detection import get_predictor


@pytest.fixture()
def faces(fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KPDEMO_DATA", str(fixtures_dir / "data_root"))
    return load_dataset("ibug300w")


def test_a_clip_moves_the_true_points_with_the_face(faces) -> None:
    image, truth = faces.image(0), faces.points[0]
    frames, truths = clip(image, truth, 8, 30, 0.7)
    assert len(frames) == 8 and truths.shape == (8, *truth.shape)
    assert all(frame.shape == (*SIZE_HW, 3) for frame in frames)
    sides = np.array([np.linalg.norm(t[0] - t[16]) for t in truths]) / np.linalg.norm(truth[0] - truth[16])
    base = FACE_SIDE / np.ptp(truth, 0).max()  # the zoom that gives the face its box side mid-clip
    assert np.all((sides > 0.8 * base) & (sides < 1.2 * base))
    steps = np.linalg.norm(np.diff(truths.mean(1), axis=0), axis=-1)
    assert 0 < steps.max() <= 1.2 * peak_px_per_frame(30)  # the centre moves, no faster than the swing allows
    # the pixels under the moved points are the face's: the same colours as under the original points
    inner = truth[17:]  # brows, eyes, nose, mouth: away from the background the jaw line borders
    original = image[inner[:, 1].astype(int), inner[:, 0].astype(int)].astype(float)
    moved = frames[3][truths[3, 17:, 1].astype(int), truths[3, 17:, 0].astype(int)].astype(float)
    assert np.abs(moved - original).mean() < 25


@pytest.mark.needs_data
def test_the_app_policy_follows_the_face_and_detects_in_full_only_at_the_start() -> None:
    predictor = get_predictor("checkpoint:ibug68_pip")
    data = load_dataset("ibug300w").split("val").select(np.arange(2))  # the fixtures' 64 px faces are too small
    rows = {policy: score(predictor, policy, data, frames=6, cycle=30) for policy in POLICIES}
    assert {row["frames"] for row in rows.values()} == {12}
    assert rows["recheck"]["full_detections_per_100_frames"] == pytest.approx(100 * 2 / 12)  # each clip's first
    assert rows["detect"]["full_detections_per_100_frames"] == 100
    for row in rows.values():
        assert row["found_rate"] == 1 and row["nme_mean"] < 0.08


@pytest.mark.needs_data
def test_the_policies_are_compared_on_the_named_checkpoints_alone(tmp_path: Path) -> None:
    out = tmp_path / "tracking.csv"
    main(["--split", "val", "--limit", "1", "--frames", "3", "--speeds", "30", "--torch", "--out", str(out),
          "--models", "checkpoint:ibug68_pip", "checkpoint:kaggle15_pip", "--all-policies", "checkpoint:ibug68_pip"])
    table = pd.read_csv(out)
    by_model = table.groupby("model")["policy"].apply(set)
    assert by_model["ibug68_pip"] == set(POLICIES)
    assert by_model["kaggle15_pip"] == {"recheck"}  # the app's policy alone
    assert out.with_suffix(".png").exists()
    before = table
    main(["--split", "val", "--limit", "1", "--frames", "3", "--speeds", "30", "--torch", "--out", str(out),
          "--models", "checkpoint:kaggle15_pip", "--update"])  # after retraining one model: its rows alone rerun
    after = pd.read_csv(out)
    assert list(after["model"]) == list(before["model"]) and list(after["policy"]) == list(before["policy"])
    kept = before["model"] == "ibug68_pip"
    assert after[kept].equals(before[kept])
    with pytest.raises(SystemExit):  # nothing named to rerun
        main(["--split", "val", "--out", str(out), "--update"])
