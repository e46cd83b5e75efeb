"""Train the runs of a grid that share their data and architecture as one batched model (``--grid-at-once``).

Why: a seed-001 ConvNet is far too small to keep a GPU busy, and the runs of a grid differ only in a few numbers
(init, optimizer, learning rate, dropout, ...). Stacking their weights along a new leading dimension turns R small
convolutions into one grouped one per layer, and one augmented batch feeds all R runs. The seed models run with the
runs folded into the channels (:mod:`trainers.engine.folded`); any other stackable model through
``torch.func.vmap``, whose pooling rule copies the largest activations twice per stage. That pays on a GPU only:
CPU kernels run a grouped convolution slower than its groups one after another (``bench/results/grid_speed.csv``:
0.96x end to end on the 2-core CPU, 0.93x after the first epoch; 0.49x through vmap when measured before the
folded forward), so on a CPU train the runs one by one.

What a run keeps: its own initial weights (built exactly as :func:`trainers.engine.train.run_config` builds them,
from the same seed), its optimizer kind and hyperparameters (:mod:`trainers.engine.stacked_optim` reproduces
``torch.optim``'s update per slice), its learning-rate schedule, its dropout rate, and its own record, history,
best-validation checkpoint and test metrics, written with the same functions as a run trained alone. The summed loss
of the runs is backpropagated once; since run i's loss depends only on run i's slice of the stack, each slice gets
exactly its own gradient.

What a group shares: everything that decides the data stream (dataset, subsets, seed, batch size, epochs,
augmentation) but the fold and the training subset's size, and the architecture; see :func:`group_configs`. Not the
experiment: runs of several grids that share their data train as one group, and a run two grids both hold (equal
configs but for the experiment) trains once and is recorded in each (:func:`_twins`). Not the images: the folds of a
cross-validation (or runs on training subsets of different sizes) train in one stack, each on batches of its own
(:class:`_Feed`: its own images, shuffle and augmentation draws, exactly those it draws alone). The runs of one
fold (or of a group without folds) draw one shuffle and one augmentation stream, the ones its first run draws alone
(same seed, same generator, same global-RNG state after building that run's model), so a run without dropout sees
the very batches it sees alone when its init draws as many random numbers as the first run's (e.g. the same
scheme). Dropout masks come from a second RNG stream so that they do not shift the augmentation stream; they are
therefore not the masks a run draws alone (statistically the same).

Not supported here (such runs train alone through ``run_config``): starting weights, weight averaging (``ema``),
models with their own loss or data-fitted layers (``landmark_loss`` / ``fit_shapes``) and models with buffers
(BatchNorm statistics would need per-run in-place updates under vmap). Grid-trained runs write no ``last.pt``, so
they cannot be resumed; a stopped grid is simply re-run.
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

from kpdemo.models import build_model
from kpdemo.runs import RunWriter
from kpdemo.schemas import KeypointSchema
from kpdemo.training.augment import Augmentation, get_augmentation, model_hw
from kpdemo.training.losses import masked_loss
from kpdemo.training.tensors import TensorSet
from trainers.engine.compiled import compile_status, maybe_compiled
from trainers.engine.config import TrainConfig
from trainers.engine.data import cached_dataset
from trainers.engine.folded import RunDropout, foldable_layers, folded_forward
from trainers.engine.run_end import RunInterrupted, ends_stopped
from trainers.engine.stacked_optim import KINDS, StackedOptimizer, optimizer_kind
from trainers.engine.train import (
    RESUME_NAME,
    BestKeeper,
    EpochCallback,
    _autocast,
    _prepare,
    check_config,
    epoch_row,
    evaluate,
    finish_run,
    load_tensors,
    make_optimizer,
    make_schedule,
    new_model,
    place_model,
    predict_batches,
    resolve_device,
    run_config,
    run_environment,
    score,
    training_batches,
)

#: The settings that may differ inside a group; every other field must be equal (a new field is safe by default).
PER_RUN = frozenset({"experiment", "init", "optimizer", "lr", "momentum", "weight_decay", "schedule", "dropout",
                     "tag"})
#: Settings that decide a run's images and may still differ inside a group: each value trains on batches of its own
#: (a feed, :class:`_Feed`), in the one stack.
PER_RUN_DATA = frozenset({"fold", "train_subset"})
#: The dropout masks' RNG stream is seeded with the group's seed plus this, away from the augmentation stream.
DROPOUT_STREAM_OFFSET = 1_000_003


def _settings_key(config: TrainConfig, ignored: frozenset[str]) -> str:
    """The config's settings but ``ignored`` as one comparable string."""
    return json.dumps({k: v for k, v in config.to_dict().items() if k not in ignored}, sort_keys=True, default=str)


