"""The Experiments tab: pick an experiment, compare its runs' curves, filter and select runs, reread records.

The Gradio wiring is in :func:`build_experiments_tab`; everything it shows comes from :func:`view` and
:func:`controls`, plain functions of the records and the control values, so they are tested without a browser.
Records are read from the shipped runs (``checkpoints/runs``) and the user's runs (``runs_dir()``) together.
A picked run (the Run dropdown, or a click in the runs table) also shows its held-out predictions
(:func:`predictions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from gradio.context import Context

from kpdemo.dashboard import CurveOptions, FilterError, RunSet, curves_figure, filter_runs, runs_table
from kpdemo.dashboard.curves import SPLIT, empty_figure, small_multiples_figure
from kpdemo.dashboard.predictions import REGION_COLUMNS, PredictionsUnavailable, run_predictions
from kpdemo.dashboard.records import (
    REPLICATE_KEYS,
    experiment_names,
    group_settings,
    metric_names,
    registered_experiments,
    varying_settings,
)
from kpdemo.dashboard.style import axis_label

PER_CONFIG = "configuration"  # colour/dash choice: one style per configuration (no single setting)
X_AXES = [("epoch", "epoch"), ("wall time (s)", "wall_time_s")]
SPLIT_CHOICES = [("train + val", "train,val"), ("val only", "val"), ("train only", "train")]


@dataclass
class Controls:
    """Choices and defaults of the per-experiment controls."""

    metrics: list[tuple[str, str]]
    colour_choices: list[str]
    dash_choices: list[str]
    facet_choices: list[str]
    runs: list[str]
    colour: str
    dash: str
    facet: str | None
    log_y: bool = False


def controls(runset: RunSet) -> Controls:
    """What the colour/dash/facet/metric controls offer for one experiment's runs, and sensible defaults.

    Defaults: one panel per model when models are compared alongside something else; colour by the first other
    compared setting, dash by a second one (else train vs val); a log y axis where the first metric's curves span
    more than :data:`LOG_SPAN` (the ``optimizers`` losses run from ~3 to ~0.001: on a linear axis every curve lies
    flat along the bottom).
    """
    settings = varying_settings(runset.runs)
    compared = group_settings(runset.runs)
    metrics = [(axis_label(m), m) for m in metric_names(runset.history)] or [("loss", "loss")]
    facet = "model" if "model" in compared and len(compared) > 1 else None
    rest = [c for c in compared if c != facet]
    colour = rest[0] if rest else PER_CONFIG
    dash = rest[1] if len(rest) > 1 else SPLIT
    return Controls(
        metrics=metrics,
        colour_choices=[PER_CONFIG, *settings, SPLIT],
        dash_choices=[SPLIT, *settings, PER_CONFIG],
        facet_choices=settings,
        runs=sorted(runset.runs["run"]),
        colour=colour,
        dash=dash,
        facet=facet,
        log_y=spans_decades(runset.history, metrics[0][1]),
    )


#: How many times its smallest value a metric's largest must be for the tab to start on a log y axis.
LOG_SPAN = 30.0


def spans_decades(history: pd.DataFrame, metric: str) -> bool:
    """Whether the train / val values of ``metric`` in ``history`` span more than :data:`LOG_SPAN` (positive
    values only: a log axis cannot show the others)."""
    columns = [c for c in (f"train_{metric}", f"val_{metric}") if c in history.columns]
    values = pd.to_numeric(history[columns].stack(), errors="coerce") if columns else pd.Series(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return bool(len(values)) and values.max() > LOG_SPAN * values.min()


def _setting(choice: str | None) -> str | None:
    return None if choice in (None, "", PER_CONFIG) else choice


def view(runset: RunSet, experiment: str | None, metric: str, colour: str, dash: str, splits: str, x: str,
         log_y: bool, smoothing: float, query: str, selected: list[str], facet: str | None,
         ) -> tuple[go.Figure, go.Figure | None, pd.DataFrame, str]:
    """(curves, small multiples or None, runs table, message) for the current control values."""
    if not experiment:
        empty = RunSet.load([])
        return curves_figure(empty, "no experiment"), None, runs_table(empty), "No run records found."
    recorded = runset.experiment(experiment)
    message = _summary(experiment, recorded)
    runs = recorded
    try:
        runs = filter_runs(recorded, query or "")
    except FilterError as exc:
        message = f"**Filter ignored:** {exc}"
    table = runs_table(runs)
    shown = runs.experiment(experiment, selected)
    options = CurveOptions(metric=metric or "loss", colour_by=_setting(colour), dash_by=_setting(dash),
                           splits=tuple((splits or "train,val").split(",")), x=x or "epoch", log_y=bool(log_y),
                           smoothing=float(smoothing or 0.0))
    if shown.runs.empty and not recorded.runs.empty:  # not "no runs yet": the filter or the selection hides them
        why = (f"None of the {len(recorded.runs)} runs matches the filter '{query}'." if runs.runs.empty else
               "None of the selected runs is among these runs: clear the selection.")
        return empty_figure(experiment, why), None, table, f"{message} {why}"
    curves = curves_figure(shown, experiment, options)
    panels = small_multiples_figure(shown, experiment, facet, options) if facet else None
    return curves, panels, table, message


def _summary(experiment: str, runs: RunSet) -> str:
    description = registered_experiments().get(experiment, "")
    status = runs.runs["status"].value_counts().to_dict() if len(runs.runs) else {}
    counts = ", ".join(f"{n} {s}" for s, n in status.items()) or "no runs yet"
    replicates = [k for k in REPLICATE_KEYS if k in varying_settings(runs.runs)]
    band = f" Runs differing only in {' / '.join(replicates)} are drawn as a mean with a min-max band." \
        if replicates else ""
    return f"**{experiment}**{': ' + description if description else ''} ({counts}).{band}"


def toggle_run(selected: list[str] | None, evt: gr.SelectData) -> tuple[list[str], str]:
    """Clicking a table row adds its run to the selection (or removes it if already selected) and picks it for the
    held-out predictions: (runs shown, run picked)."""
    run = str(evt.row_value[0])
    selected = list(selected or [])
    return ([r for r in selected if r != run] if run in selected else [*selected, run]), run


def predictions(runset: RunSet, experiment: str | None, run: str | None,
                ) -> tuple[list[tuple[np.ndarray, str]], pd.DataFrame, str]:
    """(gallery, NME per region, message) of one run's best checkpoint on its held-out test faces.

    A run without a checkpoint, or whose test data is not on this machine, gets the reason as the message.
    """
    empty = pd.DataFrame(columns=REGION_COLUMNS)
    if not experiment or not run:
        return [], empty, "Pick a run (above, or click its row in the table) to see its held-out predictions."
    rows = runset.runs[(runset.runs["experiment"] == experiment) & (runset.runs["run"] == run)]
    if rows.empty:
        return [], empty, f"No run {run!r} in {experiment}: press Refresh records."
    try:
        result = run_predictions(rows.iloc[0]["dir"])
    except PredictionsUnavailable as exc:
        return [], empty, f"**{run}**: {exc}"
    return result.gallery, result.regions, f"**{run}**: {result.summary}"


def build_experiments_tab() -> gr.Tab:
    """The Experiments tab (call inside ``gr.Blocks``/``gr.Tabs``); returns the tab."""
    with gr.Tab("Experiments") as tab:
        records = gr.State()
        gr.Markdown("Compare training runs: shipped runs (`checkpoints/runs`) and your own runs (Train tab). "
                    "Click table rows to pick runs; an empty selection shows all.")
        with gr.Row():
            experiment = gr.Dropdown(label="Experiment", scale=3)
            refresh = gr.Button("Refresh records", scale=1)
        message = gr.Markdown(elem_id="experiments-status")
        with gr.Row():
            metric = gr.Dropdown(label="Metric")
            colour = gr.Dropdown(label="Colour by")
            dash = gr.Dropdown(label="Dash by")
            splits = gr.Radio(SPLIT_CHOICES, value="train,val", label="Curves")
            x = gr.Radio(X_AXES, value="epoch", label="X axis")
        with gr.Row():
            log_y = gr.Checkbox(label="Log scale (y)", value=False)
            smoothing = gr.Slider(0, 0.95, value=0.0, step=0.05, label="Smoothing (EMA weight)")
            query = gr.Textbox(label="Filter runs", placeholder="e.g.  adam  lr<0.01  status=done")
        selected = gr.Dropdown(label="Runs shown (empty = all)", multiselect=True)
        # No component label: it would sit over the figure's own title.
        curves = gr.Plot(label="Curves", show_label=False, elem_id="experiments-curves")
        facet = gr.Dropdown(label="Small multiples: one panel per")
        panels = gr.Plot(label="Small multiples", show_label=False, elem_id="experiments-panels")
        table = gr.Dataframe(label="Runs (click a row to select it and see its predictions)", interactive=False,
                             max_height=400, elem_id="experiments-table")
        gr.Markdown("### Held-out predictions\nThe picked run's best checkpoint on test faces it never saw "
                    "(computed on first pick, a few seconds; then cached).")
        run = gr.Dropdown(label="Run", elem_id="experiments-run")
        picked = gr.Markdown(elem_id="experiments-predictions-status")
        with gr.Row():
            gallery = gr.Gallery(label="Test faces, best to worst (green: truth, red: prediction)", columns=4,
                                 height="auto", format="png", scale=3, elem_id="experiments-predictions")
            regions = gr.Dataframe(label="NME per region", interactive=False, scale=1, elem_id="experiments-regions")

        view_inputs = [records, experiment, metric, colour, dash, splits, x, log_y, smoothing, query, selected, facet]
        view_outputs = [curves, panels, table, message]

        def reload(current: str | None) -> tuple:
            runset = RunSet.load()
            names = experiment_names(runset, registered_experiments())
            value = current if current in names else (names[0] if names else None)
            return runset, gr.Dropdown(choices=names, value=value)

        def pick_experiment(runset: RunSet, name: str | None) -> tuple:
            c = controls(runset.experiment(name) if name else RunSet.load([]))
            return (gr.Dropdown(choices=c.metrics, value=c.metrics[0][1]),
                    gr.Dropdown(choices=c.colour_choices, value=c.colour),
                    gr.Dropdown(choices=c.dash_choices, value=c.dash),
                    gr.Dropdown(choices=c.facet_choices, value=c.facet),
                    gr.Dropdown(choices=c.runs, value=[]),
                    gr.Dropdown(choices=c.runs, value=None),
                    gr.Checkbox(value=c.log_y))

        setup = [metric, colour, dash, facet, selected, run, log_y]
        show = ([records, experiment, run], [gallery, regions, picked])
        # Reread records on page load, on entering the tab and on Refresh, so newly trained runs appear.
        page = Context.root_block
        reread = [tab.select, refresh.click] + ([page.load] if page is not None else [])
        ui = {"api_visibility": "private"}  # UI plumbing, not an API: the figures come from kpdemo.dashboard
        shown = {**ui, "concurrency_limit": 1, "concurrency_id": "run-predictions"}  # each runs a whole test split
        gr.on(reread, reload, experiment, [records, experiment], **ui).then(
            pick_experiment, [records, experiment], setup, **ui).then(view, view_inputs, view_outputs, **ui).then(
            predictions, *show, **shown)
        experiment.input(pick_experiment, [records, experiment], setup, **ui).then(
            view, view_inputs, view_outputs, **ui).then(predictions, *show, **shown)
        redraw = [c.input for c in (metric, colour, dash, splits, x, log_y, selected, facet)]
        gr.on([*redraw, smoothing.release, query.submit], view, view_inputs, view_outputs, **ui)
        table.select(toggle_run, selected, [selected, run], **ui).then(view, view_inputs, view_outputs, **ui).then(
            predictions, *show, **shown)
        run.input(predictions, *show, **shown)
    return tab
