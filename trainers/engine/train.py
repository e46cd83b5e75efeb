"""Train one config (torchvision-references style: ``train_one_epoch`` / ``evaluate`` / ``run_config``).

The whole dataset lives on the device as tensors; each batch is gathered by index, augmented in one batched call
(:mod:`kpdemo.training.augment`) and fed to the model, so no per-sample Python runs in the hot loop. Every run
writes a record (:class:`kpdemo.runs.RunWriter`): config, env, one history row per epoch (train/val loss, val RMSE
in px, times), the best-validation checkpoint and, at the end, the held-out test metrics of that checkpoint.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from kpdemo.checkpoints import CheckpointMeta, save_checkpoint
from kpdemo.datasets import get_dataset
from kpdemo.datasets.kaggle15 import CROP_SCALE
from kpdemo.files import write_by_rename
from kpdemo.metrics import nme, rmse
from kpdemo.models import INITS, MODELS, build_model
from kpdemo.models.autoencoder import FAMILIES
from kpdemo.runs import RunWriter, environment
from kpdemo.schemas import IBUG68, KeypointSchema, ibug68_yaw_deg
from kpdemo.training.augment import AUGMENTATIONS, Augmentation, center_view, get_augmentation, model_hw
from kpdemo.training.ema import WeightAverage
from kpdemo.training.losses import POINT_LOSSES, masked_loss
from kpdemo.training.tensors import TensorSet, pixels_to_input, points_from_network
from trainers.engine.compiled import Loss, compile_status, maybe_compiled
from trainers.engine.config import OPTIMIZERS, SAMPLINGS, SCHEDULES, TrainConfig
from trainers.engine.data import make_splits
from trainers.engine.image_losses import IMAGE_LOSSES
from trainers.engine.run_end import RunInterrupted, clock_start, ends_stopped, failure_recorded, until_interrupted
from trainers.engine.weights import init_weights_from, resolve_weights
from trainers.errors import UsageError

PIXEL_MEAN, PIXEL_STD = 0.5, 0.5
CHECKPOINT_NAME = "best.pt"
#: Everything needed to continue a run after its last finished epoch (``--resume``); not shipped.
RESUME_NAME = "last.pt"
EpochCallback = Callable[[dict[str, float]], None]
#: The other kind of model the app's Train form offers, beside the landmark models: seed 004's grids' own.
IMAGE_KIND = "an image-to-image model (the frontalize and polygons presets)"


def resolve_device(name: str) -> torch.device:
    """The device ``name`` (``auto``, ``cpu``, ``cuda[:N]``) means here. On CUDA it also turns on cuDNN's autotuner:
    a run's batches keep one shape, so timing the convolution algorithms once pays back over thousands of steps
    (most for the grouped convolutions a vmapped grid runs, whose default algorithm is often a slow one)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} was asked for, but PyTorch sees no CUDA GPU here (use --device cpu, "
                         "or auto, which takes the GPU where there is one)")
    if name.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    return torch.device(name)




