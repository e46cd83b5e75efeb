"""The Train tab: set up one run (from an experiment's config or by hand), train it in the background, watch it.

The server's one run is :data:`JOB`, a :class:`trainers.engine.job.TrainingJob` (why one background run per
server: see there); this tab only turns the form into a checked config, starts and stops the job, and polls it for a
progress bar and a live loss curve. The run is recorded by the trainers under :func:`kpdemo.config.runs_dir`, where
the Experiments tab and the app's predictor registry find it (record, history and ``best.pt`` checkpoint).

Visitors bring their own data: an uploaded Kaggle CSV or zip of labelled faces is validated and imported by
:mod:`kpdemo.datasets.uploads` and appears in the dataset menu as ``user_<name>``. On a public server
(:mod:`kpdemo.deployment`) each run is capped (epochs, images, wall time) and old user data is cleaned up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go
import torch

from kpdemo.dashboard import CurveOptions, RunSet, curves_figure, empty_figure
from kpdemo.datasets import DATASETS, get_dataset
from kpdemo.datasets.registry import refresh_imported
from kpdemo.datasets.uploads import Manifest, UploadError, import_upload, imported_folder
from kpdemo.deployment import Limits, cap_training, clean_user_area, current_limits
from kpdemo.models import INITS, MODELS
from kpdemo.models.autoencoder import FAMILIES
from kpdemo.runs import read_record
from kpdemo.training.augment import AUGMENTATIONS
from kpdemo.training.losses import POINT_LOSSES
from kpdemo.ui.common import UserError, report
from trainers.engine.config import OPTIMIZERS, SCHEDULES, TrainConfig, apply_overrides
from trainers.engine.data import cached_dataset
from trainers.engine.identity import with_variant
from trainers.engine.image_losses import IMAGE_LOSSES
from trainers.engine.job import Snapshot, Trainer, TrainingBusyError, TrainingJob
from trainers.engine.train import IMAGE_KIND, check_config
from trainers.grids import EXPERIMENTS, QUICK, own_datasets, own_runner

# The choices the landmark trainer accepts (make_optimizer / make_schedule / masked_loss / resolve_device).
LOSSES = tuple(dict.fromkeys([*POINT_LOSSES, *IMAGE_LOSSES]))  # landmark and image-to-image presets
DEVICES = ("auto", "cpu", "cuda")
# The config fields the form edits, in form order; the rest come from the chosen preset.
FORM_FIELDS = ("experiment", "dataset", "model", "init", "optimizer", "lr", "schedule", "loss", "augmentation",
               "dropout", "epochs", "batch_size", "train_subset", "eval_subset", "device")
POLL_S = 1.0
#: Longest experiment name a run may have: it names a folder, and the run folder inside holds its long run name.
MAX_EXPERIMENT_NAME = 64


JOB = TrainingJob()


def dataset_problem(name: str) -> str | None:
    """A user-facing message when the dataset is unknown or its files are missing; None when it can be read (or is
    drawn by its grid's runner, which needs no files)."""
    if name in own_datasets():
        return None
    try:
        spec = get_dataset(name)
    except KeyError as exc:
        return str(exc.args[0])
    missing = spec.missing_files()
    if missing:
        return (f"Dataset {name} cannot be read: missing {', '.join(str(p) for p in missing)}. "
                "Set KPDEMO_DATA to the folder that holds the datasets (see the README), then try again.")
    return None


def presets() -> dict[str, TrainConfig]:
    """Every config of every registered experiment, by ``experiment / run name``, after a plain default."""
    out = {"adhoc / default settings": TrainConfig()}
    for name, experiment in EXPERIMENTS.items():
        for config in experiment.configs:
            out[f"{name} / {config.run_name()}"] = config
    return out


def preset_runner(preset: str) -> Trainer | None:
    """The trainer of the preset's experiment when it has its own (image-to-image grids), else None (landmarks):
    the preset's, since the form may rename the experiment."""
    return own_runner(presets().get(preset, TrainConfig()).experiment)


def config_from_form(preset: str, *values: Any) -> TrainConfig:
    """The preset's config with the form's values, as ``key=value`` overrides (``ValueError`` if bad).

    Through :func:`~trainers.engine.config.apply_overrides`, so the form and ``--set`` convert and type-check a
    field's value in one place. A run on another dataset, batch size or evaluation subset than the preset's carries
    it in its name, by the CLI's rule (:func:`~trainers.engine.identity.with_variant`): the run name (its folder) is
    made of the settings that tell a grid's runs apart, which never include those, so two runs of one preset on two
    datasets would otherwise share a folder, and the second would silently replace the first."""
    base = presets().get(preset, TrainConfig())
    config = with_variant(base, apply_overrides(base, [f"{name}={form_text(name, value)}"
                                                       for name, value in zip(FORM_FIELDS, values, strict=True)]))
    if not config.experiment.replace("_", "").replace("-", "").isalnum():
        raise ValueError("experiment name: use letters, digits, - and _ only")
    if len(config.experiment) > MAX_EXPERIMENT_NAME:  # a folder name: 300 letters failed in the training thread
        raise ValueError(f"experiment name: at most {MAX_EXPERIMENT_NAME} characters, got {len(config.experiment)}")
    check_dataset_kind(base, config)
    check_config(config, landmarks=preset_runner(preset) is None)
    return config


def check_dataset_kind(base: TrainConfig, config: TrainConfig) -> None:
    """Refuse (``ValueError``) a dataset the preset's trainer would not read: an image-to-image grid's runner reads
    its own data whatever the form names (a frontalize run "on kaggle15" would train on YouTube-Faces pairs under
    another name), and a landmark model cannot learn from a grid's drawn images (polygons)."""
    if own_runner(base.experiment) is not None and config.dataset != base.dataset:
        raise ValueError(f"dataset: the {base.experiment} presets train on their own data ({base.dataset}), not on "
                         f"{config.dataset}")
    if own_runner(base.experiment) is None and config.dataset in own_datasets():
        raise ValueError(f"dataset {config.dataset} is drawn for {IMAGE_KIND}; a landmark model needs a dataset of "
                         "faces")


def form_text(name: str, value: Any) -> str:
    """A form value as the text of its ``key=value`` override: a number box gives floats, so a whole one (3.0) is
    written as the whole number it is, which an int field takes; an emptied box is refused by name."""
    if value is None or value == "":
        raise ValueError(f"{name} is empty")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def replaced_run(run_dir: Path, config: TrainConfig) -> str:
    """What the start message says of an earlier run in ``run_dir``, which the new one replaces: the settings it
    had that differ (the run name holds only some of them), or that it had the same ones; "" when there is none."""
    try:
        earlier = read_record(run_dir).get("config", {})
    except (OSError, ValueError):
        return ""
    now = config.to_dict()
    differ = [f"{key} {earlier[key]!r} -> {now[key]!r}" for key in now if key in earlier and earlier[key] != now[key]]
    same = "the same settings" if not differ else ", ".join(differ)
    return f" It replaces the earlier run of that name ({same}); another experiment name keeps both."


# One parameter per form field, in FORM_FIELDS order: Gradio names the /train_start API's parameters after them.
def start(preset: str, experiment: str, dataset: str, model: str, init: str, optimizer: str, lr: float,
          schedule: str, loss: str, augmentation: str, dropout: float, epochs: int, batch_size: int,
          train_subset: int, eval_subset: int, device: str) -> tuple[str, bool]:
    """Start a training run in the background from a preset and the settings: (status Markdown, whether it started).

    A refusal (a setting is invalid, the dataset's files are missing, another training is running) is the status
    text, saying why, as the other tabs report bad input: a raised error's toast fades and leaves the status box
    with an "Error" badge over the previous run's text. The flag tells the page whether to follow the job.
    """
    values = (experiment, dataset, model, init, optimizer, lr, schedule, loss, augmentation, dropout, epochs,
              batch_size, train_subset, eval_subset, device)
    try:
        return _start(preset, values), True
    except Exception as exc:  # every failure must leave the app usable for the next request
        return report(exc), False


def _start(preset: str, values: tuple[Any, ...]) -> str:
    """:func:`start`'s work: what was started, or a :class:`UserError` saying why not."""
    try:
        config = config_from_form(preset, *values)
    except (ValueError, TypeError) as exc:
        raise UserError(f"Check the settings: {exc}") from None
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("This server has no CUDA GPU: choose the device auto or cpu.")
    limits = server_limits()
    config, capped = cap_training(config, limits)
    problem = dataset_problem(config.dataset)
    if problem:
        raise UserError(problem)
    clean_user_area_now(limits, imported_folder(config.dataset, limits))
    replaces = replaced_run(JOB.run_dir(config), config)
    note = f" Capped on this server: {'; '.join(capped)}." if capped else ""
    try:
        JOB.start(config, limits.max_train_seconds, preset_runner(preset), note=note)
    except TrainingBusyError as exc:
        raise UserError(str(exc)) from None
    return f"Started **{config.experiment}/{config.run_name()}**.{note}{replaces}"


def server_limits() -> Limits:
    """This server's limits; a malformed limit variable is reported to the user instead of failing silently."""
    try:
        return current_limits()
    except ValueError as exc:
        raise UserError(f"This server's limits are misconfigured: {exc}") from None


def clean_user_area_now(limits: Limits, *keep: Path | None) -> list[Path]:
    """Clean the user area (see :func:`kpdemo.deployment.clean_user_area`), never touching ``keep`` nor the
    running training's run and dataset."""
    snap = JOB.snapshot()
    kept = list(keep)
    if snap.state == "running" and snap.config is not None:
        kept += [snap.run_dir, imported_folder(snap.config.dataset, limits)]
    removed = clean_user_area(limits, [p for p in kept if p is not None])
    if removed:
        refresh_imported()
    return removed


def import_dataset(upload: str | None, name: str) -> tuple[str, str]:
    """Import an uploaded Kaggle ``training.csv`` or zip of labelled faces as a dataset for ``/train_start``.

    Everything is validated first; a bad file is refused with a message naming the file and row, and nothing of it
    is kept. Returns the status line and the new dataset's name (``user_<name>``; "" when refused, the status then
    saying why, as :func:`start` does).
    """
    try:
        manifest = _import(upload, name)
    except Exception as exc:  # every failure must leave the app usable for the next request
        return report(exc), ""
    counts = ", ".join(f"{n} {split}" for split, n in manifest.splits.items())
    message = f"Imported **{manifest.name}**: {manifest.faces} faces ({manifest.schema}; {counts}) from " \
              f"`{manifest.source}`. It is selected as the dataset: press Start training."
    return message, manifest.name


def _import(upload: str | None, name: str) -> Manifest:
    """:func:`import_dataset`'s work: the imported dataset's manifest, or a :class:`UserError` saying why not."""
    if not upload:
        raise UserError("Choose a file first: a Kaggle training.csv, or a .zip of images with .pts files or with "
                        "one CSV of points.")
    limits = server_limits()
    try:
        manifest = import_upload(Path(upload), name or "", limits)
    except UploadError as exc:
        raise UserError(str(exc)) from None
    clean_user_area_now(limits, imported_folder(manifest.name, limits))
    refresh_imported()
    cached_dataset.cache_clear()  # a name the clean-up freed and an import reused must not serve the old faces
    return manifest


def select_dataset(name: str) -> dict[str, Any]:
    """The dataset menu, refreshed, with ``name`` (just imported) chosen; left as it is when the import was
    refused (no name)."""
    return gr.update(choices=_dataset_choices(), value=name) if name else gr.update(choices=_dataset_choices())


def follow_started(started: bool, progress: gr.Progress = gr.Progress()  # noqa: B008 - Gradio's idiom
                   ) -> Iterator[tuple[go.Figure, str]]:
    """:func:`watch` after a start, but only after one that started: a refused start's status says why, and
    following the job would at once replace it with the previous run's."""
    if started:
        yield from watch(progress)
    else:
        yield gr.skip(), gr.skip()


def live_figure(snap: Snapshot) -> go.Figure:
    """The running (or last) run's train/val loss per epoch, drawn by the dashboard's own curve builder."""
    config = snap.config
    if config is None:
        return empty_figure("training", "Press Start training: the losses are drawn here as each epoch ends.")
    title = f"{config.experiment}/{config.run_name()}"
    if not snap.rows:
        return empty_figure(title, "The first epoch's losses appear here when it ends.")
    head = {"experiment": config.experiment, "run": config.run_name(), "status": snap.state}
    history = pd.DataFrame(snap.rows).assign(**head)
    fig = curves_figure(RunSet(pd.DataFrame([head | config.to_dict()]), history), title, CurveOptions())
    fig.update_xaxes(range=[0.8, config.epochs + 0.2])  # the curve grows into a frame of the planned epochs
    return fig


def status_text(snap: Snapshot) -> str:
    """One line on the job: while running, the last epoch's scores and a time estimate; with the server's caps on
    this run, if any."""
    if snap.state != "running" or not snap.rows:
        return snap.message + snap.note
    last, total = snap.rows[-1], snap.config.epochs
    per_epoch = last.get("wall_time_s", 0.0) / len(snap.rows)
    scores = " · ".join(f"{k} {v:.4g}" for k, v in last.items() if k.startswith(("train_", "val_")))
    eta = per_epoch * (total - len(snap.rows))
    return (f"Epoch {len(snap.rows)}/{total} · {scores} · {per_epoch:.1f} s/epoch · about {eta / 60:.1f} min left."
            f"{snap.note}")


def watch(progress: gr.Progress = gr.Progress()) -> Iterator[tuple[go.Figure, str]]:  # noqa: B008 - Gradio's idiom
    """Follow the job until it ends: a progress bar every poll, a new figure whenever an epoch is logged."""
    seen = None
    while True:
        snap = JOB.snapshot()
        if snap.state == "running":
            progress(snap.fraction, desc=status_text(snap))
        key = (snap.state, len(snap.rows))
        if key != seen:
            seen = key
            yield live_figure(snap), status_text(snap)
        if snap.state != "running":
            return
        time.sleep(POLL_S)


def stop() -> str:
    """Ask the running training to stop; the message says whether one was running."""
    return "Stopping after the current batch; the best checkpoint so far is kept." if JOB.stop() \
        else "No training is running."


UPLOAD_HELP = """Upload a **Kaggle Facial Keypoints `training.csv`** (15 points, 96x96 `Image` column), a **zip of
images with an iBUG `.pts` file beside each** (68 points, same name), or a **zip of images plus one CSV** with columns
`image, x0, y0, x1, y1, ...` (15, 68 or 73 points; optional `identity` keeps a person's faces in one split; blank
coordinates = unlabelled point). The file is checked before anything is kept, split 80/10/10 and cut to face crops;
it then appears in the Dataset menu as `user_<name>`."""


def _dataset_choices() -> list[tuple[str, str]]:
    """Every dataset a preset trains on: the registered ones (imported included), then those a grid draws itself."""
    refresh_imported()
    registered = [(f"{n}: {s.title}{'' if s.is_available() else ' (missing)'}", n) for n, s in list(DATASETS.items())]
    return registered + [(f"{n}: {title}", n) for n, title in own_datasets().items()]


def _model_choices() -> list[tuple[str, str]]:
    """Every model a preset trains: the landmark models, then the image-to-image grids' encoder/decoder families."""
    return [(s.title, n) for n, s in MODELS.items()] + [
        (f"{n.capitalize()} encoder/decoder: {IMAGE_KIND}", n) for n in FAMILIES]


def build_form() -> dict[str, gr.components.Component]:
    """The run's settings, one component per :data:`FORM_FIELDS` name, showing the defaults; their choices come from
    the registries the trainers look names up in, so every preset's values are among them."""
    default = TrainConfig()
    form: dict[str, gr.components.Component] = {}
    with gr.Row():
        form["experiment"] = gr.Textbox(default.experiment, label="Experiment name (folder of the run)")
        # Custom values allowed: datasets imported after start-up are not in the menu the API documents (str);
        # start() checks the name against the registry.
        form["dataset"] = gr.Dropdown(_dataset_choices(), value=default.dataset, label="Dataset", scale=2,
                                      allow_custom_value=True)
        form["model"] = gr.Dropdown(_model_choices(), value=default.model, label="Model")
        form["init"] = gr.Dropdown(list(INITS), value=default.init, label="Weight init")
    with gr.Row():
        form["optimizer"] = gr.Dropdown(list(OPTIMIZERS), value=default.optimizer, label="Optimizer")
        form["lr"] = gr.Number(default.lr, label="Learning rate")
        form["schedule"] = gr.Dropdown(list(SCHEDULES), value=default.schedule, label="LR schedule")
        form["loss"] = gr.Dropdown(list(LOSSES), value=default.loss, label="Loss")
        form["augmentation"] = gr.Dropdown(list(AUGMENTATIONS), value=default.augmentation,
                                           label="Augmentation")
    with gr.Row():
        form["dropout"] = gr.Slider(0, 0.9, value=default.dropout, step=0.05, label="Dropout")
        # No minimum= nor precision=0: Gradio's own bound check names no field ("Value 0 is less than minimum value
        # 1.", with a traceback in the server log) and precision=0 rounds 2.5 epochs to 2 unasked. start() checks
        # each value and names the field (config_from_form: whole numbers, check_config: ranges).
        form["epochs"] = gr.Number(default.epochs, label="Epochs")
        form["batch_size"] = gr.Number(default.batch_size, label="Batch size")
        form["train_subset"] = gr.Number(default.train_subset, label="Training images (0 = all)")
        form["eval_subset"] = gr.Number(default.eval_subset, label="Val/test images (0 = all)")
        form["device"] = gr.Dropdown(list(DEVICES), value=default.device, label="Device")
    return form


def build_train_tab() -> gr.Tab:
    """The Train tab (call inside ``gr.Blocks``/``gr.Tabs``); returns the tab."""
    limits = current_limits()
    with gr.Tab("Train") as tab:
        gr.Markdown("Train a model on this server (one training at a time): a landmark model, or one of seed 004's "
                    "image-to-image encoder/decoders (the frontalize and polygons presets). Start from an experiment's "
                    "config or the defaults, change what you like, and press Start. On a CPU, **Quick settings** "
                    "trains a few epochs on a subset.")
        gr.Markdown(limits.describe(), visible=bool(limits.describe()), elem_id="train-limits")
        with gr.Accordion("Bring your own data", open=True):
            gr.Markdown(UPLOAD_HELP)
            with gr.Row():
                upload = gr.File(label="Labelled faces (.csv or .zip)", file_types=[".csv", ".zip"], type="filepath",
                                 elem_id="train-upload", scale=3)
                with gr.Column(scale=1):
                    upload_name = gr.Textbox("", label="Dataset name (optional)", placeholder="from the file name")
                    import_btn = gr.Button("Import")
            import_status = gr.Markdown(elem_id="train-import-status", label="status", show_label=False)
            imported = gr.Textbox(visible=False, label="Imported dataset")  # the API's answer; selected below
        with gr.Row():
            preset = gr.Dropdown(list(presets()), value="adhoc / default settings", label="Start from", scale=3)
            quick = gr.Button("Quick settings (CPU check)", scale=1)
        form = build_form()
        with gr.Row():
            start_btn = gr.Button("Start training", variant="primary")
            stop_btn = gr.Button("Stop", variant="stop")
        message = gr.Markdown(min_height=60, elem_id="train-status", label="status", show_label=False)
        curve = gr.Plot(label="Live loss curve", elem_id="train-curve")

        inputs = [form[name] for name in FORM_FIELDS]
        ui = {"api_visibility": "private"}
        preset.input(lambda p: [getattr(presets()[p], n) for n in FORM_FIELDS], preset, inputs, **ui)
        quick.click(lambda: [QUICK.get(n, gr.update()) for n in FORM_FIELDS], None, inputs, **ui)
        # The progress bar covers the status line only, so the live curve stays visible under it.
        follow = {"outputs": [curve, message], "show_progress_on": message, "concurrency_limit": None} | ui
        started = gr.State(False)  # not in the API's answer: Gradio leaves a State out
        start_btn.click(start, [preset, *inputs], [message, started], api_name="train_start").then(
            follow_started, started, **follow)
        stop_btn.click(stop, None, message, api_name="train_stop")
        import_btn.click(import_dataset, [upload, upload_name], [import_status, imported],
                         api_name="dataset_import").success(select_dataset, imported, form["dataset"], **ui)
        tab.select(watch, None, **follow)
        tab.select(lambda: gr.update(choices=_dataset_choices()), None, form["dataset"], **ui)
    return tab
