"""Dashboard figures, tables and the Experiments tab on the committed FIXTURE run records (no data, no training).

The fixtures (tests/fixtures/runs, written by tests/make_fixture_runs.py) hold: ``optimizers`` (2 models x 3
optimizers x 2 lrs), ``init`` (2 models x 2 inits), ``cv`` (2 augmentations x 3 folds) and ``imm_nose`` (NME metric,
one run still ``running`` with 3 of 6 epochs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import pytest

from kpdemo.dashboard import CurveOptions, FilterError, RunSet, curves_figure, ema, filter_runs, runs_table
from kpdemo.dashboard.curves import curve_series, small_multiples_figure
from kpdemo.dashboard.records import (
    experiment_names,
    group_settings,
    metric_names,
    telling_settings,
    varying_settings,
)
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


def test_a_legend_names_the_settings_that_tell_lines_apart_not_those_that_move_with_them() -> None:
    """A grid run at two budgets: the device, data subset and precision came with the epochs, so the legend names
    the model and the epochs; a setting that varies on its own (the lr here) stays; a tag beats what it stands
    for."""
    runs = pd.DataFrame({"run": list("abcdef"), "model": ["convnet", "simplenet"] * 3,
                         "device": ["auto", "auto", "cuda", "cuda", "cuda", "cuda"],
                         "train_subset": [1500, 1500, 0, 0, 0, 0], "epochs": [6, 6, 500, 500, 500, 500],
                         "lr": [0.01, 0.01, 0.01, 0.01, 0.001, 0.001]})
    assert telling_settings(runs, ["model", "device", "train_subset", "epochs", "lr"]) == ["model", "epochs", "lr"]
    heads = pd.DataFrame({"run": ["seed", "compact"], "model_kwargs": ["{}", "{'hidden': 256}"],
                          "tag": ["seed_head", "compact"]})
    assert telling_settings(heads, ["model_kwargs", "tag"]) == ["tag"]
    assert telling_settings(runs, []) == []
    # and the subtitle, which names what every run shares, leaves out a setting only some runs have
    runs["context"] = pd.array([pd.NA, pd.NA, 1, 1, 1, 1], dtype="Int64")
    runs["seed"] = 0
    history = pd.DataFrame({"run": list("abcdef"), "epoch": 1, "train_loss": 1.0, "val_loss": 1.0})
    fig = curves_figure(RunSet(runs, history), "grid")
    assert "seed=0" in fig.layout.title.subtitle.text and "context" not in fig.layout.title.subtitle.text
    assert "model=convnet, epochs=500, lr=0.001 · val" in [t.name for t in lines(fig)]


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
    # a grid-trained run's environment names the runs trained beside it: free text does not look there
    beside = RunSet(opt.runs.assign(env_grid_group=json.dumps(sorted(opt.runs["run"]))), opt.history)
    assert len(filter_runs(beside, "adam").runs) == 4
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
    # a filter or a selection that hides every run says so, not "No runs recorded yet"
    curves, _, table, message = tab.view(records, "optimizers", "loss", "configuration", "split", "train,val",
                                         "epoch", False, 0.0, "zzzz", [], None)
    assert len(table) == 0 and "runs matches the filter 'zzzz'" in message
    assert "matches the filter" in curves.layout.annotations[0].text
    curves, _, _, message = tab.view(records, "optimizers", "loss", "configuration", "split", "train,val", "epoch",
                                     False, 0.0, "", ["no-such-run"], None)
    assert "None of the selected runs" in curves.layout.annotations[0].text


def test_a_setting_older_records_lack_is_not_offered_as_what_a_grid_compares() -> None:
    """Records written before a setting existed lack it (they ran at its default): the defaults of the colour and
    dash menus are the settings the runs really differ in, and the figure draws what the menus say."""
    runs = pd.DataFrame({"run": list("abcd"), "model": ["convnet", "simplenet"] * 2,
                         "init": ["zeros"] * 2 + ["xavier"] * 2, "epochs": [6, 6, 6, 6],
                         "context": [np.nan, np.nan, 1.0, 1.0]})
    history = pd.DataFrame({"run": list("abcd"), "epoch": 1, "train_loss": 1.0, "val_loss": 1.0})
    assert varying_settings(runs) == ["model", "init"]
    controls = tab.controls(RunSet(runs, history))
    assert (controls.facet, controls.colour, controls.dash) == ("model", "init", "split")  # not "context"
    fig = curves_figure(RunSet(runs, history), "grid", CurveOptions(colour_by=controls.colour, dash_by=controls.dash))
    assert fig.layout.legend.title.text == "colour: init<br>dash: split"


def test_the_tab_starts_on_a_log_axis_where_the_curves_span_decades() -> None:
    """Losses from ~3 down to ~0.001 (the GPU optimizers grid) lie flat along a linear axis's bottom."""
    wide = pd.DataFrame({"run": ["a", "a", "b"], "epoch": [1, 2, 1], "train_loss": [3.0, 0.01, 0.5],
                         "val_loss": [2.0, 0.001, np.nan]})
    narrow = wide.assign(train_loss=[0.5, 0.2, 0.3], val_loss=[0.4, 0.25, -1.0])
    assert tab.spans_decades(wide, "loss") and not tab.spans_decades(narrow, "loss")
    assert not tab.spans_decades(wide, "rmse_px")  # no such column: nothing to span
    runs = pd.DataFrame({"run": ["a", "b"], "lr": [0.1, 0.01]})
    assert tab.controls(RunSet(runs, wide)).log_y and not tab.controls(RunSet(runs, narrow)).log_y


