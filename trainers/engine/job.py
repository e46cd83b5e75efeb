"""One training run in a background thread, for a server that trains one run at a time (the app's Train tab).

Why a background thread and one job per server: training outlives a browser tab (closing it must not kill a
20-minute run), and two trainings at once would halve each other's speed on a CPU. :class:`TrainingJob` holds the
one run; a front end starts it, stops it, and polls :meth:`TrainingJob.snapshot` for progress and the rows logged so
far. It is training machinery, not UI: nothing here draws or knows a widget, so any front end (or a test) can drive it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from kpdemo.config import DataNotFoundError, runs_dir
from kpdemo.runs import read_record
from trainers.engine.config import TrainConfig
from trainers.engine.train import run_config
from trainers.errors import USER_ERRORS

#: ``run_config``'s signature: (config, runs_root, on_epoch=, should_stop=, show_progress=) -> the run's folder.
Trainer = Callable[..., Path]


class TrainingBusyError(RuntimeError):
    """Another training is running on this server."""


@dataclass
class Snapshot:
    """What a front end shows of the job at one moment (a copy: the training thread keeps going)."""

    state: str = "idle"  # idle | running | done | stopped | failed
    config: TrainConfig | None = None
    rows: list[dict[str, float]] = field(default_factory=list)
    fraction: float = 0.0
    message: str = "No training started on this server yet."
    run_dir: Path | None = None
    note: str = ""  # what the server changed of the settings asked for (its caps): shown beside every status


class TrainingJob:
    """The server's single training run, in a daemon thread; ``start`` refuses while one is running.

    Progress inside an epoch comes from counting ``should_stop`` polls, which the trainer makes after every batch;
    the same polls enforce a wall-time cap (``max_seconds``), so a capped run ends like a stopped one: best epoch
    kept, scored on test, checkpoint written.
    """

    def __init__(self, runs_root: Callable[[], Path] = runs_dir, trainer: Trainer = run_config) -> None:
        self._runs_root, self._trainer = runs_root, trainer
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._snap = Snapshot()
        self._batches = 0
        self._batches_per_epoch = 0
        self._max_seconds = 0.0
        self._deadline = math.inf
        self._timed_out = False

    def run_dir(self, config: TrainConfig) -> Path:
        """Where ``config``'s run is recorded."""
        return self._runs_root() / config.experiment / config.run_name()

    def start(self, config: TrainConfig, max_seconds: float = 0.0, trainer: Trainer | None = None,
              note: str = "") -> None:
        """Train ``config`` in the background (with ``trainer``, an image-to-image grid's own runner, else this
        job's), stopped after ``max_seconds`` (0 = no cap); refused while busy. ``note`` stays in the snapshot for
        the run's whole life (a server's caps, which the first status line alone would lose to the next)."""
        with self._lock:
            if self._snap.state == "running":
                running = self._snap.config.run_name() if self._snap.config else "a run"
                raise TrainingBusyError(f"A training is already running on this server ({running}); "
                                        "wait for it to finish or stop it first.")
            root = self._runs_root()
            self._stop.clear()
            self._batches, self._batches_per_epoch = 0, 0
            self._max_seconds = max_seconds
            self._deadline = time.monotonic() + max_seconds if max_seconds else math.inf
            self._timed_out = False
            self._snap = Snapshot("running", config, message=f"Starting {config.run_name()}...",
                                  run_dir=self.run_dir(config), note=note)
        threading.Thread(target=self._run, args=(config, root, trainer or self._trainer), name="kpdemo-train",
                         daemon=True).start()

    def stop(self) -> bool:
        """Ask the running training to stop after its current batch; False if none is running."""
        with self._lock:
            running = self._snap.state == "running"
        if running:
            self._stop.set()
        return running

    def snapshot(self) -> Snapshot:
        with self._lock:
            s = self._snap
            return replace(s, rows=list(s.rows), fraction=self._fraction())

    def _fraction(self) -> float:
        s = self._snap
        if s.config is None or s.state != "running":
            return 1.0 if s.state == "done" else s.fraction
        within = min(self._batches / self._batches_per_epoch, 1.0) if self._batches_per_epoch else 0.0
        return min((len(s.rows) + within) / max(s.config.epochs, 1), 0.99)  # 100% only when the run has ended

    def _on_epoch(self, row: dict[str, float]) -> None:
        with self._lock:
            self._snap.rows.append(dict(row))
            self._batches = 0

    def _should_stop(self) -> bool:
        with self._lock:
            self._batches += 1
            if not self._batches_per_epoch:
                self._batches_per_epoch = self._read_batches_per_epoch()
            if time.monotonic() > self._deadline:
                self._timed_out = True
        return self._timed_out or self._stop.is_set()

    def _read_batches_per_epoch(self) -> int:
        """From the run record's ``env.train_images`` (written before the first batch); 0 if not there yet."""
        s = self._snap
        try:
            env = read_record(s.run_dir).get("env", {})
            return math.ceil(int(env["train_images"]) / s.config.batch_size)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return 0

    def _run(self, config: TrainConfig, root: Path, trainer: Trainer) -> None:
        try:
            run_dir = trainer(config, root, on_epoch=self._on_epoch, should_stop=self._should_stop,
                              show_progress=False)
            state = read_record(run_dir)["status"]  # "done" where a stop came with the last batch: nothing undone
            message = _finished_message(run_dir, state)
            if self._timed_out and state == "stopped":
                message = "**Time limit reached:** this server stops a run after " \
                          f"{self._max_seconds / 60:.3g} min (KPDEMO_MAX_TRAIN_SECONDS). {message}"
        except DataNotFoundError as exc:
            state, run_dir, message = "failed", None, f"**Dataset missing.** {exc}"
        except USER_ERRORS as exc:  # the user's to fix (a start run not trained yet, no GPU): no class name
            state, run_dir, message = "failed", None, f"**Training refused:** {exc}"
        except Exception as exc:  # any failure must reach the user, not die silently in a thread
            state, run_dir, message = "failed", None, f"**Training failed:** {type(exc).__name__}: {exc}"
        with self._lock:
            fraction = self._fraction()
            self._snap = replace(self._snap, state=state, message=message, fraction=fraction,
                                 run_dir=run_dir or self._snap.run_dir)


def _finished_message(run_dir: Path, state: str) -> str:
    record = read_record(run_dir)
    test = ", ".join(f"{k} {v:.4g}" for k, v in record.get("test", {}).items() if isinstance(v, int | float))
    checkpoint = run_dir / record["checkpoint"] if record.get("checkpoint") else None
    where = f"Checkpoint: `{checkpoint}`, listed in the predictor menus as `run {run_dir.parent.name}/" \
            f"{run_dir.name}` (refresh them). " if checkpoint else ""
    return f"**Training {state}.** {where}Test: {test or 'not measured'}. " \
           "The run is in the Experiments tab (press Refresh records)."
