"""The server's one background training (trainers.engine.job), driven by a stand-in trainer: no data, no model.

The stand-in keeps run_config's contract (records ``env.train_images`` before the first batch, polls ``should_stop``
after every batch, logs a row per epoch, and writes a record with the checkpoint and test scores at the end), so
these check the job itself: one run at a time, progress within an epoch, stopping, the wall-time cap and failures.
The Train tab's tests train for real through it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from kpdemo.config import DataNotFoundError
from trainers.engine.config import TrainConfig
from trainers.engine.job import Snapshot, TrainingBusyError, TrainingJob
from trainers.errors import UsageError

CONFIG = replace(TrainConfig(), experiment="jobtest", epochs=3, batch_size=10, train_subset=40)


class StandIn:
    """A trainer whose batches (``train_subset / batch_size`` an epoch) go only as fast as the test releases
    ``step``, one a batch, so the test sees the job between any two of them."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.step, self.fail = threading.Semaphore(0), fail

    def __call__(self, config: TrainConfig, root: Path, *, on_epoch: Callable[[dict[str, float]], None],
                 should_stop: Callable[[], bool], show_progress: bool) -> Path:
        if self.fail:
            raise self.fail
        run_dir = root / config.experiment / config.run_name()
        run_dir.mkdir(parents=True)
        record = {"env": {"train_images": config.train_subset}, "status": "running"}
        (run_dir / "record.json").write_text(json.dumps(record))
        stopped = False
        batches = config.train_subset // config.batch_size
        for epoch in range(1, config.epochs + 1):
            for batch in range(batches):
                assert self.step.acquire(timeout=30)
                last = epoch == config.epochs and batch == batches - 1
                stopped = should_stop() and not last  # a stop with the last batch leaves nothing undone: "done"
                if stopped:
                    break
            on_epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 2.0 / epoch})
            if stopped:
                break
        record |= {"status": "stopped" if stopped else "done", "checkpoint": "best.pt", "test": {"nme": 0.05}}
        (run_dir / "record.json").write_text(json.dumps(record))
        return run_dir


def wait_for(job: TrainingJob, done: Callable[[Snapshot], bool]) -> Snapshot:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        snap = job.snapshot()
        if done(snap):
            return snap
        time.sleep(0.01)
    raise AssertionError(f"the job did not get there: {job.snapshot()}")


def test_one_run_at_a_time_with_progress_within_epochs(tmp_path: Path) -> None:
    trainer = StandIn()
    job = TrainingJob(runs_root=lambda: tmp_path, trainer=trainer)
    assert job.snapshot().state == "idle" and not job.stop()
    job.start(CONFIG)
    with pytest.raises(TrainingBusyError, match="already running on this server"):
        job.start(CONFIG)
    trainer.step.release(2)  # half of epoch 1
    snap = wait_for(job, lambda s: s.fraction == pytest.approx(0.5 / 3))  # the 3rd batch waits for its step
    assert snap.state == "running" and not snap.rows
    assert snap.run_dir == job.run_dir(CONFIG) == tmp_path / "jobtest" / CONFIG.run_name()
    trainer.step.release(10)  # the rest of the run's 12 batches
    snap = wait_for(job, lambda s: s.state != "running")
    assert snap.state == "done" and snap.fraction == 1.0 and len(snap.rows) == 3
    assert snap.message.startswith("**Training done.** Checkpoint:") and "nme 0.05" in snap.message
    snap.rows.clear()  # a snapshot is a copy
    assert len(job.snapshot().rows) == 3


def test_stop_ends_the_run_after_its_current_batch(tmp_path: Path) -> None:
    trainer = StandIn()
    job = TrainingJob(runs_root=lambda: tmp_path, trainer=trainer)
    job.start(CONFIG)
    trainer.step.release(5)  # epoch 1 and a batch of epoch 2
    wait_for(job, lambda s: s.rows)
    assert job.stop()
    trainer.step.release(100)
    snap = wait_for(job, lambda s: s.state != "running")
    assert snap.state == "stopped" and len(snap.rows) == 2 and snap.fraction < 1
    assert snap.message.startswith("**Training stopped.**")


def test_a_stop_that_comes_with_the_last_batch_is_a_done_run(tmp_path: Path) -> None:
    """The job reports what the record says: a stop asked for during the last batch left nothing undone."""
    trainer = StandIn()
    job = TrainingJob(runs_root=lambda: tmp_path, trainer=trainer)
    job.start(CONFIG)
    trainer.step.release(11)  # all but the last batch
    wait_for(job, lambda s: s.fraction == pytest.approx((2 + 3 / 4) / 3))
    assert job.stop()
    trainer.step.release(1)
    snap = wait_for(job, lambda s: s.state != "running")
    assert snap.state == "done" and len(snap.rows) == 3 and snap.message.startswith("**Training done.**")


def test_wall_time_cap_stops_the_run_and_says_why(tmp_path: Path) -> None:
    trainer = StandIn()
    job = TrainingJob(runs_root=lambda: tmp_path, trainer=trainer)
    job.start(CONFIG, max_seconds=1e-9)
    trainer.step.release(100)
    snap = wait_for(job, lambda s: s.state != "running")
    assert snap.state == "stopped" and len(snap.rows) == 1
    assert snap.message.startswith("**Time limit reached:** this server stops a run after")


@pytest.mark.parametrize(("error", "message"), [
    (DataNotFoundError("no kaggle15 here"), "**Dataset missing.**"),
    (UsageError("train the pretrain run first"), "**Training refused:** train the pretrain run first"),
    (RuntimeError("boom"), "**Training failed:** RuntimeError: boom")])
def test_a_failure_reaches_the_snapshot(tmp_path: Path, error: Exception, message: str) -> None:
    job = TrainingJob(runs_root=lambda: tmp_path, trainer=StandIn(fail=error))
    job.start(CONFIG)
    snap = wait_for(job, lambda s: s.state != "running")
    assert snap.state == "failed" and snap.message.startswith(message)
    assert snap.run_dir == job.run_dir(CONFIG)  # where it would have been recorded
    job.start(CONFIG)  # a failed run leaves the server free
