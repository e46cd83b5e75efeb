"""The runs table: one row per run with what it varied and how well it did, and the filter shared with the figures.

Filter syntax (all terms must match, case-insensitive): ``adam`` matches a run whose name, status or a setting
contains it (not its environment: a grid-trained run's lists the runs it trained beside); ``optimizer=adam``
matches a column exactly; ``lr<0.01`` / ``best_val_loss<=0.004`` / ``epochs>=10`` compare numerically.
"""

from __future__ import annotations

import operator
import re

import pandas as pd

from kpdemo.dashboard.records import RunSet, config_columns, format_value, varying_settings

_COMPARE = {"<=": operator.le, ">=": operator.ge, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
            "=": operator.eq}
_TERM = re.compile(r"^([\w.]+)(<=|>=|!=|<|>|=)(.+)$")


class FilterError(ValueError):
    """A filter term names no column or compares a number with text; the message says which term."""


def _term_mask(runs: pd.DataFrame, text: pd.Series, term: str) -> pd.Series:
    match = _TERM.match(term)
    if not match:
        return text.str.contains(term.lower(), regex=False)
    column, op, value = match.groups()
    if column not in runs.columns:
        raise FilterError(f"filter {term!r}: no column {column!r} (columns: {', '.join(runs.columns)})")
    if op in ("=", "!="):
        equal = runs[column].map(format_value).str.lower() == value.lower()
        return equal if op == "=" else ~equal
    try:
        number = float(value)
    except ValueError:
        raise FilterError(f"filter {term!r}: {value!r} is not a number") from None
    return _COMPARE[op](pd.to_numeric(runs[column], errors="coerce"), number).fillna(False)


def filter_mask(runs: pd.DataFrame, query: str) -> pd.Series:
    """Which runs match every term of ``query`` (all of them for an empty query)."""
    mask = pd.Series(True, index=runs.index)
    if runs.empty or not query.split():
        return mask
    searched = [c for c in ("run", "status") if c in runs.columns] + config_columns(runs)
    text = runs[searched].map(format_value).agg(" ".join, axis=1).str.lower()
    for term in query.split():
        mask &= _term_mask(runs, text, term)
    return mask


def filter_runs(runset: RunSet, query: str) -> RunSet:
    return runset.select(filter_mask(runset.runs, query)) if query.strip() else runset


def runs_table(runset: RunSet) -> pd.DataFrame:
    """run, status, varied settings, epochs logged, best and test metrics, then the settings all runs share."""
    runs = runset.runs
    if runs.empty:
        return pd.DataFrame(columns=["run", "status"])
    varied = varying_settings(runs)
    constant = [c for c in config_columns(runs) if c not in varied]
    scores = [c for c in runs.columns if c.startswith(("best_", "test_"))]
    table = runs[["run", "status", *varied]].copy()
    epochs = runset.history.groupby("run")["epoch"].max() if len(runset.history) else pd.Series(dtype=float)
    table["epochs_logged"] = runs["run"].map(epochs).fillna(0).astype(int)
    for c in scores:
        table[c] = pd.to_numeric(runs[c], errors="coerce").round(5)
    for c in constant:
        table[c] = runs[c].map(format_value)
    return table.sort_values("run").reset_index(drop=True)