def _group_key(config: TrainConfig) -> str:
    return _settings_key(config, PER_RUN | PER_RUN_DATA)


@lru_cache(maxsize=32)
def _model_stacks(model: str, model_kwargs: str, dataset: str, context: float, dropout: float) -> bool:
    """Whether a model can be stacked: built on the meta device (no memory, no init cost) with the dataset's input
    shape, it must have no buffers and no ``landmark_loss`` / ``fit_shapes``. A model that cannot even be built
    that way trains alone: when in doubt, the plain path."""
    data = cached_dataset(dataset)
    image = data.images[0] if data.images is not None else data.image(0)
    try:
        with torch.device("meta"):
            net = build_model(model, num_points=data.schema.num_points, in_channels=1 if image.ndim == 2 else
                              int(image.shape[-1]), input_size=model_hw(image.shape[:2], context), dropout=dropout,
                              **json.loads(model_kwargs))
    except Exception:  # any failure means "not stackable", not an error of the grid
        return False
    modules = list(net.modules())
    return not list(net.buffers()) and not any(hasattr(m, "landmark_loss") or hasattr(m, "fit_shapes")
                                               for m in modules)


def can_stack(config: TrainConfig) -> bool:
    """Whether ``config`` may share a group (else it trains alone, in a group of one)."""
    return not config.weights and not config.ema and _model_stacks(
        config.model, json.dumps(config.model_kwargs, sort_keys=True), config.dataset, config.context, config.dropout)


def _group_indices(configs: list[TrainConfig]) -> list[list[int]]:
    groups: list[list[int]] = []
    open_groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        if not can_stack(config):
            groups.append([i])
            continue
        key = _group_key(config)
        if key not in open_groups:
            open_groups[key] = []
            groups.append(open_groups[key])
        open_groups[key].append(i)
    return groups


def group_configs(configs: list[TrainConfig]) -> list[list[TrainConfig]]:
    """The configs as groups that can train together, in order of first appearance.

    Inside a group only :data:`PER_RUN` and :data:`PER_RUN_DATA` settings differ; runs with starting weights,
    ``ema`` or a model that cannot be stacked (see :func:`can_stack`) are groups of one."""
    return [[configs[i] for i in group] for group in _group_indices(list(configs))]


def run_grid(configs: list[TrainConfig], runs_root: Path, show_progress: bool = True,
             should_stop: Callable[[], bool] | None = None, on_epoch: EpochCallback | None = None) -> list[Path]:
    """Train ``configs`` group by group (:func:`group_configs`); returns the run directories in ``configs``' order.

    Groups of one go through :func:`trainers.engine.train.run_config` unchanged. ``should_stop()`` is polled after
    every batch, as ``run_config`` polls it: the runs being trained finish with their best checkpoint and
    ``status: "stopped"``, and the groups not started yet still start (and stop after their first batch), so every
    config gets a record. ``on_epoch(row)`` gets every run's history row of each epoch, once the epoch's rows are
    all written (the side-by-side pacing waits there)."""
    configs = list(configs)
    dirs: dict[int, Path] = {}
    for group in _group_indices(configs):
        members = [configs[i] for i in group]
        if len(members) == 1:
            paths = [run_config(members[0], runs_root, on_epoch, should_stop, show_progress)]
        else:
            paths = train_together(members, runs_root, show_progress, should_stop, on_epoch)
        dirs.update(zip(group, paths, strict=True))
    return [dirs[i] for i in range(len(configs))]


def _dropouts(model: nn.Module) -> list[nn.Dropout]:
    return [m for m in model.modules() if type(m) is nn.Dropout]


