"""Train one image-to-image config (seed 004): a shared-encoder net, one loss per output domain, optional PatchGAN.

The landmark trainer (:mod:`trainers.engine.train`) regresses points; this loop maps images to images, so it has its
own epoch step but the same contract: ``fit_image_model`` records the run with :class:`kpdemo.runs.RunWriter`
(history: ``epoch, train_loss, val_loss, val_l1_gray, val_ssim[, val_iou], lr, epoch_time_s, wall_time_s``, where
``train_loss`` is ``config.loss`` (:mod:`trainers.engine.image_losses`) summed over decoders and ``val_loss`` that
loss on the scored one), keeps the best-validation weights (a plain ``state_dict`` file that
:mod:`trainers.engine.weights` can start another run from), and writes held-out scores of that model and of two
baselines into ``record["test"]``:

* ``identity``: the input returned unchanged (for faces: geometric alignment alone);
* ``mean``: the mean training target (for faces: the mean frontal face), the best constant answer.

Optimiser: Adam with ``betas = (config.momentum, 0.999)``; the seed's setting is lr 2e-4, beta1 0.5.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from kpdemo.frontalize.metrics import image_scores
from kpdemo.models.autoencoder import PatchDiscriminator, SharedEncoderNet
from kpdemo.runs import RunWriter, environment
from kpdemo.training.tensors import pixels_to_input
from trainers.engine.config import TrainConfig
from trainers.engine.image_losses import image_loss
from trainers.engine.run_end import clock_start, ends_stopped, failure_recorded, until_interrupted
from trainers.engine.train import RESUME_NAME, BestKeeper, TrainingState, check_config, resolve_device
from trainers.engine.weights import init_weights_from

CHECKPOINT_NAME = "net.pt"
GAN_WEIGHT = 0.01  # adversarial term relative to L1 (pix2pix's lambda_L1 = 100)
Pair = tuple[torch.Tensor, torch.Tensor]  # uint8 (N, 1, H, W) inputs and targets


@dataclass
class ImageTask:
    """What one run learns.

    ``domains`` maps each decoder to what it reproduces: ``"input"`` (reconstruction) or ``"target"`` (the
    transform); the first ``"target"`` domain (else the first) is scored. ``train_pairs(epoch)`` gives that
    epoch's training pairs (fresh renders for synthetic data, the same pairs for faces). ``frozen`` lists
    parameter-name prefixes left untrained (e.g. ``encoder.`` for a decoder trained on a pre-trained encoder).
    ``binary`` tasks (white shapes on black) are also scored by ``iou``: the overlap of predicted and true shape,
    which, unlike L1 and SSIM, is 0 for the all-black answer.
    """

    domains: dict[str, str]
    train_pairs: Callable[[int], Pair]
    val: Pair
    test: Pair
    frozen: tuple[str, ...] = ()
    gan: bool = False
    binary: bool = False
    env: dict[str, object] = field(default_factory=dict)
    figure: str = "examples_test.png"  # held-out examples figure; ``predictions_*`` names are never shipped

    @property
    def scored(self) -> str:
        return next((d for d, t in self.domains.items() if t == "target"), next(iter(self.domains)))


def _x(images: torch.Tensor) -> torch.Tensor:
    return pixels_to_input(images, 0.5, 0.5)


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


def adam(params, config: TrainConfig) -> torch.optim.Adam:  # noqa: ANN001 - parameter iterator
    return torch.optim.Adam(params, lr=config.lr, betas=(config.momentum, 0.999), weight_decay=config.weight_decay)


def train_epoch(net: SharedEncoderNet, opt: torch.optim.Optimizer, task: ImageTask, pair: Pair, config: TrainConfig,
                generator: torch.Generator, critic: tuple[PatchDiscriminator, torch.optim.Optimizer] | None,
                bar: tqdm, should_stop: Callable[[], bool] | None) -> tuple[float, bool]:
    """One shuffled pass; returns the mean of ``config.loss`` summed over domains (without the adversarial term) and
    whether every batch ran (False when ``should_stop()`` cut it short)."""
    net.train()
    loss_fn = image_loss(config.loss)
    inputs, targets = pair
    order = torch.randperm(len(inputs), generator=generator)
    total, count = 0.0, 0
    for start in range(0, len(inputs), config.batch_size):
        idx = order[start:start + config.batch_size]
        device = next(net.parameters()).device
        x, y = _x(inputs[idx].to(device)), _x(targets[idx].to(device))
        z = net.encode(x)
        outputs = {d: net.decode(z, d) for d in task.domains}
        fit = sum(loss_fn(outputs[d], x if t == "input" else y) for d, t in task.domains.items())
        loss = fit
        if critic is not None:
            disc, disc_opt = critic
            fake = outputs[task.scored]
            disc_loss = (_bce(disc(y), True) + _bce(disc(fake.detach()), False)) / 2
            disc_opt.zero_grad(set_to_none=True)
            disc_loss.backward()
            disc_opt.step()
            loss = fit + GAN_WEIGHT * _bce(disc(fake), True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += fit.item() * len(idx)
        count += len(idx)
        bar.update(len(idx))
        if should_stop is not None and should_stop():
            break
    return total / max(count, 1), count == len(inputs)


@torch.no_grad()
def predict_domain(net: SharedEncoderNet, inputs: torch.Tensor, domain: str, batch_size: int = 128) -> torch.Tensor:
    """[0, 1] float outputs of one decoder for uint8 inputs."""
    net.eval()
    device = next(net.parameters()).device
    out = [net(_x(inputs[i:i + batch_size].to(device)), domain).cpu() for i in range(0, len(inputs), batch_size)]
    return (torch.cat(out) * 0.5 + 0.5).clamp(0, 1)


def score_split(net: SharedEncoderNet, task: ImageTask, pair: Pair, loss: str) -> dict[str, float]:
    """``loss`` (``loss`` on the network's [-1, 1] scale), ``l1_gray``, ``ssim`` (and ``iou``) of the scored domain."""
    inputs, targets = pair
    truth = inputs if task.domains[task.scored] == "input" else targets
    pred = predict_domain(net, inputs, task.scored)
    truth01 = truth.float() / 255.0
    scores = {"loss": float(image_loss(loss)(pred * 2 - 1, truth01 * 2 - 1))} | image_scores(pred, truth01)
    return scores | ({"iou": shape_iou(pred, truth01)} if task.binary else {})


def shape_iou(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """Intersection over union of the pixels above mid-gray, pooled over the batch ([0, 1] images)."""
    p, t = pred > 0.5, truth > 0.5
    return float((p & t).sum() / (p | t).sum().clamp(min=1))


def baseline_scores(task: ImageTask, train_targets: torch.Tensor) -> dict[str, float]:
    """Held-out scores of returning the input (transform tasks only) and of the mean training target."""
    inputs, targets = task.test
    if task.domains[task.scored] == "input":
        return {}
    truth = targets.float() / 255.0
    mean = train_targets.float().mean(0, keepdim=True).expand_as(truth) / 255.0
    identity = image_scores(inputs.float() / 255.0, truth)
    return {f"identity_{k}": v for k, v in identity.items()} | {
        f"mean_{k}": v for k, v in image_scores(mean, truth).items()}


def build_net(config: TrainConfig, task: ImageTask, runs_root: Path, first: Pair,
              start_weights: bool = True) -> tuple[SharedEncoderNet, dict[str, object]]:
    """The net (family ``config.model``, one decoder per task domain), started from ``config.weights`` (unless not
    ``start_weights``: a resumed run loads its own).

    With ``model_kwargs={"prior": "mean"}`` every decoder adds the mean of what it reproduces in ``first`` (the
    training inputs or targets) to its output, so it learns departures from the best constant answer.
    """
    prior = config.model_kwargs.get("prior")
    if prior not in (None, "mean"):
        raise ValueError(f"model_kwargs prior must be 'mean' or absent, got {prior!r}")
    net = SharedEncoderNet(config.model, tuple(task.domains), tuple(task.domains) if prior else ())
    if prior:
        for domain, source in task.domains.items():
            net.set_prior(domain, _x(first[0 if source == "input" else 1]).mean(0))
    start: dict[str, object] = {}
    if config.weights and start_weights:
        start = init_weights_from(net, config.weights, runs_root, config.experiment)
    for name, param in net.named_parameters():
        param.requires_grad_(not name.startswith(task.frozen))
    return net, start


def fit_image_model(
    config: TrainConfig, runs_root: Path, task: ImageTask,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None, show_progress: bool = True, resume: bool = False,
) -> Path:
    """Train ``task`` as ``config`` says and record it under ``runs_root/<experiment>/<run name>/``. As
    :func:`trainers.engine.train.run_config`: a stop (or Ctrl-C, which then raises
    :class:`~trainers.engine.run_end.RunInterrupted`) keeps the best weights, every whole epoch saves the resume
    state, and ``resume=True`` goes on from it."""
    check_config(config, landmarks=False)  # a bad setting, model or loss fails here, before a run folder exists
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    first = task.train_pairs(1)
    net, start = build_net(config, task, runs_root, first, start_weights=not resume)
    net = net.to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = adam(params, config)
    critic = None
    if task.gan:
        disc = PatchDiscriminator().to(device)
        critic = (disc, adam(disc.parameters(), config))
    name = config.run_name()
    env = environment(str(device), config.seed) | {
        "threads": torch.get_num_threads(), "trainable_params": sum(p.numel() for p in params),
        "train_pairs": len(first[0]), "val_pairs": len(task.val[0]), "test_pairs": len(task.test[0])}
    writer = RunWriter(Path(runs_root), config.experiment, name, config.to_dict(), env | task.env | start,
                       resume=resume)
    state = TrainingState(net, opt, None, torch.Generator().manual_seed(config.seed), BestKeeper(writer, net), None,
                          others=critic or ())
    state.begin(writer, resume)
    started = clock_start(writer, time.perf_counter())

    def train_epochs() -> str:
        with tqdm(total=config.epochs * len(first[0]), initial=state.epoch * len(first[0]), desc=name, unit="img",
                  disable=not show_progress) as bar:
            for epoch in range(state.epoch + 1, config.epochs + 1):
                tick = time.perf_counter()
                pair = first if epoch == 1 else task.train_pairs(epoch)
                train_loss, complete = train_epoch(net, opt, task, pair, config, state.generator, critic, bar,
                                                   should_stop)
                val = score_split(net, task, task.val, config.loss)
                now = time.perf_counter()
                row = {"epoch": epoch, "train_loss": train_loss} | {f"val_{k}": v for k, v in val.items()} | {
                    "lr": config.lr, "epoch_time_s": now - tick, "wall_time_s": now - started}
                state.keeper.log(row)
                if complete:
                    state.epoch = epoch
                    state.save(writer.dir / RESUME_NAME)
                bar.set_postfix(val_l1_gray=f"{row['val_l1_gray']:.2f}", val_ssim=f"{row['val_ssim']:.3f}")
                if on_epoch is not None:
                    on_epoch(row)
                if ends_stopped(epoch, config.epochs, complete, should_stop is not None and should_stop()):
                    return "stopped"
        return "done"

    status, interrupted = until_interrupted(writer, train_epochs)
    with failure_recorded(writer):
        torch.save({k: v.cpu() for k, v in state.keeper.restore().items()}, writer.dir / CHECKPOINT_NAME)
        test = {k: v for k, v in score_split(net, task, task.test, config.loss).items() if k != "loss"}
        test |= baseline_scores(task, first[1]) | {"domain": task.scored, "best_epoch": state.keeper.best["epoch"]}
        writer.finish(status, test=test, checkpoint=CHECKPOINT_NAME)
    return state.end(writer, status, interrupted)
