"""The Train tab: form validation, the missing-dataset message, and one real (tiny) background training.

The real run uses the trainers' own ``run_config`` on ``kaggle15`` (a SimpleNet, 2 epochs on 64 images), so it
needs the datasets; it checks the one-at-a-time lock, live rows, stopping, and that the finished run is where the
Experiments tab and the predictor registry look.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest

from kpdemo.dashboard import RunSet
from kpdemo.datasets import DatasetSpec
from kpdemo.detection.registry import predictor_choices
from kpdemo.runs import read_record
from kpdemo.ui import train as tab
from trainers.engine.config import TrainConfig
from trainers.engine.job import Snapshot, TrainingBusyError, TrainingJob
from trainers.grids import EXPERIMENTS

DEFAULT = "adhoc / default settings"


def form_values(config: TrainConfig) -> list:
    return [getattr(config, name) for name in tab.FORM_FIELDS]


def test_missing_dataset_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KPDEMO_DATA", str(tmp_path))
    problem = tab.dataset_problem("kaggle15")
    assert problem is not None and str(tmp_path) in problem and "KPDEMO_DATA" in problem
    status, started = tab.start(DEFAULT, *form_values(TrainConfig()))
    assert status.startswith("**Error:** Dataset kaggle15 cannot be read") and not started
    assert tab.JOB.snapshot().state == "idle"
    assert "unknown dataset 'nope'" in tab.dataset_problem("nope")


def test_form_values_become_a_typed_config() -> None:
    values = form_values(TrainConfig())
    values[tab.FORM_FIELDS.index("epochs")] = 3.0  # gr.Number gives floats
    values[tab.FORM_FIELDS.index("lr")] = "0.01"
    config = tab.config_from_form(DEFAULT, *values)
    assert config.epochs == 3 and isinstance(config.epochs, int) and config.lr == 0.01

    def bad(field: str, value: object) -> str:
        broken = list(values)
        broken[tab.FORM_FIELDS.index(field)] = value
        with pytest.raises(ValueError) as info:
            tab.config_from_form(DEFAULT, *broken)
        return str(info.value)

    assert "whole number" in bad("epochs", 2.5)
    assert "lr must be above 0" in bad("lr", 0)
    assert "lr expects a float, got 'abc'" in bad("lr", "abc")
    assert "experiment name" in bad("experiment", "../escape")
    assert "batch_size is empty" in bad("batch_size", None)
    assert "Check the settings: device is empty" in tab.start(DEFAULT, *[*values[:-1], ""])[0]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("epochs", 0, "epochs must be at least 1, got 0"), ("batch_size", 0, "batch_size must be at least 1, got 0"),
    ("lr", -1, "lr must be above 0, got -1.0"), ("epochs", 2.5, "epochs expects an int (a whole number), got '2.5'"),
    ("batch_size", 16.5, "batch_size expects an int (a whole number)"),
    ("train_subset", -5, "train_subset is a number of images (0 = all of them), got -5"),
    ("eval_subset", 0.5, "eval_subset expects an int (a whole number)"),
])
def test_an_out_of_range_number_is_refused_by_name(field: str, value: float, message: str) -> None:
    """The form's number boxes hand the value over as typed (Gradio's own bound check named no field and logged a
    traceback; its rounding took 2.5 epochs as 2), and start() refuses it naming the field."""
    with gr.Blocks():
        form = tab.build_form()
    assert form[field].preprocess(value) == value
    values = form_values(TrainConfig())
    values[tab.FORM_FIELDS.index(field)] = value
    status, started = tab.start(DEFAULT, *values)
    assert status.startswith(f"**Error:** Check the settings: {message}") and not started, status
    assert tab.JOB.snapshot().state == "idle"


def test_a_refusal_stays_in_the_status_box(fixtures_dir: Path) -> None:
    """A refused start or import answers with the reason as the status text (a raised gr.Error's toast faded and left
    an "Error" badge over the previous run's text), and the page then neither follows the job, whose previous run's
    text would replace the reason, nor changes the selected dataset."""
    values = form_values(TrainConfig())
    values[tab.FORM_FIELDS.index("epochs")] = 0
    status, started = tab.start(DEFAULT, *values)
    assert status == "**Error:** Check the settings: epochs must be at least 1, got 0" and not started
    assert list(tab.follow_started(False)) == [(gr.skip(), gr.skip())]

    status, dataset = tab.import_dataset(str(fixtures_dir / "uploads" / "ibug_wrong_count.zip"), "")
    assert status.startswith("**Error:** ibug_wrong_count.zip: faces/astro_2.pts: 67 points") and dataset == ""
    assert "value" not in tab.select_dataset(dataset)
    status, dataset = tab.import_dataset(None, "")
    assert status.startswith("**Error:** Choose a file first") and dataset == ""


def test_a_run_on_another_dataset_than_its_presets_gets_a_folder_of_its_own(tmp_path: Path) -> None:
    """The run name (its folder) holds the settings that tell a grid's runs apart, never the dataset or the batch
    size: a run on another one carries it in its name (the CLI's rule), and a start that replaces an earlier run of
    the same name says so."""
    values = form_values(TrainConfig())
    values[tab.FORM_FIELDS.index("dataset")] = "ibug300w"
    other = tab.config_from_form(DEFAULT, *values)
    plain = tab.config_from_form(DEFAULT, *form_values(TrainConfig()))
    assert other.run_name() == f"ibug300w_{plain.run_name()}" and plain.variant == ""
    values[tab.FORM_FIELDS.index("batch_size")] = 16
    assert tab.config_from_form(DEFAULT, *values).run_name() == f"ibug300w_b16_{plain.run_name()}"
    tagged = next(k for k, c in tab.presets().items() if c.tag and c.dataset != "ibug300w")
    values = form_values(tab.presets()[tagged])
    values[tab.FORM_FIELDS.index("dataset")] = "ibug300w"
    preset = tab.presets()[tagged]
    assert tab.config_from_form(tagged, *values).run_name() == preset.run_name().replace(
        preset.tag, f"{preset.tag}_ibug300w", 1)

    run_dir = tmp_path / "run"
    assert tab.replaced_run(run_dir, plain) == ""
    run_dir.mkdir()
    (run_dir / "record.json").write_text(json.dumps({"config": replace(plain, batch_size=16).to_dict()}))
    assert "replaces the earlier run of that name (batch_size 16 -> 64)" in tab.replaced_run(run_dir, plain)
    (run_dir / "record.json").write_text(json.dumps({"config": plain.to_dict()}))
    assert "(the same settings)" in tab.replaced_run(run_dir, plain)


def test_an_image_to_image_preset_trains_with_its_own_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frontalize or polygons preset is not a landmark model: its grid's runner trains it, not run_config (which
    refused its model); on a server without a GPU, asking for CUDA is refused in the tab's words."""
    preset = next(k for k, c in tab.presets().items() if c.experiment == "polygons")
    assert tab.preset_runner(preset) is EXPERIMENTS["polygons"].runner and tab.preset_runner(DEFAULT) is None
    config = tab.config_from_form(preset, *form_values(tab.presets()[preset]))  # its model passes the form's check
    started = []
    monkeypatch.setattr(tab.JOB, "start", lambda config, seconds, trainer, note="": started.append((config, trainer)))
    assert tab.start(preset, *form_values(config))[1]
    assert started == [(config, EXPERIMENTS["polygons"].runner)]
    if not tab.torch.cuda.is_available():
        values = form_values(config)
        values[tab.FORM_FIELDS.index("device")] = "cuda"
        assert "This server has no CUDA GPU" in tab.start(preset, *values)[0]


def test_every_preset_can_start_from_the_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each preset's values are among its form component's choices and pass the component's own check (a frontalize
    or polygons preset's image model and the drawn polygons data were missing: "not in the list of choices"), and
    start() takes them. Registered datasets count as present (their files are not under test); drawn ones need none."""
    with gr.Blocks():
        form = tab.build_form()
    monkeypatch.setattr(DatasetSpec, "missing_files", lambda self: [])
    started = []
    monkeypatch.setattr(tab.JOB, "start", lambda config, seconds, trainer, note="": started.append(config))
    for name, config in tab.presets().items():
        for field, value in zip(tab.FORM_FIELDS, form_values(config), strict=True):
            component = form[field]
            if isinstance(component, gr.Dropdown):
                assert value in [v for _, v in component.choices], (name, field, value)
            assert component.preprocess(value) == value, (name, field, value)
        message, ok = tab.start(name, *form_values(config))
        assert ok and message.startswith("Started"), (name, message)
    assert len(started) == len(tab.presets())


def test_a_preset_is_refused_data_its_trainer_would_not_read() -> None:
    """An image-to-image grid reads its own data, and a landmark model cannot learn from drawn triangles; a model of
    the other kind is named as such."""
    polygons = next(k for k, c in tab.presets().items() if c.experiment == "polygons")
    values = form_values(tab.presets()[polygons])

    def refused(preset: str, field: str, value: object) -> str:
        changed = form_values(tab.presets()[preset]) if preset == DEFAULT else list(values)
        changed[tab.FORM_FIELDS.index(field)] = value
        with pytest.raises(ValueError) as info:
            tab.config_from_form(preset, *changed)
        return str(info.value)

    assert "the polygons presets train on their own data (polygons), not on kaggle15" in refused(
        polygons, "dataset", "kaggle15")
    assert "dataset polygons is drawn for an image-to-image model" in refused(DEFAULT, "dataset", "polygons")
    assert "model 'light' is for an image-to-image model" in refused(DEFAULT, "model", "light")
    assert "model 'simplenet' is for a landmark model; an image-to-image model" in refused(
        polygons, "model", "simplenet")
    assert "unknown loss 'nope'" in refused(polygons, "loss", "nope")
    assert "presets) trains with optimizer 'adam' only" in refused(
        polygons, "optimizer", "sgd")  # its trainer always uses Adam: an "sgd" run would be Adam under another name
    assert "augmentation 'flip'" in refused(polygons, "augmentation", "flip")
    assert tab.dataset_problem("polygons") is None


def test_presets_cover_every_experiment_config() -> None:
    presets = tab.presets()
    assert len(presets) == 1 + sum(len(e.configs) for e in EXPERIMENTS.values())
    name, experiment = next(iter(EXPERIMENTS.items()))
    assert presets[f"{name} / {experiment.configs[0].run_name()}"] == experiment.configs[0]


def test_watch_when_idle_reports_once() -> None:
    updates = list(tab.watch())
    assert len(updates) == 1 and "No training started" in updates[0][1]
    assert "Press Start training" in updates[0][0].layout.annotations[0].text  # not the Experiments tab's hint


def test_a_started_run_says_its_curve_comes_with_the_first_epoch() -> None:
    config = replace(TrainConfig(), experiment="uitest")
    fig = tab.live_figure(Snapshot(state="running", config=config))
    assert fig.layout.title.text == f"uitest/{config.run_name()}"
    assert "first epoch" in fig.layout.annotations[0].text


@pytest.mark.needs_data
def test_background_training_lock_stop_and_record(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KPDEMO_RUNS", str(tmp_path))
    job = TrainingJob()
    monkeypatch.setattr(tab, "JOB", job)
    # enough images that an epoch outlasts the polling below, so the stop lands between epoch 1 and epoch 3
    config = replace(TrainConfig(), experiment="uitest", model="simplenet", epochs=3, train_subset=2048,
                     eval_subset=64, batch_size=32, device="cpu")
    job.start(config)
    with pytest.raises(TrainingBusyError, match="already running"):
        job.start(config)
    deadline = time.monotonic() + 240
    while not job.snapshot().rows and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.stop()
    updates = list(tab.watch())  # follows the job to its end
    snap = job.snapshot()
    assert snap.state == "stopped" and 1 <= len(snap.rows) < 3 and snap.fraction < 1
    assert "Training stopped" in updates[-1][1]
    names = [t.name for t in updates[-1][0].data]
    assert names == [f"{config.run_name()} · train", f"{config.run_name()} · val"]

    record = read_record(snap.run_dir)
    assert record["status"] == "stopped" and (snap.run_dir / record["checkpoint"]).is_file()
    assert snap.run_dir == tmp_path / "uitest" / config.run_name()
    runs = RunSet.load([tmp_path]).experiment("uitest")
    assert list(runs.runs["run"]) == [config.run_name()] and len(runs.history) == len(snap.rows)
    keys = [key for _, key in predictor_choices(refresh=True)]
    assert f"run:uitest/{config.run_name()}" in keys  # the app's predictor menus offer the new checkpoint
    assert not job.stop()  # nothing running any more
