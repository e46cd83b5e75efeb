"""Experiments tab in a real browser: the training-curve figure renders with one trace per expected line, for the
default experiment and after picking another one in the Experiment dropdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from .ui import choose, open_tab, plotly_trace_count, wait_for_value

pytestmark = pytest.mark.browser


def expected_traces(runs_root: Path) -> dict[str, int]:
    """Experiment -> trace count of its default curve figure, in dropdown order, from the records the app reads.

    Uses the tab's own :func:`view` with the controls' defaults, so the browser must show what the code computes.
    """
    from kpdemo.config import SHIPPED_RUNS_DIR
    from kpdemo.dashboard import RunSet, experiment_names, registered_experiments
    from kpdemo.ui.experiments import controls, view  # imports Gradio: only when the browser tests really run

    runset = RunSet.load([SHIPPED_RUNS_DIR, runs_root])
    recorded = set(runset.runs["experiment"])
    counts = {}
    for name in experiment_names(runset, registered_experiments()):
        if name not in recorded:
            continue
        c = controls(runset.experiment(name))
        curves, *_ = view(runset=runset, experiment=name, metric=c.metrics[0][1], colour=c.colour, dash=c.dash,
                          splits="train,val", x="epoch", log_y=False, smoothing=0.0, query="", selected=[],
                          facet=c.facet)
        counts[name] = len(curves.data)
    return counts


def test_curves_render(page, app_runs_dir, save_screenshot):
    panel = open_tab(page, "Experiments")  # first: the app loads the records while this process computes the same
    traces = expected_traces(app_runs_dir)
    assert traces, f"no run records under {app_runs_dir}"
    experiment = panel.get_by_label("Experiment", exact=True)

    default = next(iter(traces))
    wait_for_value(experiment, default)
    assert plotly_trace_count(page, "#experiments-curves", expect=traces[default]) == traces[default]

    richest = max(traces, key=traces.get)  # the user picks the experiment with the most curves
    assert traces[richest] > 0, f"no experiment under {app_runs_dir} has curves: {traces}"
    if richest != default:
        choose(page, "Experiment", richest, exact=True)
        assert plotly_trace_count(page, "#experiments-curves", expect=traces[richest]) == traces[richest]
    save_screenshot(page, "experiments")
