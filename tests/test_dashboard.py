"""Dashboard figures, tables and the Experiments tab on the committed FIXTURE run records (no data, no training).

The fixtures (tests/fixtures/runs, written by tests/make_fixture_runs.py) hold: ``optimizers`` (2 models x 3
optimizers x 2 lrs), ``init`` (2 models x 2 inits), ``cv`` (2 augmentations x 3 folds) and ``imm_nose`` (NME metric,
one run still ``running`` with 3 of 6 epochs).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from kpdemo.dashboard import CurveOptions, FilterError, RunSet, curves_figure, ema, filter_runs, runs_table
from kpdemo.dashboard.curves import curve_series, small_multiples_figure
from kpdemo.dashboard.records import experiment_names, group_settings, metric_names, varying_settings
from kpdemo.dashboard.style import FIXED, axis_label, colour_map
from kpdemo.ui import experiments as tab

RUNS = Path(__file__).parent / "fixtures" / "runs"


@pytest.fixture(scope="module")
def records() -> RunSet:
    return RunSet.load([RUNS])


def lines(fig) -> list:  # noqa: ANN001 - a plotly Figure
    """The curve traces (not the invisible band edges)."""
    return [t for t in fig.data if not (t.name or "").endswith((" max", " min-max band"))]


def test_records_are_discovered(records: RunSet) -> None:
    assert experiment_names(records) == ["cv", "imm_nose", "init", "optimizers"]
    assert experiment_names(records, ["optimizers", "dropout"]) == ["optimizers", "cv", "imm_nose", "init", "dropout"]
    opt = records.experiment("optimizers")
    assert len(opt.runs) == 12 and set(opt.history["run"]) == set(opt.runs["run"])
    assert varying_settings(opt.runs) == ["model", "optimizer", "lr"]
    assert group_settings(records.experiment("cv").runs) == ["augmentation"]  # fold is a replicate key
    assert metric_names(opt.history) == ["loss", "rmse_px"]
    assert metric_names(records.experiment("imm_nose").history) == ["loss", "nme"]


def test_curves_one_line_per_config_and_split(records: RunSet) -> None:
    fig = curves_figure(records.experiment("optimizers"), "optimizers", CurveOptions(colour_by="optimizer"))
    names = [t.name for t in lines(fig)]
    assert len(names) == 12 * 2
    assert "model=convnet, optimizer=adam, lr=0.001 · val" in names
    assert "colour: optimizer" in fig.layout.legend.title.text
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "loss (mse)"
    assert fig.layout.title.text.startswith("optimizers: loss (mse) by epoch")
    adam = {t.line.color for t in lines(fig) if "optimizer=adam" in t.name}
    assert adam == {FIXED["adam"]}
    dashes = {t.name.rsplit(" · ", 1)[1]: t.line.dash for t in lines(fig)}
    assert dashes == {"train": "dash", "val": "solid"}


def test_colours_are_stable_across_figures(records: RunSet) -> None:
    opt = records.experiment("optimizers")
    full = curves_figure(opt, "optimizers", CurveOptions(colour_by="lr"))
    only_one = curves_figure(filter_runs(opt, "lr=0.01"), "optimizers", CurveOptions(colour_by="model"))
    panels = small_multiples_figure(opt, "optimizers", "optimizer", CurveOptions(colour_by="model"))

    def colour_of(fig, text: str) -> set[str]:  # noqa: ANN001
        return {t.line.color for t in lines(fig) if text in t.name}

    assert colour_of(only_one, "model=convnet") == colour_of(panels, "model=convnet") == {FIXED["convnet"]}
    assert len(colour_of(full, "lr=0.01")) == 1 and colour_of(full, "lr=0.01") != colour_of(full, "lr=0.001")


def test_colour_map_is_deterministic_and_distinct() -> None:
    values = ["0.1", "0.01", "0.001", "adam", "1e-05"]
    first, again = colour_map(values), colour_map(list(reversed(values)))
    assert first == again
    assert len(set(first.values())) == len(values)
    assert colour_map(["0.001"])["0.001"] == first["0.001"]  # the same value alone keeps its colour


def test_cv_folds_become_mean_and_band(records: RunSet) -> None:
    fig = curves_figure(records.experiment("cv"), "cv", CurveOptions(colour_by="augmentation"))
    bands = [t for t in fig.data if t.fill == "tonexty"]
    means = lines(fig)
    assert len(bands) == 4 and len(means) == 4  # 2 augmentations x (train, val)
    assert all("(mean of 3)" in t.name for t in means)
    series = curve_series(records.experiment("cv"), CurveOptions())
    for s in series:
        assert np.all(s.lo <= s.y + 1e-12) and np.all(s.y <= s.hi + 1e-12)
    # Colouring by the replicate key shows folds individually instead of averaging them.
    per_fold = curves_figure(records.experiment("cv"), "cv", CurveOptions(colour_by="fold"))
    assert not [t for t in per_fold.data if t.fill == "tonexty"] and len(lines(per_fold)) == 12


def test_log_axis_toggle(records: RunSet) -> None:
    runs = records.experiment("init")
    assert curves_figure(runs, "init", CurveOptions()).layout.yaxis.type == "linear"
    assert curves_figure(runs, "init", CurveOptions(log_y=True)).layout.yaxis.type == "log"
    panels = small_multiples_figure(runs, "init", "model", CurveOptions(log_y=True))
    assert {panels.layout[a].type for a in ("yaxis", "yaxis2")} == {"log"}


def test_smoothing_changes_values_not_length(records: RunSet) -> None:
    runs = records.experiment("optimizers")
    raw = lines(curves_figure(runs, "optimizers", CurveOptions()))
    smooth = lines(curves_figure(runs, "optimizers", CurveOptions(smoothing=0.8)))
    assert [len(t.y) for t in raw] == [len(t.y) for t in smooth]
    assert all(np.array_equal(a.x, b.x) for a, b in zip(raw, smooth, strict=True))
    assert any(not np.allclose(a.y, b.y) for a, b in zip(raw, smooth, strict=True))
    assert all(a.y[0] == pytest.approx(b.y[0]) for a, b in zip(raw, smooth, strict=True))  # debiased start


def test_ema() -> None:
    assert np.allclose(ema(np.full(5, 3.0), 0.9), 3.0)
    y = ema(np.array([1.0, np.nan, 3.0]), 0.5)
    assert np.isnan(y[1]) and y[0] == 1.0 and 1.0 < y[2] < 3.0
    assert np.array_equal(ema(np.array([1.0, 2.0]), 0.0), [1.0, 2.0])


def test_metric_and_wall_time_axis(records: RunSet) -> None:
    runs = records.experiment("imm_nose")
    fig = curves_figure(runs, "imm_nose", CurveOptions(metric="nme", x="wall_time_s"))
    assert len(lines(fig)) == 3  # val only: there is no train_nme column
    assert fig.layout.yaxis.title.text == "NME (fraction of inter-ocular distance)"
    assert fig.layout.xaxis.title.text == "wall time (s)"
    live = next(t for t in lines(fig) if "lr=0.0001" in t.name)
    expected = runs.history[runs.history["run"] == "mse-live"]["wall_time_s"].to_numpy()
    assert np.allclose(live.x, expected)


def test_small_multiples_one_panel_per_value(records: RunSet) -> None:
    fig = small_multiples_figure(records.experiment("optimizers"), "optimizers", "model",
                                 CurveOptions(colour_by="optimizer", splits=("val",)))
    assert [a.text for a in fig.layout.annotations] == ["model=convnet", "model=simplenet"]
    assert fig.layout.title.text.startswith("optimizers: val loss (mse) by model")
    shown = [t.name for t in fig.data if t.showlegend]
    assert len(shown) == len(set(shown)) == 6  # 3 optimizers x 2 lrs, each in the legend once
    assert len(lines(fig)) == 12


def test_empty_records_give_a_message(tmp_path: Path) -> None:
    fig = curves_figure(RunSet.load([tmp_path]), "nothing")
    assert "No runs recorded yet" in fig.layout.annotations[0].text
    assert list(runs_table(RunSet.load([tmp_path])).columns) == ["run", "status"]


def test_runs_table_and_filter(records: RunSet) -> None:
    opt = records.experiment("optimizers")
    table = runs_table(opt)
    assert list(table.columns[:5]) == ["run", "status", "model", "optimizer", "lr"]
    assert {"best_val_loss", "best_val_rmse_px", "epochs_logged"} <= set(table.columns)
    assert len(runs_table(filter_runs(opt, "adam"))) == 4
    assert sorted(filter_runs(opt, "optimizer=adam lr<0.005").runs["run"]) == [
        "convnet-adam-lr0.001", "simplenet-adam-lr0.001"]
    assert len(filter_runs(opt, "best_val_loss<0").runs) == 0
    with pytest.raises(FilterError, match="no column 'colour'"):
        filter_runs(opt, "colour=red")
    with pytest.raises(FilterError, match="not a number"):
        filter_runs(opt, "lr<small")
    live = runs_table(records.experiment("imm_nose")).set_index("run").loc["mse-live"]
    # the fixture run was left "running" when the fixtures were written; its heartbeat is long stale by now
    assert live["status"] == "stalled" and live["epochs_logged"] == 3


def test_axis_labels_have_units() -> None:
    assert axis_label("rmse_px") == "RMSE (px)"
    assert axis_label("wall_time_s") == "wall time (s)"
    assert axis_label("loss", "l1") == "loss (l1)"


def test_experiments_tab_view(records: RunSet) -> None:
    controls = tab.controls(records.experiment("optimizers"))
    assert (controls.facet, controls.colour, controls.dash) == ("model", "optimizer", "lr")
    assert controls.metrics == [("loss", "loss"), ("RMSE (px)", "rmse_px")]
    curves, panels, table, message = tab.view(records, "optimizers", "rmse_px", controls.colour, controls.dash,
                                              "val", "epoch", True, 0.5, "convnet", [], controls.facet)
    assert len(table) == 6 and "optimizers" in message
    assert len(lines(curves)) == 6 and curves.layout.yaxis.type == "log"
    assert panels is not None and len(panels.layout.annotations) == 1  # the filter left one model
    curves, _, _, message = tab.view(records, "optimizers", "loss", "configuration", "split", "train,val", "epoch",
                                     False, 0.0, "nosuch=1", ["convnet-adam-lr0.01"], None)
    assert "Filter ignored" in message and len(lines(curves)) == 2


def test_table_click_toggles_selection() -> None:
    def click(run: str) -> gr.SelectData:
        return gr.SelectData(None, {"index": [0, 0], "value": run, "row_value": [run, "done"]})

    assert tab.toggle_run([], click("a")) == ["a"]
    assert tab.toggle_run(["a", "b"], click("a")) == ["b"]


def test_experiments_tab_builds() -> None:
    with gr.Blocks() as demo, gr.Tabs():
        built = tab.build_experiments_tab()
    assert isinstance(built, gr.Tab) and demo.fns