def test_table_click_toggles_selection() -> None:
    def click(run: str) -> gr.SelectData:
        return gr.SelectData(None, {"index": [0, 0], "value": run, "row_value": [run, "done"]})

    assert tab.toggle_run([], click("a")) == (["a"], "a")  # (runs shown, run picked for its predictions)
    assert tab.toggle_run(["a", "b"], click("a")) == (["b"], "a")


def test_experiments_tab_builds() -> None:
    with gr.Blocks() as demo, gr.Tabs():
        built = tab.build_experiments_tab()
    assert isinstance(built, gr.Tab) and demo.fns


# Held-out predictions of a run: the shipped kaggle15 checkpoint on the committed fixture data (3 test faces).
SHIPPED_KAGGLE15 = Path(__file__).resolve().parents[1] / "checkpoints" / "kaggle15_pip.pt"


@pytest.fixture
def fixture_data(monkeypatch: pytest.MonkeyPatch, fixtures_dir: Path, tmp_path: Path) -> Path:
    """KPDEMO_DATA at the committed fixture datasets, derived caches in a temporary folder."""
    if not SHIPPED_KAGGLE15.exists():
        pytest.skip(f"{SHIPPED_KAGGLE15.name} not shipped")
    monkeypatch.setenv("KPDEMO_DATA", str(fixtures_dir / "data_root"))
    monkeypatch.setenv("KPDEMO_CACHE", str(tmp_path / "cache"))
    return fixtures_dir / "data_root"


def write_run(root: Path, name: str, checkpoint: str | None, status: str = "done") -> Path:
    """A run record as the trainers write it (``checkpoint`` relative to the run folder, or None)."""
    run_dir = root / "exp" / name
    run_dir.mkdir(parents=True)
    record = {"experiment": "exp", "name": name, "status": status, "config": {"dataset": "kaggle15"},
              "checkpoint": checkpoint}
    (run_dir / "record.json").write_text(json.dumps(record))
    return run_dir


