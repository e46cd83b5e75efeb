"""Training-curve figures: one line per configuration and split, folds/seeds drawn as a mean with a min-max band.

The pipeline is ``curve_series`` (numbers: which lines, smoothed and aggregated) -> ``add_series`` (Plotly traces
in one panel) -> ``curves_figure`` (one panel) or ``small_multiples_figure`` (one panel per value of a setting).
Colours are fixed per setting value for the whole figure (see :mod:`kpdemo.dashboard.style`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kpdemo.dashboard.records import (
    REPLICATE_KEYS,
    SPLITS,
    RunSet,
    config_columns,
    format_value,
    group_settings,
    setting_label,
    telling_settings,
    varying_settings,
)
from kpdemo.dashboard.style import axis_label, colour_map, dash_map, rgba

EMPTY = ("", "{}", "[]", "-")  # setting values not worth a word in a subtitle
SPLIT = "split"  # the dash_by / colour_by choice that means "train vs val"


@dataclass(frozen=True)
class CurveOptions:
    """What a curve figure shows. ``colour_by``/``dash_by``: a setting name, ``"split"``, or None (per config)."""

    metric: str = "loss"
    colour_by: str | None = None
    dash_by: str | None = SPLIT
    splits: tuple[str, ...] = SPLITS
    log_y: bool = False
    smoothing: float = 0.0
    x: str = "epoch"


@dataclass
class Series:
    """One line: a run, or the mean of replicate runs (then ``lo``/``hi`` hold the min-max band), for one split."""

    label: str
    split: str
    colour_key: str
    dash_key: str
    x: np.ndarray
    y: np.ndarray
    runs: list[str]
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    name: str = field(default="")


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing): same length, NaNs passed through.

    Debiasing divides by ``1 - weight**n`` so the first points are not dragged toward zero.
    """
    if weight <= 0:
        return np.asarray(values, float)
    out = np.full(len(values), np.nan)
    last, n = 0.0, 0
    for i, v in enumerate(np.asarray(values, float)):
        if np.isnan(v):
            continue
        n += 1
        last = weight * last + (1 - weight) * v
        out[i] = last / (1 - weight**n)
    return out


def _grouping(runset: RunSet, options: CurveOptions) -> list[str]:
    """Settings that tell configurations apart; a replicate key picked for colour/dash is shown, not averaged."""
    chosen = [k for k in (options.colour_by, options.dash_by) if k in REPLICATE_KEYS and k in runset.runs.columns]
    return group_settings(runset.runs) + [k for k in chosen if k not in group_settings(runset.runs)]


def _key(row: pd.Series, by: str | None, split: str, label: str) -> str:
    if by == SPLIT:
        return split
    if by is None or by not in row.index:
        return label
    return format_value(row[by])


def _sort_key(row: pd.Series, settings: list[str]) -> tuple:
    """Order configurations by their settings' values, numbers numerically (lr 1e-05 < 0.0001 < 0.001)."""
    def one(value: object) -> tuple:
        return (0, float(value), "") if isinstance(value, (int, float, np.number)) else (1, 0.0, format_value(value))
    return tuple(one(row[s]) for s in settings) if settings else (one(row["run"]),)


def curve_series(runset: RunSet, options: CurveOptions) -> list[Series]:
    """The lines to draw for ``options.metric``, smoothed per run before replicates are averaged."""
    runs, history = runset.runs, runset.history
    settings = _grouping(runset, options)
    x_col = options.x if options.x in history.columns else "epoch"
    named = telling_settings(runs, settings)
    out: list[Series] = []
    for _, group in sorted(runs.groupby([runs[s].map(format_value) for s in settings] or runs["run"]),
                           key=lambda kv: _sort_key(kv[1].iloc[0], settings)):
        first = group.iloc[0]
        label = setting_label(runs, named, first)
        for split in options.splits:
            column = f"{split}_{options.metric}"
            if column not in history.columns:
                continue
            parts = []
            for run in group["run"]:
                h = history[history["run"] == run].sort_values("epoch")
                h = h[h[column].notna()]
                parts.append(pd.DataFrame({"epoch": h["epoch"].to_numpy(), "x": h[x_col].to_numpy(float),
                                           "y": ema(h[column].to_numpy(float), options.smoothing), "run": run}))
            long = pd.concat(parts, ignore_index=True)
            if long.empty:
                continue
            agg = long.groupby("epoch").agg(x=("x", "mean"), y=("y", "mean"), lo=("y", "min"), hi=("y", "max"))
            replicated = long["run"].nunique() > 1
            out.append(Series(
                label=label, split=split, runs=sorted(long["run"].unique()),
                colour_key=_key(first, options.colour_by, split, label),
                dash_key=_key(first, options.dash_by, split, label),
                x=agg["x"].to_numpy(), y=agg["y"].to_numpy(),
                lo=agg["lo"].to_numpy() if replicated else None, hi=agg["hi"].to_numpy() if replicated else None,
            ))
    shown_splits = {s.split for s in out}
    for s in out:
        mean = f" (mean of {len(s.runs)})" if s.lo is not None else ""
        s.name = f"{s.label} · {s.split}{mean}" if len(shown_splits) > 1 else f"{s.label}{mean}"
    return out


