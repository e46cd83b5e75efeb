"""Run records: written as a run goes, read back into tidy tables, stale runs flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import torch

from kpdemo.checkpoints import CheckpointError, CheckpointMeta, load_checkpoint, save_checkpoint
from kpdemo.runs import HISTORY, HISTORY_FLOAT_FORMAT, RunWriter, effective_status, load_runs, read_record


def test_record_round_trip_and_tidy_tables(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, "init", "convnet_zeros", {"model": "convnet", "init": "zeros"}, {"device": "cpu"})
    for epoch in (1, 2):
        writer.log_epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 2.0 / epoch})
    writer.finish(best={"epoch": 2, "val_loss": 1.0}, test={"rmse_px": 1.9})
    runs, history = load_runs([tmp_path])
    row = runs.iloc[0]
    assert (row["experiment"], row["run"], row["status"], row["init"]) == ("init", "convnet_zeros", "done", "zeros")
    assert row["best_val_loss"] == 1.0 and row["test_rmse_px"] == 1.9
    assert list(history["epoch"]) == [1, 2] and set(history["run"]) == {"convnet_zeros"}


def test_dead_running_run_is_reported_stalled() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    record = {"status": "running", "started": started.isoformat(), "updated": started.isoformat()}
    assert effective_status(record, now=started + timedelta(minutes=5)) == "running"
    assert effective_status(record, now=started + timedelta(hours=2)) == "stalled"
    assert effective_status({**record, "status": "done"}, now=started + timedelta(hours=2)) == "done"


def test_checkpoint_schema_guard(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    meta = CheckpointMeta(model="convnet", schema="kaggle15", input_size=(96, 96), in_channels=1)
    save_checkpoint(path, {"w": torch.ones(2)}, meta)
    state, loaded = load_checkpoint(path, expect_schema="kaggle15")
    assert loaded.input_size == (96, 96) and torch.equal(state["w"], torch.ones(2))
    assert torch.load(path, weights_only=True)["format"] == "kpdemo-checkpoint/1"
    try:
        load_checkpoint(path, expect_schema="ibug68")
    except CheckpointError as exc:
        assert "'kaggle15'" in str(exc) and "'ibug68'" in str(exc)
    else:
        raise AssertionError("a schema mismatch must raise")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    try:
        load_checkpoint(tmp_path / "junk.pt")
    except CheckpointError as exc:
        assert "junk.pt" in str(exc)
    else:
        raise AssertionError("a junk file must raise")


def test_history_appended_is_the_history_written_whole(tmp_path: Path) -> None:
    """Epochs are appended to ``history.csv`` while their columns stay the file's; the file is the one a whole
    rewrite gives, with a column that appears later (filled in for the earlier rows) and after a resume."""
    writer = RunWriter(tmp_path, "exp", "run", {}, {})
    rows = [{"epoch": e, "train_loss": 1 / (e + 2), "val_loss": 0.5 / e, "lr": 1e-3 * 0.9 ** e} for e in range(1, 5)]
    rows += [dict(rows[-1], epoch=e, val_nme=0.1 / e) for e in range(5, 8)]  # a new column from epoch 5
    for row in rows[:6]:
        writer.log_epoch(row)
    resumed = RunWriter(tmp_path, "exp", "run", {}, {}, resume=True)
    resumed.log_epoch(rows[6])
    whole = pd.DataFrame(rows).to_csv(index=False, float_format=HISTORY_FLOAT_FORMAT)
    assert (tmp_path / "exp" / "run" / HISTORY).read_text() == whole


def test_a_resumed_run_that_ends_well_keeps_no_error(tmp_path: Path) -> None:
    """A run that failed and is resumed: while it trains and once done its record holds no ``error`` (the earlier
    try's), so nothing reads it as failed."""
    RunWriter(tmp_path, "exp", "run", {}, {}).finish("failed", error="RuntimeError: out of memory")
    resumed = RunWriter(tmp_path, "exp", "run", {}, {}, resume=True)
    assert "error" not in read_record(resumed.dir) and read_record(resumed.dir)["status"] == "running"
    resumed.finish("done")
    assert "error" not in read_record(resumed.dir) and read_record(resumed.dir)["resumed"] == 1
