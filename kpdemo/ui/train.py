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
from kpdemo.datasets.uploads import UploadError, import_upload, imported_folder
from kpdemo.deployment import Limits, cap_training, clean_user_area, current_limits
from kpdemo.models import INITS, MODELS
from kpdemo.runs import read_record
from kpdemo.training.augment import AUGMENTATIONS
from kpdemo.training.losses import POINT_LOSSES
from trainers.engine.config import OPTIMIZERS, SCHEDULES, TrainConfig, apply_overrides
from trainers.engine.data import cached_dataset
from trainers.engine.identity import with_variant
from trainers.engine.image_losses import IMAGE_LOSSES
from trainers.engine.job import Snapshot, Trainer, TrainingBusyError, TrainingJob
from trainers.engine.train import check_config
from trainers.grids import EXPERIMENTS, QUICK, own_runner

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


def refusal(message: str, title: str = "Error") -> gr.Error:
    """A request refused for a reason the user can act on (busy, a bad setting, a missing dataset, a bad upload):
    shown to them, and not logged as a server fault, for which Gradio prints a traceback (13 of them in one
    visitor's session, burying the real faults)."""
    return gr.Error(message, title=title, print_exception=False)


def dataset_problem(name: str) -> str | None:
    """A user-facing message when the dataset is unknown or its files are missing; None when it can be read."""
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
    if config.train_subset < 0 or config.eval_subset < 0:
        raise ValueError("subsets are image counts (0 = all)")
    check_config(config, landmarks=preset_runner(preset) is None)
    return config


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
          train_subset: int, eval_subset: int, device: str) -> str:
    """Start a training run in the background from a preset and the settings; returns what was started.

    Refused with an error that says why when a setting is invalid, the dataset's files are missing or another
    training is running.
    """
    values = (experiment, dataset, model, init, optimizer, lr, schedule, loss, augmentation, dropout, epochs,
              batch_size, train_subset, eval_subset, device)
    try:
        config = config_from_form(preset, *values)
    except (ValueError, TypeError) as exc:
        raise refusal(f"Check the settings: {exc}") from None
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise refusal("This server has no CUDA GPU: choose the device auto or cpu.", title="No GPU")
    limits = server_limits()
    config, capped = cap_training(config, limits)
    problem = dataset_problem(config.dataset)
    if problem:
        raise refusal(problem, title="Dataset missing")
    clean_user_area_now(limits, imported_folder(config.dataset, limits))
    replaces = replaced_run(JOB.run_dir(config), config)
    try:
        JOB.start(config, limits.max_train_seconds, preset_runner(preset))
    except TrainingBusyError as exc:
        raise refusal(str(exc), title="Training busy") from None
    note = f" Capped on this server: {'; '.join(capped)}." if capped else ""
    return f"Started **{config.experiment}/{config.run_name()}**.{note}{replaces}"


def server_limits() -> Limits:
    """This server's limits; a malformed limit variable is reported to the user instead of failing silently."""
    try:
        return current_limits()
    except ValueError as exc:
        raise gr.Error(f"This server's limits are misconfigured: {exc}", title="Server setting") from None


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
    is kept. Returns the status line and the new dataset's name (``user_<name>``).
    """
    if not upload:
        raise refusal("Choose a file first: a Kaggle training.csv, or a .zip of images with .pts files or with "
                      "one CSV of points.", title="No file")
    limits = server_limits()
    try:
        manifest = import_upload(Path(upload), name or "", limits)
    except UploadError as exc:
        raise refusal(str(exc), title="Upload refused") from None
    clean_user_area_now(limits, imported_folder(manifest.name, limits))
    refresh_imported()
    cached_dataset.cache_clear()  # a name the clean-up freed and an import reused must not serve the old faces
    counts = ", ".join(f"{n} {split}" for split, n in manifest.splits.items())
    message = f"Imported **{manifest.name}**: {manifest.faces} faces ({manifest.schema}; {counts}) from " \
              f"`{manifest.source}`. It is selected as the dataset: press Start training."
    return message, manifest.name


def select_dataset(name: str) -> dict[str, Any]:
    """The dataset menu, refreshed, with ``name`` (just imported) chosen."""
    return gr.update(choices=_dataset_choices(), value=name)


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
    """One line on the job: while running, the last epoch's scores and a time estimate."""
    if snap.state != "running" or not snap.rows:
        return snap.message
    last, total = snap.rows[-1], snap.config.epochs
    per_epoch = last.get("wall_time_s", 0.0) / len(snap.rows)
    scores = " · ".join(f"{k} {v:.4g}" for k, v in last.items() if k.startswith(("train_", "val_")))
    eta = per_epoch * (total - len(snap.rows))
    return f"Epoch {len(snap.rows)}/{total} · {scores} · {per_epoch:.1f} s/epoch · about {eta / 60:.1f} min left"


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
    refresh_imported()
    return [(f"{n}: {s.title}{'' if s.is_available() else ' (missing)'}", n) for n, s in list(DATASETS.items())]


