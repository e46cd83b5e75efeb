"""Run records: what every trainer writes and what the dashboard reads.

Layout of one run (``<runs root>/<experiment>/<run name>/``):

* ``record.json``: ``experiment``, ``name``, ``status`` (running | done | stopped | failed, whose ``error`` says
  why), ``config`` (the plain config dict the run can be re-created from), ``env`` (device, torch version, seed,
  host), ``best`` (epoch and metrics of the best validation epoch), ``test`` (held-out metrics, when measured),
  ``checkpoint`` (file name or null), ``started`` / ``finished`` / ``updated`` (ISO times; ``updated`` is rewritten
  every epoch as a heartbeat, so a run whose process died shows up as ``stalled`` instead of ``running`` forever).
* ``history.csv``: one row per epoch: ``epoch``, ``train_loss``, ``val_loss``, metric columns such as
  ``val_rmse_px`` or ``val_nme``, ``epoch_time_s``, ``wall_time_s``.
* the best checkpoint (see :mod:`kpdemo.checkpoints`).

:func:`load_runs` reads any number of runs roots into two tidy pandas tables (runs and per-epoch history).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from kpdemo.files import write_by_rename

RECORD = "record.json"
HISTORY = "history.csv"
#: History values to 7 significant digits (float32's precision; the metrics come from float32 tensors): the shipped
#: records travel with every GPU device call, which carries 64 MiB in all, and a 500-epoch run's history at Python's
#: full 17 digits is twice the size (``kpdemo.datasets.pack.TRAVEL_LIMIT_MIB``).
HISTORY_FLOAT_FORMAT = "%.7g"
#: Statuses of a run whose record is complete: trained all its epochs, or stopped early (a time budget such as the GPU
#: campaign's deadline, or the Train tab's Stop) with its best checkpoint, history and test metrics written.
FINISHED = ("done", "stopped")
#: A "running" record whose heartbeat is older than this is reported as "stalled" (its process is gone).
STALE_AFTER = timedelta(minutes=30)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def environment(device: str, seed: int) -> dict[str, Any]:
    return {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seed": seed,
        "host": platform.node(),
    }


@dataclass
class RunWriter:
    """Writes one run's record and history as it goes, so a crashed or live run is still readable."""

    root: Path
    experiment: str
    name: str
    config: dict[str, Any]
    env: dict[str, Any]
    resume: bool = False  # continue an existing record: keep it and its history, append new epochs
    record: dict[str, Any] = field(init=False)
    rows: list[dict[str, float]] = field(init=False, default_factory=list)
    #: The columns ``history.csv`` holds as written so far (None: rewrite it whole at the next epoch).
    written: list[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.resume:
            self.record = read_record(self.dir)
            self.record.update(status="running", finished=None, resumed=self.record.get("resumed", 0) + 1)
            self.record.pop("error", None)  # what ended an earlier try: a resumed run that ends well has none
            if (self.dir / HISTORY).exists():
                self.rows = pd.read_csv(self.dir / HISTORY).to_dict("records")
            self._write_record()
            return
        self.record = {
            "experiment": self.experiment, "name": self.name, "status": "running", "config": self.config,
            "env": self.env, "best": {}, "test": {}, "checkpoint": None, "started": now_iso(), "finished": None,
        }
        self._write_record()

    @property
    def dir(self) -> Path:
        return Path(self.root) / self.experiment / self.name

    def log_epoch(self, row: dict[str, float]) -> None:
        """Add the epoch's row to ``history.csv``: appended when its columns are the file's, else the file is
        rewritten whole (the first row, a resumed run, a new column). Why not always rewrite: the campaign's stacks
        log eleven runs an epoch for 500 epochs, and rewriting a 500-row history took 5 ms a run."""
        self.rows.append(row)
        path = self.dir / HISTORY
        if self.written == list(row):
            pd.DataFrame([row]).to_csv(path, mode="a", header=False, index=False, float_format=HISTORY_FLOAT_FORMAT)
        else:
            frame = pd.DataFrame(self.rows)
            frame.to_csv(path, index=False, float_format=HISTORY_FLOAT_FORMAT)
            self.written = list(frame.columns)
        self._write_record()  # heartbeat

    def update(self, **fields: Any) -> None:
        self.record.update(fields)
        self._write_record()

    def finish(self, status: str = "done", **fields: Any) -> None:
        self.update(status=status, finished=now_iso(), **fields)

    def _write_record(self) -> None:
        self.record["updated"] = now_iso()
        text = json.dumps(self.record, indent=2, default=str).encode()
        write_by_rename(self.dir / RECORD, lambda out: out.write(text))


def read_record(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / RECORD).read_text())


def epochs_recorded(run_dir: Path) -> int:
    """How many epochs a run's history holds (0 without one): how far a run stopped by a time budget got."""
    history = Path(run_dir) / HISTORY
    if not history.exists():
        return 0
    with history.open() as rows:
        return max(sum(1 for _ in rows) - 1, 0)


def effective_status(record: dict[str, Any], now: datetime | None = None) -> str | None:
    """The record's status, with a "running" run whose heartbeat stopped more than STALE_AFTER ago as "stalled"."""
    status = record.get("status")
    beat = record.get("updated") or record.get("started")
    if status == "running" and beat:
        if (now or datetime.now(UTC)) - datetime.fromisoformat(beat) > STALE_AFTER:
            return "stalled"
    return status


def _flat(prefix: str, d: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{k}": (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in d.items()}


def load_runs(roots: Iterable[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, history): one row per run (config/best/test flattened with prefixes) and one per run-epoch.

    A run found under several roots (e.g. shipped and user) is kept once, the later root winning.
    Unreadable records are skipped with their path in the ``error`` column rather than breaking the dashboard.
    """
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    histories: dict[tuple[str, str], pd.DataFrame] = {}
    for root in roots:
        for record_path in sorted(Path(root).glob(f"*/*/{RECORD}")):
            run_dir = record_path.parent
            try:
                rec = read_record(run_dir)
            except (OSError, json.JSONDecodeError) as exc:
                key = (run_dir.parent.name, run_dir.name)
                runs[key] = {"experiment": key[0], "run": key[1], "status": "unreadable", "error": str(exc)}
                continue
            key = (rec["experiment"], rec["name"])
            row = {"experiment": rec["experiment"], "run": rec["name"], "status": effective_status(rec),
                   "dir": str(run_dir), "checkpoint": rec.get("checkpoint"), "started": rec.get("started")}
            row |= _flat("", rec.get("config", {})) | _flat("best_", rec.get("best", {}))
            row |= _flat("test_", rec.get("test", {})) | _flat("env_", rec.get("env", {}))
            runs[key] = row
            if (run_dir / HISTORY).exists():
                hist = pd.read_csv(run_dir / HISTORY)
                hist.insert(0, "run", rec["name"])
                hist.insert(0, "experiment", rec["experiment"])
                histories[key] = hist
    run_table = pd.DataFrame(list(runs.values()))
    history = pd.concat(histories.values(), ignore_index=True) if histories else pd.DataFrame()
    return run_table, history
