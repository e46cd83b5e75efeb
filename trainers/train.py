"""Train one config (torchvision-references style: ``train_one_epoch`` / ``evaluate`` / ``run_config``).

The whole dataset lives on the device as tensors; each batch is gathered by index, augmented in one batched call
(:mod:`kpdemo.training.augment`) and fed to the model, so no per-sample Python runs in the hot loop. Every run
writes a record (:class:`kpdemo.runs.RunWriter`): config, env, one history row per epoch (train/val loss, val RMSE
in px, times), the best-validation checkpoint and, at the end, the held-out test metrics of that checkpoint.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from kpdemo.checkpoints import CheckpointMeta, save_checkpoint
from kpdemo.datasets.kaggle15 import CROP_SCALE
from kpdemo.metrics import nme, rmse
from kpdemo.models import build_model
from kpdemo.runs import RunWriter, environment
from kpdemo.schemas import KeypointSchema
from kpdemo.training.augment import Augmentation, get_augmentation
from kpdemo.training.losses import masked_loss
from kpdemo.training.tensors import TensorSet, pixels_to_input, points_from_network
from trainers.config import TrainConfig
from trainers.data import make_splits
from trainers.weights import init_weights_from

PIXEL_MEAN, PIXEL_STD = 0.5, 0.5
CHECKPOINT_NAME = "best.pt"
EpochCallback = Callable[[dict[str, float]], None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU here (use --device cpu)")
    return torch.device(name)


def make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:  # noqa: ANN001 - parameter iterator
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "momentum":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; known: sgd, momentum, adam")


def make_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch learning-rate schedule: ``constant`` (the seed's) or ``cosine`` decay to zero."""
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    raise ValueError(f"unknown schedule {config.schedule!r}; known: constant, cosine")