def build_train_tab() -> gr.Tab:
    """The Train tab (call inside ``gr.Blocks``/``gr.Tabs``); returns the tab."""
    default = TrainConfig()
    limits = current_limits()
    with gr.Tab("Train") as tab:
        gr.Markdown("Train a landmark model on this server (one training at a time). Start from an experiment's "
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
        form: dict[str, gr.components.Component] = {}
        with gr.Row():
            form["experiment"] = gr.Textbox(default.experiment, label="Experiment name (folder of the run)")
            # Custom values allowed: datasets imported after start-up are not in the menu the API documents (str);
            # start() checks the name against the registry.
            form["dataset"] = gr.Dropdown(_dataset_choices(), value=default.dataset, label="Dataset", scale=2,
                                          allow_custom_value=True)
            form["model"] = gr.Dropdown([(s.title, n) for n, s in MODELS.items()], value=default.model,
                                        label="Model")
            form["init"] = gr.Dropdown(list(INITS), value=default.init, label="Weight init")
        with gr.Row():
            form["optimizer"] = gr.Dropdown(list(OPTIMIZERS), value=default.optimizer, label="Optimizer")
            form["lr"] = gr.Number(default.lr, label="Learning rate", minimum=0)
            form["schedule"] = gr.Dropdown(list(SCHEDULES), value=default.schedule, label="LR schedule")
            form["loss"] = gr.Dropdown(list(LOSSES), value=default.loss, label="Loss")
            form["augmentation"] = gr.Dropdown(list(AUGMENTATIONS), value=default.augmentation,
                                               label="Augmentation")
        with gr.Row():
            form["dropout"] = gr.Slider(0, 0.9, value=default.dropout, step=0.05, label="Dropout")
            form["epochs"] = gr.Number(default.epochs, label="Epochs", precision=0, minimum=1)
            form["batch_size"] = gr.Number(default.batch_size, label="Batch size", precision=0, minimum=1)
            form["train_subset"] = gr.Number(default.train_subset, label="Training images (0 = all)", precision=0)
            form["eval_subset"] = gr.Number(default.eval_subset, label="Val/test images (0 = all)", precision=0)
            form["device"] = gr.Dropdown(list(DEVICES), value=default.device, label="Device")
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
        follow = {"fn": watch, "inputs": None, "outputs": [curve, message], "show_progress_on": message,
                  "concurrency_limit": None} | ui
        start_btn.click(start, [preset, *inputs], message, api_name="train_start").success(**follow)
        stop_btn.click(stop, None, message, api_name="train_stop")
        import_btn.click(import_dataset, [upload, upload_name], [import_status, imported],
                         api_name="dataset_import").success(select_dataset, imported, form["dataset"], **ui)
        tab.select(**follow)
        tab.select(lambda: gr.update(choices=_dataset_choices()), None, form["dataset"], **ui)
    return tab
