"""The run records the dashboard shows: shipped and user runs read together, and what varies within an experiment.

Nothing here knows experiment or setting names in advance: experiments come from the records (and from the
trainers' registry when it can be imported, so experiments not yet run are still listed), settings are the config
keys whose values differ between an experiment's runs, metrics are the history columns.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kpdemo.config import SHIPPED_RUNS_DIR, runs_dir
from kpdemo.runs import load_runs

# Columns load_runs adds that are not config keys, and the prefixes of its flattened best/test/env dicts.
RECORD_COLUMNS = ("experiment", "run", "status", "dir", "checkpoint", "started", "error")
DERIVED_PREFIXES = ("best_", "test_", "env_")
# Config keys that mark repeats of one configuration: runs differing only in these are drawn as mean + band.
REPLICATE_KEYS = ("fold", "seed")
SPLITS = ("train", "val")
# History columns that are the x axis, not metrics.
X_COLUMNS = ("epoch", "wall_time_s", "epoch_time_s")


@dataclass(frozen=True)
class RunSet:
    """The two tables of :func:`kpdemo.runs.load_runs`: one row per run, one row per run-epoch."""

    runs: pd.DataFrame
    history: pd.DataFrame

    @classmethod
    def load(cls, roots: Iterable[Path] | None = None) -> RunSet:
        """Read records from ``roots`` (default: the shipped runs, then the user's runs, which win on a clash)."""
        runs, history = load_runs(default_roots() if roots is None else roots)
        if runs.empty:
            runs = pd.DataFrame(columns=["experiment", "run", "status"])
        if history.empty:
            history = pd.DataFrame(columns=["experiment", "run", "epoch"])
        return cls(runs, history)

    def experiment(self, name: str, run_names: Iterable[str] | None = None) -> RunSet:
        """Only the runs of one experiment (and of those, only ``run_names`` when given and not empty)."""
        keep = self.runs["experiment"] == name
        names = list(run_names or [])
        if names:
            keep &= self.runs["run"].isin(names)
        runs = _whole_numbers_as_int(_drop_empty_columns(self.runs[keep]))
        history = self.history[(self.history["experiment"] == name) & self.history["run"].isin(runs["run"])]
        return RunSet(runs.reset_index(drop=True), _drop_empty_columns(history).reset_index(drop=True))

    def select(self, mask: pd.Series) -> RunSet:
        """The runs where ``mask`` (aligned with :attr:`runs`) is true, with their history."""
        runs = self.runs[mask.to_numpy()]
        return RunSet(runs.reset_index(drop=True), self.history[self.history["run"].isin(runs["run"])])


def _drop_empty_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Columns only other experiments use (all missing here); an empty table keeps its columns."""
    return table.dropna(axis=1, how="all") if len(table) else table


def _whole_numbers_as_int(runs: pd.DataFrame) -> pd.DataFrame:
    """Undo the float upcast that missing values in other experiments cause (``fold`` 1.0 -> 1)."""
    runs = runs.copy()
    for c in runs.select_dtypes("float").columns:
        values = runs[c].dropna()
        if len(values) and (values == values.round()).all():
            runs[c] = runs[c].astype("Int64")
    return runs


def default_roots() -> list[Path]:
    return [SHIPPED_RUNS_DIR, runs_dir()]


def registered_experiments() -> dict[str, str]:
    """Experiment name -> one-line description from ``trainers.grids.EXPERIMENTS``, or {} if unavailable.

    Why optional: the dashboard must work on records alone (e.g. a checkout without the trainers' dependencies).
    """
    try:
        registry = importlib.import_module("trainers.grids").EXPERIMENTS
    except (ImportError, AttributeError):
        return {}
    return {str(name): (entry.description.strip().splitlines() or [""])[0] for name, entry in registry.items()}


def experiment_names(runset: RunSet, registered: Iterable[str] = ()) -> list[str]:
    """Experiments with records first (in registry order where registered), then registered ones not yet run."""
    recorded = sorted(set(runset.runs["experiment"].dropna()))
    order = list(dict.fromkeys(registered))
    with_runs = [e for e in order if e in recorded] + [e for e in recorded if e not in order]
    return with_runs + [e for e in order if e not in recorded]


def config_columns(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c not in RECORD_COLUMNS and not c.startswith(DERIVED_PREFIXES)]


def varying_settings(runs: pd.DataFrame) -> list[str]:
    """Config keys that take more than one recorded value among these runs: what an experiment compares.

    A key some records lack does not vary by that alone: it is a setting added to the trainer after they were
    written (``context``, ``ema``), which they ran at its default. Counted as a value, it made the Experiments tab
    offer "dash by context" for grids whose runs all ran at one context, a choice the figure then ignored."""
    return [c for c in config_columns(runs) if runs[c].dropna().astype(str).nunique() > 1]


def group_settings(runs: pd.DataFrame) -> list[str]:
    """The varying settings that define a configuration: replicate keys (fold, seed) left out."""
    return [c for c in varying_settings(runs) if c not in REPLICATE_KEYS]


def metric_names(history: pd.DataFrame) -> list[str]:
    """Metrics with a train and/or val column in the history, ``loss`` first: ``val_rmse_px`` -> ``rmse_px``."""
    names = {c.split("_", 1)[1] for c in history.columns if c.split("_", 1)[0] in SPLITS and c not in X_COLUMNS}
    return sorted(names, key=lambda n: (n != "loss", n))


#: Settings a legend names first when several move together: a run's tag (``compact``, ``finetune``) says more
#: than the head width or starting weights it stands for, a budget's epochs more than the data subsets, device and
#: precision that came with them.
TELLING_FIRST = ("tag", "epochs")


def telling_settings(runs: pd.DataFrame, settings: Iterable[str]) -> list[str]:
    """The ``settings`` a legend needs to tell these runs' configurations apart, in their order: each one
    (:data:`TELLING_FIRST` looked at first) unless those kept before it already fix its value. Why: a grid run at
    two budgets (the CPU profile and the GPU campaign) differs in epochs, data subsets, device, precision and more,
    all moving together; naming them all made each legend entry a line long, naming the epochs tells the lines
    apart as well."""
    present = [s for s in settings if s in runs.columns]
    text = runs[present].map(format_value)
    first = {name: rank for rank, name in enumerate(TELLING_FIRST)}
    kept: list[str] = []
    for name in sorted(present, key=lambda s: first.get(s, len(first))):
        if kept and text.groupby([text[k] for k in kept])[name].nunique().max() <= 1:
            continue
        kept.append(name)
    return [s for s in present if s in kept]


def setting_label(runs: pd.DataFrame, settings: Iterable[str], row: pd.Series) -> str:
    """``model=convnet, optimizer=adam`` for the given settings (the run name when there are none)."""
    parts = [f"{s}={format_value(row[s])}" for s in settings if s in runs.columns]
    return ", ".join(parts) or str(row["run"])


def format_value(value: object) -> str:
    """A setting value as the legend and palette see it: ``0.001`` -> ``0.001``, ``nan`` -> ``-``."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