def _template(models: list[nn.Module]) -> tuple[nn.Module, list[list[float]]] | None:
    """A module structure every run fits (a run with dropout's, each ``nn.Dropout`` swapped for
    :class:`RunDropout`) and each run's rate per dropout layer; None when the runs differ beyond dropout."""
    base = next((m for m in models if _dropouts(m)), models[0])

    def layout(model: nn.Module, with_dropout: bool) -> list[type]:
        return [type(m) for m in model.modules() if with_dropout or type(m) is not nn.Dropout]

    def fixed(model: nn.Module) -> list[object]:
        """Parameter shapes, and the rates of other dropout kinds (the template would apply the first run's)."""
        return [p.shape for p in model.parameters()] + [
            m.p for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and type(m) is not nn.Dropout]

    for model in models:
        with_dropout = bool(_dropouts(model))
        if fixed(model) != fixed(base) or layout(model, with_dropout) != layout(base, with_dropout):
            return None
    template = copy.deepcopy(base)
    for name, module in list(template.named_modules()):
        if type(module) is nn.Dropout:
            template.set_submodule(name, RunDropout())
    rates = [[d.p for d in _dropouts(m)] or [0.0] * len(_dropouts(base)) for m in models]
    return template, rates


class _RngStream:
    """A state of the global RNG (CPU, and the CUDA device's) kept apart and swapped in around the draws it owns: a
    group's dropout masks (which a run trained alone draws in between its augmentation draws), or one feed's
    augmentation when a group has several (:class:`_Feed`)."""

    def __init__(self, device: torch.device, cpu: torch.Tensor, cuda: torch.Tensor | None) -> None:
        self.device = device if device.type == "cuda" else None
        self.cpu, self.cuda = cpu, cuda if self.device else None

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> _RngStream:
        """A fresh stream from ``seed``."""
        cuda = torch.Generator(device).manual_seed(seed).get_state() if device.type == "cuda" else None
        return cls(device, torch.Generator().manual_seed(seed).get_state(), cuda)

    @classmethod
    def current(cls, device: torch.device) -> _RngStream:
        """A stream that goes on from where the global RNG is now."""
        return cls(device, torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None)

    @contextmanager
    def active(self) -> Iterator[None]:
        saved = torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if self.device else None
        torch.set_rng_state(self.cpu)
        if self.device:
            torch.cuda.set_rng_state(self.cuda, self.device)
        try:
            yield
        finally:
            self.cpu = torch.get_rng_state()
            torch.set_rng_state(saved[0])
            if self.device:
                self.cuda = torch.cuda.get_rng_state(self.device)
                torch.cuda.set_rng_state(saved[1], self.device)


@dataclass
class _Run:
    """One run of a group: its config, its own (unstacked) model for evaluation and checkpoints, its record, and the
    torch optimizer + schedule that hold its hyperparameters (see :mod:`trainers.engine.stacked_optim`)."""

    config: TrainConfig
    model: nn.Module
    writer: RunWriter | None = None
    keeper: BestKeeper | None = None

    def __post_init__(self) -> None:
        self.hyper = make_optimizer(self.config, [nn.Parameter(torch.zeros(1))])
        self.schedule = make_schedule(self.config, self.hyper)

    @property
    def lr(self) -> float:
        return float(self.hyper.param_groups[0]["lr"])

    def step_schedule(self) -> None:
        with warnings.catch_warnings():  # its optimizer never steps itself (the stack does): nothing was skipped
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            self.schedule.step()