def _autocast(device: torch.device, amp: bool):  # noqa: ANN202 - a context manager
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _prepare(x: torch.Tensor, channels_last: bool, mean: float = PIXEL_MEAN, std: float = PIXEL_STD) -> torch.Tensor:
    x = pixels_to_input(x, mean, std)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def train_one_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: TensorSet, config: TrainConfig,
    augment: Augmentation, flip_perm: torch.Tensor, generator: torch.Generator,
    should_stop: Callable[[], bool] | None = None, progress: tqdm | None = None,
) -> float:
    """One pass over ``data`` in shuffled batches; returns the mean training loss (on augmented batches)."""
    model.train()
    device = data.images.device
    order = torch.randperm(len(data), generator=generator).to(device)
    total, count = torch.zeros((), device=device), 0
    for start in range(0, len(data), config.batch_size):
        idx = order[start:start + config.batch_size]
        images, points, mask = data.images[idx].float() / 255.0, data.points[idx], data.mask[idx]
        if augment.active:
            images, points, mask = augment(images, points, mask, flip_perm)
        with _autocast(device, config.amp):
            pred = model(_prepare(images, config.channels_last))
        loss = masked_loss(pred, points, mask, config.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(idx)
        count += len(idx)
        if progress is not None:
            progress.update(len(idx))
        if should_stop is not None and should_stop():
            break
    return float(total) / max(count, 1)


@torch.no_grad()
def predict(model: nn.Module, data: TensorSet, *, pixel_mean: float = PIXEL_MEAN, pixel_std: float = PIXEL_STD,
            batch_size: int = 256, channels_last: bool = True, amp: bool = False) -> torch.Tensor:
    """Normalised predictions (N, K, 2) for every image of ``data``."""
    model.eval()
    device = data.images.device
    out = []
    for start in range(0, len(data), batch_size):
        x = _prepare(data.images[start:start + batch_size], channels_last, pixel_mean, pixel_std)
        with _autocast(device, amp):
            out.append(model(x).float())
    return torch.cat(out).reshape(data.points.shape)


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
    return score(predict(model, data, channels_last=config.channels_last, amp=config.amp), data, schema, config.loss)


def checkpoint_meta(config: TrainConfig, schema: KeypointSchema, data: TensorSet, run: str,
                    metrics: dict[str, float]) -> CheckpointMeta:
    kwargs = {"dropout": config.dropout} if config.dropout else {}  # the architecture, not the init
    kwargs |= config.model_kwargs
    return CheckpointMeta(
        model=config.model, schema=schema.id, input_size=data.hw, in_channels=int(data.images.shape[1]),
        model_kwargs=kwargs, pixel_mean=PIXEL_MEAN, pixel_std=PIXEL_STD, crop_scale=CROP_SCALE,
        dataset=config.dataset, run=run, metrics=metrics,
    )


@dataclass
class BestKeeper:
    """Writes each epoch's history row and keeps the weights of the best-validation epoch so far.

    Shared by every trainer (landmarks here, images in :mod:`trainers.train_image`), so "best" means the same
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


def run_config(
    config: TrainConfig,
    runs_root: Path,
    on_epoch: EpochCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    show_progress: bool = True,
) -> Path:
    """Train ``config`` and record it under ``runs_root/<experiment>/<run name>/``; returns that directory.

    Safe to call from a background thread (the app's Train tab): ``on_epoch(row)`` gets each history row as it
    is written; ``should_stop()`` is polled after every batch, and a stopped run still gets its best checkpoint,
    test metrics and ``status: "stopped"``.
    """
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    splits = make_splits(config)
    schema = splits.train.schema
    train, val, test = (TensorSet.from_landmarks(s, device) for s in (splits.train, splits.val, splits.test))
    model = build_model(config.model, num_points=schema.num_points, in_channels=int(train.images.shape[1]),
                        input_size=train.hw, init=config.init, dropout=config.dropout, **config.model_kwargs)
    start = init_weights_from(model, config.weights, runs_root, config.experiment) if config.weights else {}
    for module in model.modules():  # data-dependent layers (e.g. a PCA shape head) fit on the training shapes
        if hasattr(module, "fit_shapes"):
            module.fit_shapes(train.points.cpu().numpy())
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(config, model.parameters())
    schedule = make_schedule(config, optimizer)
    augment = get_augmentation(config.augmentation)
    flip_perm = torch.from_numpy(schema.flip_permutation).to(device)
    generator = torch.Generator().manual_seed(config.seed)

    name = config.run_name()
    env = environment(str(device), config.seed) | {
        "threads": torch.get_num_threads(), "train_images": len(train), "val_images": len(val),
        "test_images": len(test)} | start
    writer = RunWriter(Path(runs_root), config.experiment, name, config.to_dict(), env)
    keeper = BestKeeper(writer, model)
    status, started = "done", time.perf_counter()
    try:
        with tqdm(total=config.epochs * len(train), desc=name, unit="img", disable=not show_progress) as bar:
            for epoch in range(1, config.epochs + 1):
                tick = time.perf_counter()
                train_loss = train_one_epoch(model, optimizer, train, config, augment, flip_perm, generator,
                                             should_stop, bar)
                schedule.step()
                val_metrics = evaluate(model, val, schema, config)
                now = time.perf_counter()
                row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_metrics["loss"]} | {
                    f"val_{k}": v for k, v in val_metrics.items() if k != "loss"} | {
                    "lr": optimizer.param_groups[0]["lr"], "epoch_time_s": now - tick, "wall_time_s": now - started}
                keeper.log(row)
                bar.set_postfix(val_rmse_px=f"{row.get('val_rmse_px', math.nan):.3f}")
                if on_epoch is not None:
                    on_epoch(row)
                if should_stop is not None and should_stop():
                    status = "stopped"
                    break
        keeper.restore()
        test_metrics = evaluate(model, test, schema, config)
        meta = checkpoint_meta(config, schema, train, name,
                               {f"test_{k}": v for k, v in test_metrics.items()} | {"best_epoch": keeper.best["epoch"]})
        save_checkpoint(writer.dir / CHECKPOINT_NAME, model.state_dict(), meta)
        writer.finish(status, test=test_metrics, checkpoint=CHECKPOINT_NAME)
    except BaseException as exc:
        writer.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    return writer.dir