def check_config(config: TrainConfig, landmarks: bool = True) -> None:
    """Raise ValueError naming the first setting of a config that no run could train with: before any data loads or
    any run folder exists, as ``--set``'s key and type checks do (a typo such as ``--set optimizer=adma``
    otherwise surfaced as a traceback once the data had loaded, and a bad loss left a failed run behind).
    ``landmarks``: the names this trainer looks up (model, loss, ...), else those of an image-to-image grid's runner
    (:mod:`trainers.engine.train_image`: an encoder/decoder family and an image loss). One menu of models and one of
    losses serve both in the app's Train form, so a name of the other kind is refused as such."""
    counts = {"epochs": config.epochs, "batch_size": config.batch_size}
    for key, value in counts.items():
        if value < 1:
            raise ValueError(f"{key} must be at least 1, got {value}")
    subsets = {"train_subset": config.train_subset, "eval_subset": config.eval_subset}
    for key, value in subsets.items():  # a negative size reached numpy as "negative dimensions are not allowed"
        if value < 0:
            raise ValueError(f"{key} is a number of images (0 = all of them), got {value}")
    for key in ("experiment", "tag", "variant"):  # they name the run's folders: --set variant=../x escaped its own
        value = getattr(config, key)
        if (value or key == "experiment") and not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", value):
            raise ValueError(f"{key} names a folder: letters, digits, '.', '-' and '_' only, got {value!r}")
    if config.folds < 0 or config.folds == 1:  # found by make_splits only once the data had loaded
        raise ValueError(f"folds is 0 (no cross-validation) or at least 2, got {config.folds}")
    if config.folds and not 0 <= config.fold < config.folds:
        raise ValueError(f"fold {config.fold} is not in 0..{config.folds - 1} (folds={config.folds})")
    if not config.lr > 0:
        raise ValueError(f"lr must be above 0, got {config.lr}")
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", config.device):
        raise ValueError(f"device must be auto, cpu or cuda[:N], got {config.device!r}")
    landmark_names = {"model": MODELS, "init": INITS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES,
                      "sampling": SAMPLINGS, "loss": POINT_LOSSES, "augmentation": AUGMENTATIONS}
    image_names = {"model": FAMILIES, "loss": IMAGE_LOSSES}
    kinds = [(landmark_names, "a landmark model"), (image_names, IMAGE_KIND)]
    (names, kind), (other_names, other_kind) = kinds if landmarks else kinds[::-1]
    for key, known in names.items():
        value = getattr(config, key)
        if value not in known and value in other_names.get(key, ()):
            raise ValueError(f"{key} {value!r} is for {other_kind}; {kind} takes {', '.join(known)}")
        if value not in known:
            raise ValueError(f"unknown {key} {value!r}; known: {', '.join(known)}")
    if not landmarks:
        check_image_settings(config)
        return
    try:
        get_dataset(config.dataset)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


#: The settings the image-to-image trainer (:mod:`trainers.engine.train_image`) does not read, at the one value that
#: says what it does: it always trains with Adam (``momentum`` as beta1), a constant rate, no augmentation, dropout,
#: weight average or folds.
IMAGE_TRAINER_FIXED = {"init": "default", "dropout": 0.0, "optimizer": "adam", "schedule": "constant",
                       "augmentation": "none", "sampling": "uniform", "context": 1.0, "ema": 0.0, "folds": 0,
                       "amp": False, "compile": False}


def check_image_settings(config: TrainConfig) -> None:
    """Refuse (``ValueError``) a setting the image-to-image trainer would ignore: the Train form offers one set of
    fields for both trainers, and an SGD or augmented frontalize run trained as plain Adam under a name that said
    otherwise."""
    for key, fixed in IMAGE_TRAINER_FIXED.items():
        value = getattr(config, key)
        if value != fixed:
            raise ValueError(f"{key} {value!r}: {IMAGE_KIND} trains with {key} {fixed!r} only "
                             "(Adam with momentum as beta1, a constant rate, no augmentation or dropout)")


def make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:  # noqa: ANN001 - parameter iterator
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "momentum":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}")