class _Stack:
    """The runs' weights stacked along dim 0 and a forward that evaluates every run's loss on one shared batch:
    folded into the channels (:mod:`trainers.engine.folded`) where the model allows, else through ``vmap``."""

    def __init__(self, runs: list[_Run], template: nn.Module, rates: list[list[float]], kind: str,
                 fold: bool = True) -> None:
        self.template, self.kind = template.train(), kind
        #: The layers of the folded forward; None: vmap (a model that does not fold, or ``fold=False``).
        self.layers = foldable_layers(template) if fold else None
        names = [name for name, _ in template.named_parameters()]
        per_run = [list(run.model.parameters()) for run in runs]
        self.runs = len(runs)
        self.params = {name: torch.stack([params[i].detach() for params in per_run]).requires_grad_()
                       for i, name in enumerate(names)}
        device = per_run[0][0].device
        drop_names = [name for name, m in template.named_modules() if isinstance(m, RunDropout)]
        self.buffers = {f"{name}.p": torch.tensor([r[j] for r in rates], device=device)
                        for j, name in enumerate(drop_names)}
        #: Whether the forward draws random numbers (dropout): then each run draws its own, from a second stream.
        self.random = any(isinstance(m, (RunDropout, nn.modules.dropout._DropoutNd)) for m in template.modules())

    def losses(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor,
               channels_last: bool = False, gemm: bool = False) -> torch.Tensor:
        """(runs,) training losses of the batch (``masked_loss`` per run, as a run trained alone computes it): one
        batch for every run (``x`` ``(B, C, H, W)``, ``points`` ``(B, K, 2)``, ``mask`` ``(B, K)``), or a batch per
        run (each with a leading runs dimension; see :class:`_Feed`). ``channels_last``: folded activations in that
        layout; ``gemm``: convolutions as matrix products (:func:`folded_forward`; vmap ignores both)."""
        per_run = 0 if x.dim() == 5 else None
        if self.layers is not None:
            pred = folded_forward(self.layers, self.params, self.buffers, x, self.runs, channels_last, gemm)
            return torch.vmap(lambda p, t, m: masked_loss(p, t, m, self.kind),
                              in_dims=(0, per_run, per_run))(pred, points, mask)

        def one(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor,
                points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return masked_loss(functional_call(self.template, (params, buffers), (x,)), points, mask, self.kind)

        return torch.vmap(one, in_dims=(0, 0, per_run, per_run, per_run),
                          randomness="different" if self.random else "error")(self.params, self.buffers, x, points,
                                                                               mask)

    def predict(self, data: TensorSet, config: TrainConfig) -> torch.Tensor | None:
        """Every run's normalised predictions ``(runs, N, K, 2)`` on ``data``, one folded forward per batch for all
        runs (eval mode: no dropout), as :func:`trainers.engine.train.predict` gives each run's own model up to float
        summation order; None for a vmap stack (its runs are evaluated one by one). Why: a run's evaluation is a
        few small forwards and a device sync, eleven times an epoch for the largest stack. On the H200 that stack's
        epoch took 0.82 s, its 73 training steps about 0.66 s of it; the evaluations were part of the rest."""
        if self.layers is None:
            return None
        self.template.eval()
        try:
            out = predict_batches(lambda x: folded_forward(self.layers, self.params, self.buffers, x, self.runs),
                                  data, dim=1, channels_last=config.channels_last, amp=config.amp)
        finally:
            self.template.train()
        return out.reshape(self.runs, *data.points.shape)

    def variants(self, device: torch.device) -> dict[str, Callable[..., torch.Tensor]]:
        """Other ways to compute :meth:`losses` that a compiled step races (:mod:`trainers.engine.compiled`), for the
        folded stack on a GPU only (on a CPU every extra compile costs minutes): in channels-last (there cuDNN's
        bf16 convolutions want it), and with the convolutions as matrix products
        (:func:`trainers.engine.folded.gemm_conv2d`)."""
        if self.layers is None or device.type != "cuda":
            return {}
        return {"channels-last": partial(self.losses, channels_last=True), "gemm": partial(self.losses, gemm=True)}

    @torch.no_grad()
    def copy_to(self, index: int, model: nn.Module) -> None:
        """Run ``index``'s current weights into its own model (to evaluate or keep them)."""
        for param, stacked in zip(model.parameters(), self.params.values(), strict=True):
            param.copy_(stacked[index])


def _record_names(configs: list[TrainConfig]) -> list[str]:
    """Each run's record as the group's ``grid_group`` lists it: its name, or ``experiment/name`` in a group that
    spans experiments (the campaign trains the seed grids' runs that share their data as one group)."""
    if len({c.experiment for c in configs}) == 1:
        return [c.run_name() for c in configs]
    return [f"{c.experiment}/{c.run_name()}" for c in configs]


def _twins(configs: list[TrainConfig]) -> dict[int, int]:
    """``{index: index of the earlier run it equals}`` for runs whose config equals an earlier one's but for the
    experiment (seed 001's grids share some runs: the ``init`` grid's momentum ConvNet is also one of
    ``optimizers``). Such a run is that run, trained once: it gets a record of its own with the same history and
    weights, ``env.trained_as`` naming the run that trained."""
    first: dict[str, int] = {}
    twins = {}
    for i, config in enumerate(configs):
        source = first.setdefault(_settings_key(config, frozenset({"experiment"})), i)
        if source != i:
            twins[i] = source
    return twins


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (images, points, mask), as training_batches yields


@dataclass
class _Feed:
    """The batches some runs of a group train on, and what decides them. Runs whose configs differ only in
    :data:`PER_RUN` share one feed; a group whose runs differ in :data:`PER_RUN_DATA` (seed 001's ``cv`` folds) has
    a feed per value.

    Why several feeds in one stack: a ``cv`` fold alone is one small ConvNet at batch 32, whose step the launches
    set (5-16 ms on the H200, each fold's record's ``env.compiled``, 2026-11-30); the five folds took five of the
    campaign's eight processes and set its pace. Stacked, they take one step in one process, and each fold still
    sees exactly the batches it sees alone: its own images, its own shuffle (``generator``), its own augmentation
    draws (``rng``: its own copy of the global RNG, from where building its model left it). Folds hold different
    numbers of faces (4,091-4,307 on kaggle15), so their epochs differ in steps and each feed keeps its own: when a
    feed's epoch ends its runs are evaluated, logged and scheduled, as alone, while the others go on. A batch short
    of the batch size (an epoch's last) is padded with faces whose points are all masked, which add nothing to a
    run's loss or gradient, so every step has one shape; a feed done with all its epochs closes its runs' records and
    gives only such empty batches until the longest is done (the stack's slice goes on stepping, unrecorded)."""

    config: TrainConfig
    members: list[int]  # indices into the group's runs (twins excluded) it feeds
    slots: list[int]  # their slots in the stack
    train: TensorSet
    val: TensorSet
    test: TensorSet
    generator: torch.Generator
    rng: _RngStream | None  # its augmentation's RNG; None: the global RNG (a group of one feed)
    epoch: int = 0  # the epoch being trained (0: none begun)
    logged: int = 0  # epochs whose rows are written
    count: int = 0  # images trained on in this epoch
    tick: float = 0.0  # when this epoch began
    batches: Iterator[Batch] | None = None
    empty: Batch | None = None  # the batch of a feed that is done

    @property
    def done(self) -> bool:
        return self.logged >= self.config.epochs

    def next_batch(self) -> Batch | None:
        """The epoch's next batch (its first once :meth:`begin` began one); None when the epoch is spent."""
        with self.rng.active() if self.rng else nullcontext():
            return next(self.batches, None)

    def begin(self, augment: Augmentation, flip_perm: torch.Tensor) -> None:
        self.epoch, self.count, self.tick = self.epoch + 1, 0, time.perf_counter()
        self.batches = training_batches(self.train, self.config, augment, flip_perm, self.generator)


def _feed_key(config: TrainConfig) -> str:
    return _settings_key(config, PER_RUN)


def _pad(batch: Batch, size: int) -> Batch:
    """``batch`` filled up to ``size`` faces with zeros: blank images, every point masked (see :class:`_Feed`)."""
    short = size - len(batch[0])
    return batch if short <= 0 else tuple(torch.cat([t, t.new_zeros(short, *t.shape[1:])]) for t in batch)


def _build_runs(configs: list[TrainConfig], schema: KeypointSchema, train: TensorSet,
                device: torch.device) -> tuple[list[_Run], list[_RngStream]]:
    """Each run's model from its seed, as ``run_config`` builds it, and the global RNG as that build left it (where
    the run's augmentation draws begin alone); the global RNG is then left where the first run's build leaves it, so
    a one-feed group's augmentation draws are the first run's."""
    runs, streams = [], []
    for config in configs:
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        runs.append(_Run(config, place_model(new_model(config, schema, train), config, device)))
        streams.append(_RngStream.current(device))
    torch.set_rng_state(streams[0].cpu)
    np.random.seed(configs[0].seed)
    return runs, streams


def _feeds(configs: list[TrainConfig], trained: list[int], slot_of: dict[int, int],
           data: dict[str, tuple[TensorSet, TensorSet, TensorSet]], streams: list[_RngStream]) -> list[_Feed]:
    """The trained runs' feeds (see :class:`_Feed`) in order of their first run; ``data``: (train, val, test) by
    :func:`_feed_key`, ``streams``: each run's RNG as its build left it."""
    members: dict[str, list[int]] = {}
    for i in trained:
        members.setdefault(_feed_key(configs[i]), []).append(i)
    return [_Feed(configs[indices[0]], indices, [slot_of[i] for i in indices], *data[key],
                  torch.Generator().manual_seed(configs[indices[0]].seed),
                  streams[indices[0]] if len(members) > 1 else None) for key, indices in members.items()]


def _checked_names(configs: list[TrainConfig]) -> list[str]:
    """The runs' record names (:func:`_record_names`), once ``configs`` are known to be valid, to write distinct
    records and to make one group."""
    for config in configs:
        check_config(config)
    names = _record_names(configs)
    if len(set(names)) != len(names):
        raise ValueError(f"runs of one group would write the same record: {names}")
    if any(_group_key(c) != _group_key(configs[0]) for c in configs):
        raise ValueError(f"train_together needs configs that differ only in {sorted(PER_RUN | PER_RUN_DATA)}")
    return names


@dataclass
class _Group:
    """A group with its data loaded and its runs built, as ``run_config`` loads and builds them (RNG states
    included): what is needed to learn whether the runs stack, and to stack them."""

    names: list[str]  # each run's record name (:func:`_record_names`)
    device: torch.device
    schema: KeypointSchema
    data: dict[str, tuple[TensorSet, TensorSet, TensorSet]]  # (train, val, test) by :func:`_feed_key`
    trained_as: dict[int, int]  # the twins (:func:`_twins`)
    trained: list[int]  # the runs that train: all but the twins
    runs: list[_Run]
    streams: list[_RngStream]  # each run's RNG as its build left it (:func:`_build_runs`)

    @classmethod
    def load(cls, configs: list[TrainConfig]) -> _Group:
        """Check ``configs``, load every feed's data (the lead's first, all before the builds, as ``run_config``
        loads before it builds) and build every run."""
        names = _checked_names(configs)
        lead = configs[0]
        device = resolve_device(lead.device)
        torch.manual_seed(lead.seed)
        np.random.seed(lead.seed)
        schema, *lead_data = load_tensors(lead, device)
        trained_as = _twins(configs)
        trained = [i for i in range(len(configs)) if i not in trained_as]
        data = {_feed_key(lead): tuple(lead_data)}
        for i in trained:
            if _feed_key(configs[i]) not in data:
                data[_feed_key(configs[i])] = tuple(load_tensors(configs[i], device)[1:])
        runs, streams = _build_runs(configs, schema, lead_data[0], device)
        return cls(names, device, schema, data, trained_as, trained, runs, streams)


class _GroupTraining:
    """A stackable group's training: the stack, its optimizer and feeds, and the loop's state, in the steps of a
    training script. :meth:`train` opens the records, then steps every run (:meth:`step`) on the feeds' next batches
    (:meth:`next_batches`, :meth:`stacked_batch`) until all are done or told to stop; each feed closes its epochs on
    its own (:meth:`close_epoch`) and finishes its runs' records after its last (:meth:`finish`)."""

    def __init__(self, group: _Group, template: nn.Module, rates: list[list[float]],
                 on_epoch: EpochCallback | None) -> None:
        self.group, self.on_epoch = group, on_epoch
        runs, trained, device = group.runs, group.trained, group.device
        self.lead = lead = runs[0].config
        order = sorted(trained, key=lambda i: KINDS.index(optimizer_kind(runs[i].hyper)))
        #: One contiguous block per optimizer kind (StackedOptimizer needs it).
        self.stacked_runs = [runs[i] for i in order]
        self.stack = _Stack(self.stacked_runs, template.to(device), [rates[trained.index(i)] for i in order],
                            lead.loss)
        params = list(self.stack.params.values())
        self.optimizer = StackedOptimizer(params, [run.hyper for run in self.stacked_runs], compiled=lead.compile)
        self.step_losses = maybe_compiled(self.stack.losses, lead.compile, lead.batch_size, params,
                                          variants=self.stack.variants(device))
        self.dropout_rng = _RngStream.seeded(lead.seed + DROPOUT_STREAM_OFFSET, device) if self.stack.random else None
        self.feeds = _feeds([run.config for run in runs], trained, {i: order.index(i) for i in order}, group.data,
                            group.streams)
        self.feed_of = {i: feed for feed in self.feeds for i in feed.members} | {
            twin: feed for twin, source in group.trained_as.items() for feed in self.feeds if source in feed.members}
        self.slot_feed = [self.feeds.index(self.feed_of[i]) for i in order]  # each stack slot's feed
        self.augment = get_augmentation(lead.augmentation)
        self.flip_perm = torch.from_numpy(group.schema.flip_permutation).to(device)
        #: Per-slot batch sizes as a device column (cached: no copy a step).
        self.sizes: dict[tuple[int, ...], torch.Tensor] = {}
        self.started = time.perf_counter()
        self.reported = 0  # epochs whose rows on_epoch has had, for every run
        self.total = torch.zeros(len(self.stacked_runs), device=device)  # each slot's loss summed over its epoch

    def train(self, runs_root: Path, show_progress: bool, should_stop: Callable[[], bool] | None) -> list[Path]:
        """Train every feed's epochs, or until ``should_stop()``; returns the run directories. A failure marks the
        records still running ``failed`` before it propagates."""
        runs, interrupted = self.group.runs, False
        try:
            self.open_records(runs_root)
            with tqdm(total=self.lead.epochs * sum(len(f.train) for f in self.feeds), unit="img",
                      disable=not show_progress,
                      desc=f"{self.lead.experiment}: {len(self.stacked_runs)} runs at once") as bar:
                try:
                    stopped = self.train_until_done(bar, should_stop)
                except KeyboardInterrupt:  # Ctrl-C: the runs end as stopped ones do
                    stopped = interrupted = True
                if stopped:
                    self.stop(bar)
        except BaseException as exc:
            for run in runs:
                if run.writer is not None and run.writer.record["status"] == "running":
                    run.writer.finish("failed", error=f"{type(exc).__name__}: {exc}")
            raise
        dirs = [run.writer.dir for run in runs]
        if interrupted:
            raise RunInterrupted(dirs, resumable=False)
        return dirs

    def open_records(self, runs_root: Path) -> None:
        """Each run's record (a twin's names the run that trains it) and best-checkpoint keeper."""
        group = self.group
        shared = {"grid_group": group.names, "trained_with": "grid"}
        for index, run in enumerate(group.runs):
            twin = {"trained_as": group.names[group.trained_as[index]]} if index in group.trained_as else {}
            fed = self.feed_of[index]
            env = run_environment(group.device, run.config, fed.train, fed.val, fed.test) | shared | twin
            run.writer = RunWriter(Path(runs_root), run.config.experiment, run.config.run_name(),
                                   run.config.to_dict(), env)
            (run.writer.dir / RESUME_NAME).unlink(missing_ok=True)  # an earlier lone run's: --resume would load it
            run.keeper = BestKeeper(run.writer, run.model)

    def train_until_done(self, bar: tqdm, should_stop: Callable[[], bool] | None) -> bool:
        """Step until every feed has trained all its epochs (False), or ``should_stop()``, polled after every step as
        ``run_config`` polls it after every batch, says stop (True)."""
        while True:
            batches = self.next_batches(bar)
            if all(feed.done for feed in self.feeds):
                return False
            self.step(*self.stacked_batch(batches))
            if should_stop is not None and should_stop():
                return True

    def next_batches(self, bar: tqdm) -> list[Batch]:
        """Each feed's next batch, counted into its epoch; a done feed's is its empty batch."""
        batches: list[Batch] = []
        for feed in self.feeds:
            batch = None if feed.done else self.take(feed, bar)
            if batch is None:
                batch = feed.empty
            else:
                feed.count += len(batch[0])
                bar.update(len(batch[0]))
            batches.append(batch)
        return batches

    def take(self, feed: _Feed, bar: tqdm) -> Batch | None:
        """The feed's next batch; at the end of its epoch, the epoch closed first (and the feed's runs finished after
        its last epoch: then None) and the next one begun."""
        batch = feed.next_batch() if feed.epoch else None
        if batch is None and not feed.done:
            if feed.epoch:
                self.close_epoch(feed, bar)
                if feed.done:
                    self.finish(feed, "done")
                    return None
            feed.begin(self.augment, self.flip_perm)
            batch = feed.next_batch()
        return batch

    def stacked_batch(self, batches: list[Batch]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                           int | torch.Tensor]:
        """The step's ``(images, points, mask)`` and how many faces each slot's loss is a mean over (its epoch's sum
        adds loss times that, as ``train_one_epoch`` sums): one feed's batch as it is, or the feeds' batches padded
        to one shape and stacked, a batch per slot."""
        if len(self.feeds) == 1:
            images, points, mask = batches[0]
            return images, points, mask, len(images)
        counts = tuple(len(batches[f][0]) if not self.feeds[f].done else 0 for f in self.slot_feed)
        batches = [_pad(batch, self.lead.batch_size) for batch in batches]
        for feed, batch in zip(self.feeds, batches, strict=True):
            if feed.empty is None:  # what it gives once done: this shape, every point masked
                feed.empty = tuple(torch.zeros_like(t) for t in batch)
        images, points, mask = (torch.stack([batches[f][part] for f in self.slot_feed]) for part in range(3))
        if counts not in self.sizes:
            self.sizes[counts] = torch.tensor(counts, dtype=self.total.dtype, device=self.group.device)
        return images, points, mask, self.sizes[counts]

    def step(self, images: torch.Tensor, points: torch.Tensor, mask: torch.Tensor,
             scale: int | torch.Tensor) -> None:
        """One optimizer step of every run, each slot's loss (times ``scale``) added to its epoch's sum."""
        lead = self.lead
        with self.dropout_rng.active() if self.dropout_rng else nullcontext(), _autocast(self.group.device, lead.amp):
            losses = self.step_losses(_prepare(images, lead.channels_last and images.dim() == 4), points, mask)
        self.optimizer.zero_grad()
        losses.sum().backward()  # run i's loss reaches only run i's slice: each gets its own gradient
        self.optimizer.step()
        self.total += losses.detach() * scale

    def close_epoch(self, feed: _Feed, bar: tqdm) -> None:
        """The feed's epoch as run_config ends one: schedule, evaluate, log (its runs and their twins)."""
        group = self.group
        totals = self.total.tolist()
        train_loss = [totals[slot] / max(feed.count, 1) for slot in feed.slots]  # as train_one_epoch: float32 sum / n
        predictions = self.stack.predict(feed.val, self.lead) if len(self.feeds) == 1 else None
        val_metrics = []
        for slot in feed.slots:
            run = self.stacked_runs[slot]
            run.step_schedule()
            self.stack.copy_to(slot, run.model)
            val_metrics.append(evaluate(run.model, feed.val, group.schema, run.config) if predictions is None
                               else score(predictions[slot], feed.val, group.schema, run.config.loss))
        now = time.perf_counter()
        for slot, loss, metrics in zip(feed.slots, train_loss, val_metrics, strict=True):
            run = self.stacked_runs[slot]
            run.keeper.log(epoch_row(feed.epoch, loss, metrics, run.lr, feed.tick, now, self.started))
        for twin, source in group.trained_as.items():  # the same weights, the same row
            if source in feed.members:
                group.runs[twin].model.load_state_dict(group.runs[source].model.state_dict())
                group.runs[twin].keeper.log(dict(group.runs[source].keeper.writer.rows[-1]))
        feed.logged = feed.epoch
        self.total[feed.slots] = 0
        bar.set_postfix(best_val_rmse_px=f"{min(m.get('rmse_px', math.nan) for m in val_metrics):.3f}")
        if self.on_epoch is not None:
            self.report_epochs(self.on_epoch)

    def report_epochs(self, on_epoch: EpochCallback) -> None:
        """Every run's rows of the epochs every feed has now written, once each (the side-by-side pacing waits
        here)."""
        everyone = min(f.logged for f in self.feeds)
        for epoch in range(self.reported + 1, everyone + 1):
            for run in self.group.runs:
                on_epoch(run.writer.rows[epoch - 1])
        self.reported = max(self.reported, everyone)

    def finish(self, feed: _Feed, how: str) -> None:
        """Close the records of the feed's runs and their twins (test metrics, ``status: how``)."""
        group = self.group
        for i in [*feed.members, *(t for t, source in group.trained_as.items() if source in feed.members)]:
            run = group.runs[i]
            run.writer.record["env"] |= compile_status(self.step_losses) | self.optimizer.record()
            finish_run(run.config, group.schema, feed.val, feed.test, run.writer, run.keeper, how)

    def stop(self, bar: tqdm) -> None:
        """Stopped: each feed still training closes the epoch it is in, and its runs finish ``stopped``, or ``done``
        where the stop came with the last batch of their last epoch."""
        for feed in self.feeds:
            if not feed.done:
                complete = feed.count == len(feed.train)
                self.close_epoch(feed, bar)
                self.finish(feed, "stopped" if ends_stopped(feed.epoch, feed.config.epochs, complete, True) else "done")


def train_together(configs: list[TrainConfig], runs_root: Path, show_progress: bool = True,
                   should_stop: Callable[[], bool] | None = None,
                   on_epoch: EpochCallback | None = None) -> list[Path]:
    """Train one group (configs equal but for :data:`PER_RUN` and :data:`PER_RUN_DATA`) as a stacked model; returns
    the run directories.

    Runs whose module structures turn out not to stack (beyond dropout) train one after another instead."""
    group = _Group.load(configs)
    stackable = _template([group.runs[i].model for i in group.trained])
    if stackable is None:
        warnings.warn(f"{group.names}: module structures differ beyond dropout; training them one by one",
                      stacklevel=2)
        return [run_config(config, runs_root, on_epoch, should_stop, show_progress) for config in configs]
    return _GroupTraining(group, *stackable, on_epoch).train(runs_root, show_progress, should_stop)
