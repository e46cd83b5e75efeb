"""Experiments tab in a real browser: the training-curve figure renders with one trace per expected line, for the
default experiment and after picking another one in the Experiment dropdown; a picked run shows its held-out
predictions (a gallery and NME per region), or says why it has none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.browser import choose, open_tab, wait_for_value

from .ui import fetch_image, plotly_trace_count, wait_for_text

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


def test_curves_render(page, app_runs_dir):
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


SHIPPED = "landmarks"  # the shipped experiment whose chosen runs keep their checkpoints (checkpoints/*.pt)


def shipped_runs(with_checkpoint: bool) -> list[str]:
    """Runs of the shipped landmarks experiment whose record points to a checkpoint file that exists (or not)."""
    from kpdemo.config import SHIPPED_RUNS_DIR
    from kpdemo.runs import read_record

    runs = []
    for run_dir in sorted((SHIPPED_RUNS_DIR / SHIPPED).iterdir()):
        checkpoint = read_record(run_dir).get("checkpoint")
        if bool(checkpoint and (run_dir / checkpoint).exists()) == with_checkpoint:
            runs.append(run_dir.name)
    return runs


def open_landmarks(page) -> None:
    """Open the Experiments tab and pick the shipped landmarks experiment once the records are loaded."""
    open_tab(page, "Experiments")
    wait_for_text(page, "#experiments-status", r"\S")  # the first view is drawn: the dropdowns have their choices
    choose(page, "Experiment", SHIPPED, exact=True)
    wait_for_text(page, "#experiments-status", f"^{SHIPPED}")


def test_run_without_checkpoint_says_why(page):
    bare = shipped_runs(with_checkpoint=False)
    assert bare, f"every shipped {SHIPPED} run has a checkpoint: nothing to test"
    open_landmarks(page)
    choose(page, "Run", bare[0], exact=True)
    status = wait_for_text(page, "#experiments-predictions-status", "kept no checkpoint")
    assert status.startswith(bare[0])
    assert page.locator("#experiments-predictions img").count() == 0


@pytest.mark.needs_data
def test_picked_run_shows_held_out_predictions(page, save_screenshot):
    from kpdemo.dashboard.predictions import GALLERY_SIZE
    from kpdemo.draw import POINT_COLOUR, TRUTH_COLOUR

    kept = shipped_runs(with_checkpoint=True)
    assert kept, f"no shipped {SHIPPED} run keeps a checkpoint"
    run = next((r for r in kept if r.startswith("imm73")), kept[0])  # the smallest test split: 20 faces
    open_landmarks(page)
    page.locator("#experiments-table").get_by_text(run, exact=True).click()  # a click in the runs table picks it
    status = wait_for_text(page, "#experiments-predictions-status", "NME .*green: truth, red: prediction")
    assert status.startswith(run)
    faces = page.locator("#experiments-predictions img")
    faces.first.wait_for()
    assert faces.count() == GALLERY_SIZE
    face = fetch_image(page, faces.first)
    for colour in (TRUTH_COLOUR, POINT_COLOUR):
        assert (face == np.array(colour, np.uint8)).all(axis=2).sum() > 15, f"no {colour} points on the face"
    regions = page.locator("#experiments-regions").inner_text()
    assert "jaw" in regions and "all points" in regions
    page.locator("#experiments-predictions").scroll_into_view_if_needed()
    save_screenshot(page, "experiments")