def make_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch learning-rate schedule: ``constant`` (the seed's) or ``cosine`` decay to zero."""
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    raise ValueError(f"unknown schedule {config.schedule!r}; known: {', '.join(SCHEDULES)}")


def _autocast(device: torch.device, amp: bool):  # noqa: ANN202 - a context manager
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _prepare(x: torch.Tensor, channels_last: bool, mean: float = PIXEL_MEAN, std: float = PIXEL_STD) -> torch.Tensor:
    x = pixels_to_input(x, mean, std)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def batch_loss(model: nn.Module, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """A model's own training loss when it has one (heatmap heads train on their maps), else the point loss."""
    if hasattr(model, "landmark_loss"):
        return model.landmark_loss(x, points, mask, kind)
    return masked_loss(model(x), points, mask, kind)


#: ``sampling="yaw"``: the bins of |yaw| (degrees, lower edges) whose faces are drawn alike, and how far: each face's
#: chance goes as its bin's count to the power -:data:`YAW_TEMPER`, so a bin's share of the draws goes as its count to
#: the power 1 - YAW_TEMPER (0: as often as the data holds them; 1: every bin equally).
YAW_BINS, YAW_TEMPER = (0.0, 15.0, 30.0, 45.0), 0.5


def yaw_weights(points: np.ndarray) -> np.ndarray:
    """Each face's chance of a draw under ``sampling="yaw"`` (summing to 1), from its (68, 2) iBUG points.

    Why: turned faces are where every model fails most (``bench/yaw.py``), and they are few in the training faces
    (6% of the 68-point model's turned 45 deg or more, against 10% of the 300-W full test set and more in the
    wild). Drawing them more often shows the model their shapes more often without new data."""
    bins = np.digitize(np.abs(ibug68_yaw_deg(points)), YAW_BINS[1:])
    counts = np.bincount(bins, minlength=len(YAW_BINS)).astype(np.float64)
    weights = counts[bins] ** -YAW_TEMPER
    return weights / weights.sum()


def epoch_order(data: TensorSet, sampling: str, generator: torch.Generator) -> torch.Tensor:
    """The epoch's face indices: each face once in a shuffled order (``uniform``), or as many draws as faces, with
    replacement, by :func:`yaw_weights` (``yaw``; 68-point faces only)."""
    if sampling == "uniform":
        return torch.randperm(len(data), generator=generator)
    if sampling != "yaw":
        raise ValueError(f"unknown sampling {sampling!r}; known: {', '.join(SAMPLINGS)}")
    if data.points.shape[1] != IBUG68.num_points:
        raise ValueError(f"sampling='yaw' needs 68-point iBUG faces, not {data.points.shape[1]} points")
    weights = torch.as_tensor(yaw_weights(data.points.cpu().numpy()))
    return torch.multinomial(weights, len(data), replacement=True, generator=generator)


def training_batches(
    data: TensorSet, config: TrainConfig, augment: Augmentation, flip_perm: torch.Tensor, generator: torch.Generator,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled, augmented ``(images in [0, 1], points, mask)`` batches.

    A generator on purpose: each batch is drawn (and augmented, from the global RNG) only when the previous step is
    done, so the RNG sees the same interleaving of augmentation and dropout draws as a plain loop would. Shared by
    :func:`train_one_epoch` and the grid trainer, so a run trained with a grid sees the batches it sees alone."""
    order = epoch_order(data, config.sampling, generator).to(data.images.device)
    for start in range(0, len(data), config.batch_size):
        idx = order[start:start + config.batch_size]
        images, points, mask = data.images[idx].float() / 255.0, data.points[idx], data.mask[idx]
        if augment.active or config.context != 1.0:
            images, points, mask = augment(images, points, mask, flip_perm, context=config.context)
        yield images, points, mask


def train_one_epoch(
    model: nn.Module, loss_fn: Loss, optimizer: torch.optim.Optimizer, data: TensorSet, config: TrainConfig,
    augment: Augmentation, flip_perm: torch.Tensor, generator: torch.Generator,
    should_stop: Callable[[], bool] | None = None, progress: tqdm | None = None,
    average: WeightAverage | None = None,
) -> tuple[float, bool]:
    """One pass over ``data`` in shuffled batches; returns the mean training loss (on augmented batches) and whether
    every batch ran (False when ``should_stop()`` cut the epoch short: the run then ends ``stopped``).

    ``loss_fn(x, points, mask)`` is ``model``'s batch loss (:func:`batch_loss`, or the run's compiled one,
    :mod:`trainers.engine.compiled`). Stored crops wider than the model's (``config.context``) are cut down in the
    augmentation's warp."""
    model.train()
    device = data.images.device
    total, count = torch.zeros((), device=device), 0
    for images, points, mask in training_batches(data, config, augment, flip_perm, generator):
        with _autocast(device, config.amp):
            loss = loss_fn(_prepare(images, config.channels_last), points, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            average.update(model)
        total += loss.detach() * len(images)
        count += len(images)
        if progress is not None:
            progress.update(len(images))
        if should_stop is not None and should_stop():
            break
    return float(total) / max(count, 1), count == len(data)


@torch.no_grad()
def predict(model: nn.Module, data: TensorSet, *, pixel_mean: float = PIXEL_MEAN, pixel_std: float = PIXEL_STD,
            batch_size: int = 256, channels_last: bool = True, amp: bool = False) -> torch.Tensor:
    """Normalised predictions (N, K, 2) for every image of ``data``."""
    model.eval()
    return predict_batches(model, data, pixel_mean=pixel_mean, pixel_std=pixel_std, batch_size=batch_size,
                           channels_last=channels_last, amp=amp).reshape(data.points.shape)


@torch.no_grad()
def predict_batches(forward: Callable[[torch.Tensor], torch.Tensor], data: TensorSet, *, dim: int = 0,
                    pixel_mean: float = PIXEL_MEAN, pixel_std: float = PIXEL_STD, batch_size: int = 256,
                    channels_last: bool = True, amp: bool = False) -> torch.Tensor:
    """``forward``'s float outputs for every image of ``data``, batch by batch, joined along ``dim`` (the images'
    dimension: 1 for a stack's ``(runs, B, ...)``)."""
    out = []
    for start in range(0, len(data), batch_size):
        x = _prepare(data.images[start:start + batch_size], channels_last, pixel_mean, pixel_std)
        with _autocast(data.images.device, amp):
            out.append(forward(x).float())
    return torch.cat(out, dim=dim)


def score(pred: torch.Tensor, data: TensorSet, schema: KeypointSchema, loss: str = "mse") -> dict[str, float]:
    """Loss (normalised units), RMSE in crop pixels and NME (outer-eye normalised) over visible points."""
    h, w = data.hw
    pred_px = points_from_network(pred.cpu().numpy(), h, w)
    true_px = points_from_network(data.points.cpu().numpy(), h, w)
    mask = data.mask.cpu().numpy()
    metrics = {"loss": float(masked_loss(pred, data.points, data.mask, loss)), "rmse_px": rmse(pred_px, true_px, mask)}
    if mask.all() and schema.has_eyes:
        metrics["nme"] = nme(pred_px, true_px, schema)
    return metrics


def evaluate(model: nn.Module, data: TensorSet, schema: KeypointSchema, config: TrainConfig) -> dict[str, float]:
    """Loss (the point loss, comparable across heads: ``l1`` for models with their own training loss), RMSE, NME."""
    kind = "l1" if hasattr(model, "landmark_loss") else config.loss
    return score(predict(model, data, channels_last=config.channels_last, amp=config.amp), data, schema, kind)


def model_view(data: TensorSet, context: float) -> TensorSet:
    """``data`` as the model sees it: the centre of wider stored crops (:func:`center_view`), for val and test."""
    images, points = center_view(data.images, data.points, context)
    return TensorSet(images.contiguous(), points, data.mask)


def checkpoint_meta(config: TrainConfig, schema: KeypointSchema, data: TensorSet, run: str,
                    metrics: dict[str, float]) -> CheckpointMeta:
    """``data`` is what the model saw (its crop size and channels)."""
    kwargs = {"dropout": config.dropout} if config.dropout else {}  # the architecture, not the init
    kwargs |= config.model_kwargs
    spec = get_dataset(config.dataset)
    return CheckpointMeta(
        model=config.model, schema=schema.id, input_size=data.hw, in_channels=int(data.images.shape[1]),
        model_kwargs=kwargs, pixel_mean=PIXEL_MEAN, pixel_std=PIXEL_STD, crop_scale=CROP_SCALE,
        dataset=config.dataset, run=run, metrics=metrics, **spec.crop_record(),
    )


@dataclass
class BestKeeper:
    """Writes each epoch's history row and keeps the weights of the best-validation epoch so far.

    Shared by every trainer (landmarks here, images in :mod:`trainers.engine.train_image`), so "best" means the same
    everywhere: the lowest finite ``val_loss``; ``best`` holds that row's epoch and ``val_*`` columns.
    """

    writer: RunWriter
    model: nn.Module
    best: dict[str, float] = field(default_factory=lambda: {"epoch": 0, "val_loss": math.inf})
    state: dict[str, torch.Tensor] = field(init=False)

    def __post_init__(self) -> None:
        self.state = copy.deepcopy(self.model.state_dict())

    def log(self, row: dict[str, float]) -> None:
        self.writer.log_epoch(row)
        if math.isfinite(row["val_loss"]) and row["val_loss"] < self.best["val_loss"]:
            self.best = {k: v for k, v in row.items() if k == "epoch" or k.startswith("val_")}
            self.state = copy.deepcopy(self.model.state_dict())
            self.writer.update(best=self.best)

    def restore(self) -> dict[str, torch.Tensor]:
        """Load the best weights back into the model; returns them."""
        self.model.load_state_dict(self.state)
        return self.state


@dataclass
class TrainingState:
    """What a run needs to go on after its last finished epoch: saved as ``last.pt`` at the end of every epoch that
    ran all its batches, so a stopped, interrupted or killed run continues with ``--resume RUN_DIR`` where it left
    off (same record, history appended). Shared by the landmark and the image trainer; ``others`` holds what else a
    trainer keeps (the image trainer's critic and its optimizer)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler | None
    generator: torch.Generator
    keeper: BestKeeper
    average: WeightAverage | None
    epoch: int = 0
    others: tuple[nn.Module | torch.optim.Optimizer, ...] = ()

    def begin(self, writer: RunWriter, resume: bool) -> None:
        """A fresh run removes a resume state left in its folder by an earlier run of its name (it is not this
        run's); ``resume`` loads it instead, and forgets history rows past it (an epoch logged but never saved: cut
        short by a stop, or killed between its row and its state)."""
        path = writer.dir / RESUME_NAME
        if not resume:
            path.unlink(missing_ok=True)
            return
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: this run cannot be resumed")
        self.load(path)
        writer.rows = [r for r in writer.rows if r["epoch"] <= self.epoch]

    def end(self, writer: RunWriter, status: str, interrupted: bool) -> Path:
        """After the run's record is finished: a ``done`` run drops its resume state (nothing is left to go on with);
        one Ctrl-C ended raises :class:`RunInterrupted`, saying whether it keeps one. The run's folder otherwise."""
        path = writer.dir / RESUME_NAME
        if status == "done":
            path.unlink(missing_ok=True)
        if interrupted:
            raise RunInterrupted([writer.dir], resumable=path.exists())
        return writer.dir

    def save(self, path: Path) -> None:
        payload = {
            "epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule else None, "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(), "best": self.keeper.best, "best_state": self.keeper.state,
            "average": self.average.module.state_dict() if self.average else None,
            "average_steps": self.average.steps if self.average else 0,
            "others": [other.state_dict() for other in self.others],
        }
        write_by_rename(path, lambda out: torch.save(payload, out))

    def load(self, path: Path) -> None:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(payload["schedule"])
        for other, saved in zip(self.others, payload.get("others", []), strict=True):
            other.load_state_dict(saved)
        self.generator.set_state(payload["generator"])
        torch.set_rng_state(payload["torch_rng"])
        self.keeper.best, self.keeper.state = payload["best"], payload["best_state"]
        if self.average is not None:
            self.average.module.load_state_dict(payload["average"])
            self.average.steps = int(payload["average_steps"])
        self.epoch = int(payload["epoch"])


def load_tensors(config: TrainConfig, device: torch.device) -> tuple[KeypointSchema, TensorSet, TensorSet, TensorSet]:
    """(schema, train, val, test) of a config on ``device``; val and test as the model sees them (see
    :func:`model_view`)."""
    splits = make_splits(config)
    train, val, test = (TensorSet.from_landmarks(s, device) for s in (splits.train, splits.val, splits.test))
    return splits.train.schema, train, model_view(val, config.context), model_view(test, config.context)


#: The most parameters a run may have. The seed nets' dense layers grow with the image: a ConvNet on IMM's whole
#: 800x600 photos has 939 M (15 GB with its gradients and Adam's moments), which filled a server's memory before the
#: first batch. The largest model trained here has 17 M (the seed ConvNet on 96x96 crops).
MAX_PARAMETERS = 100_000_000


def new_model(config: TrainConfig, schema: KeypointSchema, train: TensorSet) -> nn.Module:
    """The config's freshly initialised model (draws its init from the global RNG: seed it first); a ValueError
    instead when it would exceed :data:`MAX_PARAMETERS`, counted on the meta device before any memory is taken."""
    hw = model_hw(train.hw, config.context)
    shape = {"num_points": schema.num_points, "in_channels": int(train.images.shape[1]), "input_size": hw,
             "dropout": config.dropout, **config.model_kwargs}
    with torch.device("meta"):
        size = sum(p.numel() for p in build_model(config.model, **shape).parameters())
    if size > MAX_PARAMETERS:
        raise ValueError(f"{config.model} on {config.dataset}'s {hw[1]}x{hw[0]} images would have {size / 1e6:.0f} M "
                         f"parameters (at most {MAX_PARAMETERS / 1e6:.0f} M train here): its dense layers grow with "
                         "the image. Pick a dataset of face crops or a convolutional model such as pip.")
    return build_model(config.model, init=config.init, **shape)


def fit_data_layers(model: nn.Module, shapes: np.ndarray, brought: set[str]) -> None:
    """Fit the data-dependent layers (PIP's neighbour table, a PCA shape head: ``fit_shapes``) on the training
    shapes, except a layer whose fitted buffers all came with the starting weights (``brought``: state keys copied):
    its weights were learnt against those tables, and a refit on other shapes (a training subset, another dataset)
    pairs them with the wrong neighbours, or zeroes a PCA head's coefficients. Measured: the 68-point model shipped
    then, 3.60% validation NME, scored 10.6% with its neighbour table refit on 256 of its training faces."""
    for name, module in model.named_modules():
        if not hasattr(module, "fit_shapes"):
            continue
        buffers = {f"{name}.{key}" if name else key for key, _ in module.named_buffers()}
        if not buffers or not buffers <= brought:
            module.fit_shapes(shapes)


def place_model(model: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if config.channels_last else model


def run_environment(device: torch.device, config: TrainConfig, train: TensorSet, val: TensorSet,
                    test: TensorSet) -> dict[str, object]:
    """The record's ``env``: where and on how much data the run trained."""
    return environment(str(device), config.seed) | {
        "threads": torch.get_num_threads(), "train_images": len(train), "val_images": len(val),
        "test_images": len(test)}


def epoch_row(epoch: int, train_loss: float, val_metrics: dict[str, float], lr: float, tick: float, now: float,
              started: float) -> dict[str, float]:
    """One history row: the columns every landmark run records (the dashboard and findings read them)."""
    return {"epoch": epoch, "train_loss": train_loss, "val_loss": val_metrics["loss"]} | {
        f"val_{k}": v for k, v in val_metrics.items() if k != "loss"} | {
        "lr": lr, "epoch_time_s": now - tick, "wall_time_s": now - started}


def finish_run(config: TrainConfig, schema: KeypointSchema, val: TensorSet, test: TensorSet, writer: RunWriter,
               keeper: BestKeeper, status: str) -> None:
    """Back to the best-validation weights, score them on test, save them as the run's checkpoint, close the record."""
    keeper.restore()
    test_metrics = evaluate(keeper.model, test, schema, config)
    meta = checkpoint_meta(config, schema, val, writer.name, {f"test_{k}": v for k, v in test_metrics.items()}
                           | {"best_epoch": keeper.best["epoch"]})
    save_checkpoint(writer.dir / CHECKPOINT_NAME, keeper.model.state_dict(), meta)
    writer.finish(status, test=test_metrics, checkpoint=CHECKPOINT_NAME)


def run_config(
    config: TrainConfig,
    runs_root: Path,
    on_epoch: EpochCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    show_progress: bool = True,
    resume: bool = False,
) -> Path:
    """Train ``config`` and record it under ``runs_root/<experiment>/<run name>/``; returns that directory.

    Safe to call from a background thread (the app's Train tab): ``on_epoch(row)`` gets each history row as it
    is written; ``should_stop()`` is polled after every batch, and a stopped run still gets its best checkpoint,
    test metrics and ``status: "stopped"``. Ctrl-C ends it so too (then raises :class:`RunInterrupted`).
    ``resume=True`` continues the run in that directory from its ``last.pt`` (see :class:`TrainingState`).
    """
    check_config(config)
    device = resolve_device(config.device)
    if config.weights and not resume:  # a start run not trained yet is refused before the data loads
        resolve_weights(config.weights, runs_root, config.experiment)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    schema, train, val, test = load_tensors(config, device)
    model = new_model(config, schema, train)
    start = init_weights_from(model, config.weights, runs_root, config.experiment) \
        if config.weights and not resume else {}
    brought = set(model.state_dict()) - set(start["weights_not_copied"]) if start else set()
    fit_data_layers(model, train.points.cpu().numpy(), brought)
    model = place_model(model, config, device)
    optimizer = make_optimizer(config, model.parameters())
    augment = get_augmentation(config.augmentation)
    flip_perm = torch.from_numpy(schema.flip_permutation).to(device)
    average = WeightAverage(model, config.ema) if config.ema else None
    scored = average.module if average else model  # what is evaluated, kept as best and shipped
    loss_fn = maybe_compiled(partial(batch_loss, model, kind=config.loss), config.compile, config.batch_size,
                             list(model.parameters()))

    name = config.run_name()
    env = run_environment(device, config, train, val, test) | start
    writer = RunWriter(Path(runs_root), config.experiment, name, config.to_dict(), env, resume=resume)
    state = TrainingState(model, optimizer, make_schedule(config, optimizer),
                          torch.Generator().manual_seed(config.seed), BestKeeper(writer, scored), average)
    state.begin(writer, resume)
    started = clock_start(writer, time.perf_counter())

    def train_epochs() -> str:
        with tqdm(total=config.epochs * len(train), initial=state.epoch * len(train), desc=name, unit="img",
                  disable=not show_progress) as bar:
            for epoch in range(state.epoch + 1, config.epochs + 1):
                tick = time.perf_counter()
                train_loss, complete = train_one_epoch(model, loss_fn, optimizer, train, config, augment, flip_perm,
                                                       state.generator, should_stop, bar, average)
                state.schedule.step()
                val_metrics = evaluate(scored, val, schema, config)
                row = epoch_row(epoch, train_loss, val_metrics, optimizer.param_groups[0]["lr"], tick,
                                time.perf_counter(), started)
                state.keeper.log(row)
                if complete:  # a resume goes on from a whole epoch, not from one a stop cut short
                    state.epoch = epoch
                    state.save(writer.dir / RESUME_NAME)
                bar.set_postfix(val_rmse_px=f"{row.get('val_rmse_px', math.nan):.3f}")
                if on_epoch is not None:
                    on_epoch(row)
                if ends_stopped(epoch, config.epochs, complete, should_stop is not None and should_stop()):
                    return "stopped"
        return "done"

    status, interrupted = until_interrupted(writer, train_epochs)
    with failure_recorded(writer):
        writer.record["env"] |= compile_status(loss_fn)
        finish_run(config, schema, val, test, writer, state.keeper, status)
    return state.end(writer, status, interrupted)