@dataclass
class Styles:
    """Colour and dash per key, computed once per figure so every panel agrees.

    When neither colour nor dash shows the split but both splits are drawn, train lines are drawn thin and faint.
    """

    colours: dict[str, str]
    dashes: dict[str, str]
    split_by_width: bool

    @classmethod
    def of(cls, series: list[Series], options: CurveOptions) -> Styles:
        by_width = SPLIT not in (options.colour_by, options.dash_by) and len({s.split for s in series}) > 1
        return cls(colour_map(s.colour_key for s in series), dash_map(s.dash_key for s in series), by_width)


def add_series(fig: go.Figure, series: list[Series], styles: Styles, hover: tuple[str, str],
               legend_seen: set[str], row: int | None = None, col: int | None = None) -> None:
    """Add each series (band first, then line) to one panel; each legend entry appears once per figure."""
    for s in series:
        colour = styles.colours[s.colour_key]
        show = s.name not in legend_seen
        legend_seen.add(s.name)
        if s.lo is not None and s.hi is not None:
            edge = {"width": 0, "color": colour}
            fig.add_trace(go.Scatter(x=s.x, y=s.hi, mode="lines", line=edge, legendgroup=s.label, showlegend=False,
                                     hoverinfo="skip", name=f"{s.name} max"), row=row, col=col)
            fig.add_trace(go.Scatter(x=s.x, y=s.lo, mode="lines", line=edge, fill="tonexty",
                                     fillcolor=rgba(colour, 0.18), legendgroup=s.label, showlegend=False,
                                     hoverinfo="skip", name=f"{s.name} min-max band"), row=row, col=col)
        faint = styles.split_by_width and s.split == "train"
        fig.add_trace(go.Scatter(
            x=s.x, y=s.y, mode="lines+markers" if len(s.x) == 1 else "lines", name=s.name, legendgroup=s.label,
            showlegend=show, opacity=0.6 if faint else 1.0,
            line={"color": colour, "dash": styles.dashes[s.dash_key], "width": 1.2 if faint else 2.2},
            hovertemplate=f"{s.name}<br>runs: {', '.join(s.runs)}<br>{hover[0]}=%{{x:.4g}}<br>{hover[1]}=%{{y:.4g}}"
                          "<extra></extra>",
        ), row=row, col=col)


def _loss_name(runs: pd.DataFrame) -> str | None:
    if "loss" in runs.columns and runs["loss"].nunique() == 1:
        return str(runs["loss"].iloc[0])
    return None


def _constant_settings(runs: pd.DataFrame, skip: set[str], width: int = 150) -> str:
    """A subtitle naming what all the runs share, so a figure stands on its own when exported (wrapped)."""
    varying = set(varying_settings(runs))  # and a setting some runs lack (shown "-"): not shared
    parts = [f"{c}={format_value(runs[c].iloc[0])}" for c in config_columns(runs)
             if c not in skip and c not in varying and runs[c].notna().all()
             and format_value(runs[c].iloc[0]) not in EMPTY]
    lines = [""]
    for part in parts:
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += (", " if lines[-1] else "") + part
    return "<br>".join(lines)


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure that says why it has no curve (``message`` in its middle), in place of empty axes."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 15})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, template="plotly_white")
    return fig


def _legend_title(options: CurveOptions, styles: Styles) -> str:
    colour = options.colour_by or "configuration"
    dash = options.dash_by or "configuration"
    width = "<br>thin: train, thick: val" if styles.split_by_width else ""
    return f"colour: {colour}<br>dash: {dash}{width}"