def coloured_pixels(image: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((image == np.array(colour, np.uint8)).all(axis=2).sum())


def test_run_predictions_show_held_out_faces_best_to_worst(fixture_data: Path, tmp_path: Path) -> None:
    from kpdemo.dashboard.predictions import DISPLAY_SIDE, REGION_COLUMNS, run_predictions
    from kpdemo.draw import POINT_COLOUR, TRUTH_COLOUR
    from trainers.tools.evaluate import evaluate_checkpoint

    run_dir = write_run(tmp_path / "runs", "k15", "best.pt")
    shutil.copyfile(SHIPPED_KAGGLE15, run_dir / "best.pt")
    result = run_predictions(run_dir)

    assert "kaggle15 test (3 faces, 96x96 crops)" in result.summary
    assert "green: truth, red: prediction" in result.summary
    assert len(result.gallery) == 3  # fewer test faces than the gallery's size: all of them
    errors = [float(re.search(r"NME ([\d.]+)%", caption).group(1)) for _, caption in result.gallery]
    assert errors == sorted(errors), "faces are not ordered best to worst"
    assert result.gallery[0][1].endswith("(best)") and result.gallery[-1][1].endswith("(worst)")
    for image, caption in result.gallery:
        assert image.shape == (DISPLAY_SIDE, DISPLAY_SIDE, 3), caption
        assert coloured_pixels(image, TRUTH_COLOUR) > 15 and coloured_pixels(image, POINT_COLOUR) > 15, caption

    # the region errors are the held-out evaluation's (bench/checkpoint_eval.py), not a second computation
    metrics = evaluate_checkpoint(run_dir / "best.pt")
    table = result.regions.set_index("region")
    assert list(result.regions.columns) == REGION_COLUMNS
    assert list(table.index) == ["eyes", "brows", "nose", "mouth", "all points"]
    for region in ("eyes", "brows", "nose", "mouth"):
        assert table.loc[region, "NME (%)"] == pytest.approx(100 * metrics[f"nme_{region}"], abs=0.006)
    assert table.loc["all points", "NME (%)"] == pytest.approx(100 * metrics["nme"], abs=0.006)
    assert table.loc["all points", "points"] == 15


def test_run_predictions_are_cached_per_checkpoint_version(fixture_data: Path, tmp_path: Path) -> None:
    from kpdemo.dashboard.predictions import run_predictions

    run_dir = write_run(tmp_path / "runs", "k15", "best.pt")
    shutil.copyfile(SHIPPED_KAGGLE15, run_dir / "best.pt")
    first = run_predictions(run_dir)
    assert run_predictions(run_dir) is first
    stat = (run_dir / "best.pt").stat()
    os.utime(run_dir / "best.pt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the run wrote a better epoch
    again = run_predictions(run_dir)
    assert again is not first and again.summary == first.summary


def test_runs_that_cannot_show_predictions_say_why(fixture_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from kpdemo.dashboard.predictions import PredictionsUnavailable, run_predictions

    root = tmp_path / "runs"
    cases = {
        write_run(root, "none", None, status="failed"): "kept no checkpoint (status: failed)",
        write_run(root, "retired", "../../../gone.pt"): "checkpoint gone.pt is not in this checkout",
        write_run(root, "foreign", "best.pt"): "best.pt cannot be evaluated as a landmark model",
        write_run(root, "training", None, status="running"): "is still training",
    }
    (root / "exp" / "foreign" / "best.pt").write_text("not a checkpoint")
    image_model = write_run(root, "faces", "best.pt")  # a frontalize run: its grid has a runner of its own
    (image_model / "record.json").write_text(json.dumps({"experiment": "frontalize", "checkpoint": "best.pt"}))
    cases[image_model] = "trains an image-to-image model, not landmarks"
    for run_dir, message in cases.items():
        with pytest.raises(PredictionsUnavailable, match=re.escape(message)):
            run_predictions(run_dir)

    missing = write_run(root, "k15", "best.pt")
    shutil.copyfile(SHIPPED_KAGGLE15, missing / "best.pt")
    monkeypatch.setenv("KPDEMO_DATA", str(tmp_path / "no_data"))
    with pytest.raises(PredictionsUnavailable, match="not on this machine: missing dataset file: .*KPDEMO_DATA"):
        run_predictions(missing)


def test_experiments_tab_predictions_for_a_picked_run(fixture_data: Path, tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "runs", "k15", "best.pt")
    shutil.copyfile(SHIPPED_KAGGLE15, run_dir / "best.pt")
    write_run(tmp_path / "runs", "bare", None)
    runset = RunSet.load([tmp_path / "runs"])

    gallery, regions, message = tab.predictions(runset, "exp", "k15")
    assert len(gallery) == 3 and len(regions) == 5 and message.startswith("**k15**: `best.pt` on kaggle15 test")
    gallery, regions, message = tab.predictions(runset, "exp", "bare")
    assert gallery == [] and regions.empty and "kept no checkpoint" in message
    assert "Pick a run" in tab.predictions(runset, "exp", None)[2]
    assert "No run 'gone' in exp" in tab.predictions(runset, "exp", "gone")[2]