def _layout(fig: go.Figure, title: str, subtitle: str, options: CurveOptions, styles: Styles, height: int,
            panel_titles: bool = False) -> None:
    """Title pinned to the top, the shared settings under it as Plotly's own subtitle; the top margin grows with the
    subtitle's lines.

    Why ``title.subtitle``: a ``<br><sup>`` line inside the title text was placed by the title's font metrics and
    its first line overlapped the title's descenders.
    """
    lines = subtitle.count("<br>") + 1 if subtitle else 0
    top = 56 + 16 * lines + (25 if panel_titles else 0)
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle, "font": {"size": 11}}, "x": 0.01, "y": 1,
                             "yref": "container", "yanchor": "top", "pad": {"t": 12}},
                      template="plotly_white", height=height + top,
                      legend={"title": {"text": _legend_title(options, styles)}, "font": {"size": 11}},
                      hovermode="closest", margin={"t": top})
    fig.update_yaxes(type="log", exponentformat="power") if options.log_y else fig.update_yaxes(type="linear")
    if options.x == "epoch":  # whole epochs only: no "epoch 1.5" ticks on short runs
        step = _nice_step(_max_epoch(fig) / 10)
        fig.update_xaxes(tick0=1 if step == 1 else 0, dtick=step)


def _effective(runset: RunSet, options: CurveOptions) -> CurveOptions:
    """Colour/dash by a setting that all shown runs share tells nothing: fall back to per-config / split."""
    def constant(by: str | None) -> bool:
        return by not in (None, SPLIT) and by not in varying_settings(runset.runs)
    return replace(options, colour_by=None if constant(options.colour_by) else options.colour_by,
                   dash_by=SPLIT if constant(options.dash_by) else options.dash_by)


def _nice_step(at_least: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is >= ``at_least``."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= at_least:
                return factor * magnitude
        magnitude *= 10


def _max_epoch(fig: go.Figure) -> float:
    return max((max(t.x) for t in fig.data if t.x is not None and len(t.x)), default=1)


def _which(options: CurveOptions) -> str:
    """``"val "`` when one split is drawn, so a single-split figure says which."""
    return f"{options.splits[0]} " if len(options.splits) == 1 else ""


def _labels(runset: RunSet, options: CurveOptions) -> tuple[str, str]:
    return axis_label(options.x), axis_label(options.metric, _loss_name(runset.runs))


def curves_figure(runset: RunSet, experiment: str, options: CurveOptions = CurveOptions()) -> go.Figure:
    """One panel with every configuration's curves for ``options.metric``."""
    options = _effective(runset, options)
    series = curve_series(runset, options)
    x_label, y_label = _labels(runset, options)
    title = f"{experiment}: {_which(options)}{y_label} {'by epoch' if options.x == 'epoch' else 'over wall time'}"
    if not series:
        return empty_figure(title, _why_empty(runset, options))
    fig = go.Figure()
    styles = Styles.of(series, options)
    add_series(fig, series, styles, (x_label, y_label), set())
    _layout(fig, title, _constant_settings(runset.runs, set()), options, styles, 440)
    fig.update_layout(xaxis_title=x_label, yaxis_title=y_label)
    return fig


def small_multiples_figure(runset: RunSet, experiment: str, facet_by: str,
                           options: CurveOptions = CurveOptions(), columns: int = 3) -> go.Figure:
    """One panel per value of ``facet_by`` (e.g. model or lr), same colours, dashes and y range in every panel."""
    options = _effective(runset, options)
    x_label, y_label = _labels(runset, options)
    title = f"{experiment}: {_which(options)}{y_label} by {facet_by}"
    if facet_by not in runset.runs.columns:
        return empty_figure(title, f"no setting {facet_by!r} in these runs")
    values = sorted(runset.runs[facet_by].map(format_value).unique())
    panels = {v: curve_series(runset.select(runset.runs[facet_by].map(format_value) == v), options) for v in values}
    every = [s for ss in panels.values() for s in ss]
    if not every:
        return empty_figure(title, _why_empty(runset, options))
    styles = Styles.of(every, options)
    cols = min(columns, len(values))
    rows = -(-len(values) // cols)
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, subplot_titles=[f"{facet_by}={v}" for v in values],
                        horizontal_spacing=0.04, vertical_spacing=0.12)
    seen: set[str] = set()
    for i, v in enumerate(values):
        add_series(fig, panels[v], styles, (x_label, y_label), seen, row=i // cols + 1, col=i % cols + 1)
    _layout(fig, title, _constant_settings(runset.runs, {facet_by}), options, styles, 300 * rows + 60,
            panel_titles=True)
    fig.update_xaxes(title_text=x_label, row=rows)
    fig.update_yaxes(title_text=y_label, col=1)
    return fig


def _why_empty(runset: RunSet, options: CurveOptions) -> str:
    if runset.runs.empty:
        return "No runs recorded yet: train one in the Train tab, then press Refresh."
    if runset.history.empty:
        return "These runs have not logged an epoch yet."
    return f"No {' / '.join(options.splits)} '{options.metric}' column in these runs' history."
