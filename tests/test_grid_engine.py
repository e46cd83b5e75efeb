"""Grid-at-once training (:mod:`trainers.engine.grid`): runs trained together as one stacked model record what they
record trained alone, and the stacked optimizer steps as ``torch.optim`` does.

Data: the real ``kaggle15`` when ``$KPDEMO_DATA`` has it, else the committed 3-row Kaggle CSV fixture repeated to 120
rows (``kaggle_csv`` through ``$KPDEMO_KAGGLE_CSV``), so the test runs without the datasets. The ConvNet is shrunk
through ``model_kwargs`` (same code path, a tenth of the compute) to keep each test within seconds on a loaded CPU.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from kpdemo.checkpoints import load_checkpoint
from kpdemo.datasets.registry import get_dataset
from kpdemo.models import build_model, load_model
from kpdemo.training.losses import masked_loss
from kpdemo.training.tensors import TensorSet
from trainers.engine.config import TrainConfig
from trainers.engine.data import cached_dataset
from trainers.engine.folded import gemm_conv2d
from trainers.engine.grid import _Run, _Stack, _template, group_configs, run_grid
from trainers.engine.side_by_side import Pace, train_side_by_side
from trainers.engine.stacked_optim import StackedOptimizer
from trainers.engine.train import predict, run_config
from trainers.grids import EXPERIMENTS
from trainers.grids.seed001 import SEED_GRIDS

#: Per-epoch losses of a grid run vs the same run alone. Not exact: under vmap the stacked convolutions run as one
#: grouped convolution and the dense layers as batched matmuls, which sum in another order than the single model's
#: kernels, so the weights drift apart by float rounding. Measured on the 2-core CPU: at most 2e-7 relative here
#: (the plain SGD run bit for bit), 5e-6 with the seed's full-size ConvNet under Adam (whose normalised step
#: magnifies rounding in tiny gradients). 1e-4 leaves room for other CPUs' and GPUs' kernels.
RTOL = 1e-4
SMALL_CONVNET = {"filters": [8, 16, 32], "hidden": [64, 64]}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kaggle15`` if its files are here, else ``kaggle_csv`` on the committed fixture rows, repeated."""
    if get_dataset("kaggle15").is_available():
        yield "kaggle15"
        return
    fixture = Path(__file__).parent / "fixtures" / "kaggle_training_small.csv"
    rows = pd.read_csv(fixture, dtype=str, keep_default_na=False)
    csv = tmp_path_factory.mktemp("kaggle") / "training.csv"
    pd.concat([rows] * 40, ignore_index=True).to_csv(csv, index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KPDEMO_KAGGLE_CSV", str(csv))
        cached_dataset.cache_clear()
        yield "kaggle_csv"
    cached_dataset.cache_clear()


def _configs(dataset: str, **changes: object) -> list[TrainConfig]:
    base = TrainConfig(experiment="gridtest", dataset=dataset, model="convnet", init="xavier",
                       model_kwargs=SMALL_CONVNET, train_subset=64, eval_subset=64, epochs=2, batch_size=32,
                       device="cpu")
    runs = [dict(optimizer="sgd", lr=1e-2), dict(optimizer="momentum", lr=1e-2), dict(optimizer="adam", lr=1e-3)]
    return [replace(base, **run, **changes) for run in runs]


def _history(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "history.csv")


def test_grid_runs_record_what_they_record_alone(dataset: str, tmp_path: Path) -> None:
    configs = _configs(dataset)
    assert [len(g) for g in group_configs(configs)] == [3]
    alone = [run_config(c, tmp_path / "alone", show_progress=False) for c in configs]
    together = run_grid(configs, tmp_path / "grid", show_progress=False)
    for solo, grid, config in zip(alone, together, configs, strict=True):
        assert grid.name == solo.name == config.run_name()
        a, b = _history(solo), _history(grid)
        assert list(a.columns) == list(b.columns) and len(b) == config.epochs
        for column in ("train_loss", "val_loss", "val_rmse_px"):
            np.testing.assert_allclose(b[column], a[column], rtol=RTOL, err_msg=f"{grid.name} {column}")
        np.testing.assert_array_equal(b["lr"], a["lr"])
        record = json.loads((grid / "record.json").read_text())
        assert record["status"] == "done" and record["checkpoint"] == "best.pt"
        assert record["config"] == config.to_dict()
        assert record["env"]["trained_with"] == "grid"
        assert record["env"]["grid_group"] == [c.run_name() for c in configs]
        model, meta = load_model(grid / "best.pt", expect_schema="kaggle15")
        assert meta.run == config.run_name() and meta.metrics["best_epoch"] == record["best"]["epoch"]


def test_each_stacked_run_starts_from_its_own_init(dataset: str, tmp_path: Path) -> None:
    """Runs that differ in init scheme stack (runs of different seeds draw other batches, so they form groups of
    their own), and each starts from the weights it starts from alone: a stack that gave every run the first run's
    init would still pass the test above, whose runs share it."""
    configs = [replace(c, init=init) for c, init in zip(_configs(dataset), ("zeros", "xavier", "default"), strict=True)]
    assert [len(g) for g in group_configs(configs)] == [3]
    alone = [run_config(c, tmp_path / "alone", show_progress=False) for c in configs]
    together = run_grid(configs, tmp_path / "grid", show_progress=False)
    firsts = []
    for solo, grid in zip(alone, together, strict=True):
        a, b = _history(solo), _history(grid)
        np.testing.assert_allclose(b["val_loss"], a["val_loss"], rtol=RTOL, err_msg=grid.name)
        firsts.append(float(b["val_loss"].iloc[0]))
    assert len({round(f, 6) for f in firsts}) == 3  # three different starts, each matched


def test_folds_stacked_record_what_they_record_alone(dataset: str, tmp_path: Path) -> None:
    """The folds of a cross-validation train as one stack, each on batches of its own (its images, shuffle and
    augmentation draws): every fold records what it records alone, though their epochs differ in length (here the
    training subsets differ too; the last batch of each is padded with masked faces) and one fold holds two runs."""
    base = replace(_configs(dataset, augmentation="flip_rotate")[2], folds=3, batch_size=16)
    folds = [replace(base, fold=k, train_subset=n) for k, n in enumerate((40, 56, 50))] + [
        replace(base, fold=1, train_subset=56, optimizer="momentum", lr=1e-2)]
    assert [len(g) for g in group_configs(folds)] == [4]
    together = run_grid(folds, tmp_path / "grid", show_progress=False)
    sizes = set()
    for config, grid in zip(folds, together, strict=True):
        solo = run_config(config, tmp_path / "alone", show_progress=False)
        a, b = _history(solo), _history(grid)
        assert len(b) == config.epochs
        for column in ("train_loss", "val_loss", "val_rmse_px"):
            np.testing.assert_allclose(b[column], a[column], rtol=RTOL, err_msg=f"{grid.name} {column}")
        records = [json.loads((d / "record.json").read_text()) for d in (solo, grid)]
        assert records[1]["status"] == "done" and records[1]["test"] == pytest.approx(records[0]["test"], rel=RTOL)
        sizes.add(records[1]["env"]["train_images"] % config.batch_size)
    assert len(sizes) > 1  # the folds' last batches differ: the padding is exercised


def test_stacked_folds_stop_together_each_at_its_own_epoch(dataset: str, tmp_path: Path) -> None:
    """Folds of 3 and 4 steps an epoch stopped after their fifth step: each run ends ``stopped`` with the epoch it was
    in (the second for all here), and ``on_epoch`` (the pacing) gets each epoch's rows once every fold has them."""
    base = replace(_configs(dataset)[2], folds=3, batch_size=16, epochs=10)
    folds = [replace(base, fold=k, train_subset=n) for k, n in enumerate((40, 56, 50))]  # 3, 4 and 4 steps
    polls, seen = [], []

    def on_epoch(row: dict[str, float]) -> None:  # the row's epoch, and the fewest rows any run has written by then
        written = [len(_history(d)) if (d / "history.csv").exists() else 0 for d in (tmp_path / "gridtest").iterdir()]
        seen.append((row["epoch"], min(written) if len(written) == len(folds) else 0))

    dirs = run_grid(folds, tmp_path, show_progress=False, should_stop=lambda: polls.append(1) or len(polls) >= 5,
                    on_epoch=on_epoch)
    for run_dir in dirs:
        assert json.loads((run_dir / "record.json").read_text())["status"] == "stopped"
        assert _history(run_dir)["epoch"].tolist() == [1, 2]
    assert seen == [(1, 1)] * 3 + [(2, 2)] * 3


def test_dropout_rates_stay_per_run(dataset: str, tmp_path: Path) -> None:
    """Dropout 0 and 0.5 in one group, with augmentation: the run without dropout still sees exactly its own batches
    (the masks come from a second RNG stream), the other trains with its own rate and ships a dropout model."""
    plain, dropped = (replace(_configs(dataset, augmentation="flip_rotate")[2], dropout=d) for d in (0.0, 0.5))
    assert [len(g) for g in group_configs([plain, dropped])] == [2]
    solo = run_config(plain, tmp_path / "alone", show_progress=False)
    together = run_grid([plain, dropped], tmp_path / "grid", show_progress=False)
    np.testing.assert_allclose(_history(together[0])["train_loss"], _history(solo)["train_loss"], rtol=RTOL)
    # the stacked dropout acts: same init, batches and optimizer as the plain run, so only its masks set it apart
    assert not np.allclose(_history(together[1])["train_loss"], _history(together[0])["train_loss"], rtol=1e-3)
    model, meta = load_model(together[1] / "best.pt")
    assert meta.model_kwargs["dropout"] == 0.5
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in model.modules())
    assert json.loads((together[1] / "record.json").read_text())["status"] == "done"


def test_a_stopped_group_still_records_every_run(dataset: str, tmp_path: Path) -> None:
    """``should_stop`` (the campaign's time budget) is polled per batch, as ``run_config`` polls it."""
    configs = _configs(dataset, epochs=5)
    for run_dir in run_grid(configs, tmp_path, show_progress=False, should_stop=lambda: True):
        record = json.loads((run_dir / "record.json").read_text())
        assert record["status"] == "stopped" and record["checkpoint"] == "best.pt" and record["test"]
        assert len(_history(run_dir)) == 1


def test_groups_side_by_side_record_what_they_record_in_this_process(dataset: str, tmp_path: Path) -> None:
    """The campaign's worker processes (:mod:`trainers.engine.side_by_side`) train a group as this process does:
    same runs, same per-epoch losses, every group reported to ``on_done`` as it ends; a group that fails is reported
    as its error and costs the others nothing."""
    configs = _configs(dataset)
    here = run_grid(configs, tmp_path / "here", show_progress=False)
    ended: list[int] = []
    broken = [replace(configs[0], model="no_such_model")]
    outcomes = train_side_by_side([configs[:2], broken, configs[2:]], tmp_path / "workers", time.time() + 600,
                                  workers=2, on_done=lambda index, outcome: ended.append(index))
    assert sorted(ended) == [0, 1, 2]
    assert isinstance(outcomes[1], RuntimeError) and "no_such_model" in str(outcomes[1])
    workers = [run_dir for outcome in (outcomes[0], outcomes[2]) for run_dir in outcome]
    for solo, run_dir in zip(here, workers, strict=True):
        assert run_dir == tmp_path / "workers" / solo.relative_to(tmp_path / "here")
        assert json.loads((run_dir / "record.json").read_text())["status"] == "done"
        for column in ("train_loss", "val_loss"):
            np.testing.assert_allclose(_history(run_dir)[column], _history(solo)[column], rtol=RTOL)


def test_a_group_ahead_of_the_slowest_waits_for_it() -> None:
    """:class:`Pace`: a group more than an epoch ahead of the slowest running group waits until that one catches up;
    a group not training (NaN) holds nobody back, nor does waiting outlast the deadline or follow the last epoch."""
    progress = [0.0, 0.0, math.nan]  # the workers share a RawArray; a list reads and writes alike
    fast = Pace(progress, 0, epochs=10, deadline=time.time() + 60)
    fast({"epoch": 1})  # one epoch ahead: goes on
    waiting = threading.Thread(target=fast, args=({"epoch": 2},))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive() and progress[0] == 0.2  # two ahead of group 1 (group 2 is not training)
    progress[1] = 0.1
    waiting.join(10)
    assert not waiting.is_alive()
    progress[1] = math.nan  # group 1 ended: the others go on alone
    fast({"epoch": 5})
    progress[1] = 0.0
    fast({"epoch": 10})  # the last epoch: nothing left to pace
    late = Pace(progress, 0, epochs=10, deadline=time.time() - 1)
    late({"epoch": 6})  # past the deadline: the run must get to its stop
    assert late.ahead()


def test_groups_side_by_side_keep_level(dataset: str, tmp_path: Path) -> None:
    """Paced workers: a cheap group (one small ConvNet on 64 images) beside a costly one (three seed-size ConvNets on
    512 images) ends the deadline at most two epochs ahead of it, where unpaced it would have run many times its
    epochs on its share of the cores."""
    cheap = [replace(_configs(dataset)[0], epochs=1000)]
    costly = [replace(c, model_kwargs={}, train_subset=512, epochs=1000) for c in _configs(dataset)]
    outcomes = train_side_by_side([cheap, costly], tmp_path, time.time() + 45, workers=2)
    epochs = []
    for outcome in outcomes:
        assert not isinstance(outcome, Exception), outcome
        records = [json.loads((run_dir / "record.json").read_text()) for run_dir in outcome]
        assert {r["status"] for r in records} == {"stopped"}
        epochs.append(len(_history(outcome[0])))
    assert epochs[1] >= 1 and epochs[0] <= epochs[1] + 2, epochs


def test_grouping_of_the_seed_001_grids(dataset: str) -> None:
    def sizes(name: str) -> list[int]:
        return [len(g) for g in group_configs([replace(c, dataset=dataset) for c in EXPERIMENTS[name].configs])]

    assert sizes("init") == [2, 2]  # per model
    assert sizes("optimizers") == [9, 9]
    assert sizes("augmentation") == [1, 1]  # the augmentation decides the batches
    assert sizes("dropout") == [4]  # dropout rates differ per run inside the group
    assert sizes("cv") == [5]  # one stack, each fold on batches of its own
    # the campaign groups the grids together: the runs that share their data train as one stack, across grids
    together = [replace(c, dataset=dataset) for name in SEED_GRIDS for c in EXPERIMENTS[name].configs]
    assert [len(g) for g in group_configs(together)] == [11, 12, 5, 5]
    plain = _configs(dataset)
    alone = [replace(plain[0], ema=0.99), replace(plain[1], weights="run:x"),
             replace(plain[2], model="immnet", model_kwargs={})]  # BatchNorm statistics: trains alone
    assert [len(g) for g in group_configs(plain + alone)] == [3, 1, 1, 1]


def test_a_group_spanning_grids_trains_a_shared_run_once(dataset: str, tmp_path: Path) -> None:
    """Two grids in one group, one run in both (seed 001's ``init`` and ``optimizers`` share their momentum runs): it
    trains once and both grids get its record, the same history and weights; the other runs still record what they
    record alone."""
    sgd, momentum, adam = _configs(dataset)
    first = [replace(c, experiment="grid_a") for c in (sgd, momentum)]
    second = [replace(c, experiment="grid_b") for c in (momentum, adam)]
    assert [len(g) for g in group_configs(first + second)] == [4]
    dirs = run_grid(first + second, tmp_path / "grid", show_progress=False)
    assert [d.relative_to(tmp_path / "grid").parts[0] for d in dirs] == ["grid_a", "grid_a", "grid_b", "grid_b"]
    shared, twin = (json.loads((d / "record.json").read_text()) for d in (dirs[1], dirs[2]))
    assert twin["env"]["trained_as"] == f"grid_a/{momentum.run_name()}" and "trained_as" not in shared["env"]
    assert twin["env"]["grid_group"] == [f"{c.experiment}/{c.run_name()}" for c in first + second]
    assert twin["config"]["experiment"] == "grid_b" and twin["best"] == shared["best"]
    pd.testing.assert_frame_equal(_history(dirs[2]), _history(dirs[1]))
    weights = [load_checkpoint(d / "best.pt")[0] for d in (dirs[1], dirs[2])]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    alone = run_config(second[1], tmp_path / "alone", show_progress=False)
    np.testing.assert_allclose(_history(dirs[3])["val_loss"], _history(alone)["val_loss"], rtol=RTOL)


def _optimizers(params: list[torch.Tensor]) -> list[torch.optim.Optimizer]:
    return [torch.optim.SGD(params, lr=0.1), torch.optim.SGD(params, lr=0.03, weight_decay=1e-2),
            torch.optim.SGD(params, lr=0.05, momentum=0.9), torch.optim.SGD(params, lr=0.01, momentum=0.5,
                                                                            weight_decay=1e-3),
            torch.optim.Adam(params, lr=1e-3), torch.optim.Adam(params, lr=1e-2, weight_decay=1e-2),
            torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1), torch.optim.AdamW(params, lr=3e-3, weight_decay=0)]


@pytest.mark.filterwarnings("ignore:Detected call of")  # the hyperparameter holders never step themselves
def test_stacked_optimizer_steps_as_torch_optim() -> None:
    """Eight runs (SGD, momentum, Adam, AdamW, with and without weight decay) under cosine schedules: each slice of the
    stack follows its own ``torch.optim`` optimizer (bit for bit on this CPU; the tolerance is for FMA kernels)."""
    generator = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (7,), (4, 2, 3, 3)]
    runs = len(_optimizers([torch.zeros(1, requires_grad=True)]))
    start = [[torch.randn(s, generator=generator) for s in shapes] for _ in range(runs)]
    alone = [[p.clone().requires_grad_() for p in params] for params in start]
    reference = [_optimizers(params)[i] for i, params in enumerate(alone)]
    stacked = [torch.stack([params[k] for params in start]).requires_grad_() for k in range(len(shapes))]
    hyper = _optimizers([torch.nn.Parameter(torch.zeros(1))])
    optimizer = StackedOptimizer(stacked, hyper)
    schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6) for o in reference + hyper]
    for _ in range(6):
        grads = [[torch.randn(s, generator=generator) for s in shapes] for _ in range(runs)]
        for params, opt, grad in zip(alone, reference, grads, strict=True):
            for p, g in zip(params, grad, strict=True):
                p.grad = g.clone()
            opt.step()
        for k, p in enumerate(stacked):
            p.grad = torch.stack([grad[k] for grad in grads])
        optimizer.step()
        for schedule in schedules:
            schedule.step()
    for i, params in enumerate(alone):
        for k, p in enumerate(params):
            torch.testing.assert_close(stacked[k][i], p.detach(), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="contiguous"):
        StackedOptimizer(stacked[:1], [hyper[4], hyper[0], hyper[5], *hyper[1:4], *hyper[6:]])


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_the_fused_update_follows_the_eager_one() -> None:
    """The compiled, fused update (:mod:`trainers.engine.fused_optim`) against the eager one on the same eight-run
    stack under cosine schedules: the same weights up to float rounding after every step, and no recompile although
    the learning rates and Adam's bias corrections change every step (they enter as tensors)."""
    generator = torch.Generator().manual_seed(1)
    shapes = [(5, 3), (7,), (4, 2, 3, 3)]
    runs = len(_optimizers([torch.zeros(1, requires_grad=True)]))
    start = [torch.randn((runs, *s), generator=generator) for s in shapes]
    stacks, optimizers, schedules = [], [], []
    for compiled in (False, True):
        stacked = [p.clone().requires_grad_() for p in start]
        hyper = _optimizers([torch.nn.Parameter(torch.zeros(1))])
        stacks.append(stacked)
        optimizers.append(StackedOptimizer(stacked, hyper, compiled=compiled, choose=False))
        schedules += [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6) for o in hyper]
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(6):
            grads = [torch.randn((runs, *s), generator=generator) for s in shapes]
            for stacked, optimizer in zip(stacks, optimizers, strict=True):
                for p, g in zip(stacked, grads, strict=True):
                    p.grad = g.clone()
                optimizer.step()
            for schedule in schedules:
                schedule.step()
            for eager, fused in zip(*stacks, strict=True):
                torch.testing.assert_close(fused.detach(), eager.detach(), rtol=1e-5, atol=1e-6)
    assert optimizers[1].record() == {"optimizer_compiled": "yes"} and optimizers[0].record() == {}


@pytest.mark.parametrize("model", ["convnet", "simplenet"])
@pytest.mark.parametrize("rates", [(0.0, 0.0, 0.0), None])
def test_the_folded_forward_gives_vmaps_losses_and_gradients(model: str, rates: tuple[float, ...] | None) -> None:
    """The stack's forwards, runs folded into the channels (contiguous, channels-last, convolutions as matrix
    products) and vmap, on one batch: the same losses and the same gradient for every run's every weight (float
    summation order aside). Rates 0 put the per-run dropout
    layers in the template (identity at rate 0, so both forwards must agree exactly on them too)."""
    torch.manual_seed(0)
    kwargs = SMALL_CONVNET if model == "convnet" else {"hidden": 64}
    configs = [TrainConfig(experiment="fold", dataset="kaggle15", model=model, optimizer=o, lr=1e-3, seed=i,
                           dropout=0.0 if rates is None else rates[i], init="xavier", device="cpu")
               for i, o in enumerate(("sgd", "momentum", "adam"))]
    models = []
    for config in configs:
        torch.manual_seed(config.seed)
        net = build_model(model, num_points=15, in_channels=1, input_size=(96, 96), init=config.init,
                          dropout=0.1 if rates is not None else 0.0, **kwargs)
        models.append(net)
    runs = [_Run(config, net) for config, net in zip(configs, models, strict=True)]
    template, run_rates = _template([run.model for run in runs])
    if rates is not None:
        run_rates = [[r] * len(run_rates[0]) for r in rates]
    x = torch.randn(8, 1, 96, 96)
    points, mask = torch.rand(8, 15, 2) * 2 - 1, torch.rand(8, 15) > 0.2
    results = []
    for fold, channels_last, gemm in ((True, False, False), (False, False, False), (True, True, False),
                                      (True, False, True)):
        stack = _Stack(runs, template, run_rates, "mse", fold=fold)
        assert (stack.layers is not None) == fold
        losses = stack.losses(x, points, mask, channels_last=channels_last, gemm=gemm)
        losses.sum().backward()
        results.append((losses.detach(), {k: v.grad for k, v in stack.params.items()}))
    (folded, folded_grads), *others = results
    for losses, grads in others:  # vmap, the folded stack in channels-last, its convolutions as matrix products
        torch.testing.assert_close(folded, losses, rtol=1e-5, atol=1e-7)
        for name, grad in folded_grads.items():
            torch.testing.assert_close(grad, grads[name], rtol=1e-4, atol=1e-6, msg=name)
    # a batch per run (the folds of a stacked cross-validation): each run's loss is its own model's on its own batch
    xs = torch.randn(3, 8, 1, 96, 96)
    points, mask = torch.rand(3, 8, 15, 2) * 2 - 1, torch.rand(3, 8, 15) > 0.2
    alone = torch.stack([masked_loss(m.eval()(x_), p, k, "mse")  # eval: no dropout (the stack's rates are 0)
                         for m, x_, p, k in zip(models, xs, points, mask, strict=True)])
    for fold, gemm in ((True, False), (False, False), (True, True)):
        stack = _Stack(runs, template, run_rates, "mse", fold=fold)
        torch.testing.assert_close(stack.losses(xs, points, mask, gemm=gemm).detach(), alone.detach(), rtol=1e-5,
                                   atol=1e-7)


@pytest.mark.parametrize(("groups", "kernel", "stride", "padding", "dilation"),
                         [(1, 3, 1, 0, 1), (3, 2, 1, 0, 1), (3, 3, 2, 1, 1), (2, (3, 2), (1, 2), (2, 0), (2, 1))])
def test_a_convolution_as_matrix_products_is_the_convolution(groups: int, kernel: int | tuple[int, int],
                                                             stride: int | tuple[int, int],
                                                             padding: int | tuple[int, int],
                                                             dilation: int | tuple[int, int]) -> None:
    """:func:`gemm_conv2d` (unfold + batched products) against ``F.conv2d``: output and every gradient, grouped or
    not, with strides, padding and dilation (the seed ConvNet needs none of them; a model that folds may)."""
    generator = torch.Generator().manual_seed(0)
    layer = torch.nn.Conv2d(4 * groups, 6 * groups, kernel, stride, padding, dilation, groups=groups)
    x = torch.randn(5, 4 * groups, 13, 11, generator=generator, requires_grad=True)
    outputs, grads = [], []
    for conv in (lambda *a: gemm_conv2d(*a, layer=layer, groups=groups),
                 lambda *a: F.conv2d(*a, layer.stride, layer.padding, layer.dilation, groups)):
        out = conv(x, layer.weight, layer.bias)
        outputs.append(out)
        grads.append(torch.autograd.grad(out.square().sum(), [x, layer.weight, layer.bias]))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
    for ours, torchs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, torchs, rtol=1e-4, atol=1e-4)


def test_a_folded_stack_predicts_what_each_run_predicts_alone() -> None:
    """The epoch's evaluation of a folded stack (one forward for all runs, in eval mode) against each run's own
    model through :func:`trainers.engine.train.predict`: the same predictions, dropout off in both."""
    configs = [TrainConfig(experiment="fold", dataset="kaggle15", model="convnet", lr=1e-3, seed=i, dropout=rate,
                           device="cpu") for i, rate in enumerate((0.0, 0.5, 0.3))]
    runs = []
    for config in configs:
        torch.manual_seed(config.seed)
        runs.append(_Run(config, build_model("convnet", num_points=15, in_channels=1, input_size=(96, 96),
                                             dropout=config.dropout, **SMALL_CONVNET)))
    template, rates = _template([run.model for run in runs])
    stack = _Stack(runs, template, rates, "mse")
    data = TensorSet(torch.randint(0, 256, (300, 1, 96, 96), dtype=torch.uint8), torch.zeros(300, 15, 2),
                     torch.ones(300, 15, dtype=torch.bool))  # two batches of predict's 256
    stacked = stack.predict(data, configs[0])
    assert stacked.shape == (3, 300, 15, 2) and stack.template.training
    for slot, run in enumerate(runs):
        alone = predict(run.model, data, channels_last=False)
        torch.testing.assert_close(stacked[slot], alone, rtol=1e-5, atol=1e-6)
    assert _Stack(runs, template, rates, "mse", fold=False).predict(data, configs[0]) is None


def test_the_folded_stack_runs_channels_last_from_its_first_convolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1-channel batch in channels-last leaves a convolution's output contiguous; the folded stack's
    ``channels_last`` converts the first convolution's output, so every later convolution reads channels-last.
    The compiled step races that layout on a GPU only, and only for the folded stack."""
    configs = [TrainConfig(experiment="fold", dataset="kaggle15", model="convnet", lr=1e-3, seed=i, device="cpu")
               for i in range(2)]
    runs = [_Run(c, build_model("convnet", num_points=15, in_channels=1, input_size=(96, 96), **SMALL_CONVNET))
            for c in configs]
    template, rates = _template([run.model for run in runs])
    stack = _Stack(runs, template, rates, "mse")
    inputs: list[torch.Tensor] = []
    conv2d = torch.nn.functional.conv2d
    monkeypatch.setattr(torch.nn.functional, "conv2d", lambda x, *a, **k: inputs.append(x) or conv2d(x, *a, **k))
    x = torch.randn(4, 1, 96, 96).contiguous(memory_format=torch.channels_last)
    points, mask = torch.zeros(4, 15, 2), torch.ones(4, 15, dtype=torch.bool)
    layouts = {}
    for channels_last in (False, True):
        inputs.clear()
        stack.losses(x, points, mask, channels_last=channels_last)
        layouts[channels_last] = [t.is_contiguous(memory_format=torch.channels_last) for t in inputs[1:]]
    assert len(layouts[True]) >= 1
    assert all(layouts[True]) and not any(layouts[False]), layouts
    assert set(stack.variants(torch.device("cuda"))) == {"channels-last", "gemm"}
    assert stack.variants(torch.device("cpu")) == {}
    assert _Stack(runs, template, rates, "mse", fold=False).variants(torch.device("cuda")) == {}


def test_compiled_runs_record_what_eager_runs_record(dataset: str, tmp_path: Path) -> None:
    """``compile=true`` (:mod:`trainers.engine.compiled`, and grid-at-once :mod:`trainers.engine.fused_optim`), grid
    and alone: the same per-epoch losses as the eager runs (Inductor's fused kernels sum in another order: RTOL),
    whichever ways each run keeps after timing them, and records that say which and why. The epoch's last, smaller
    batch runs eagerly (64 training images in batches of 7: nine full, one of 1); the trial that compiles the
    backward puts the RNG back, so the augmented batches stay the eager run's."""
    configs = _configs(dataset, batch_size=7, augmentation="flip_rotate")[1:]
    eager = run_grid(configs, tmp_path / "eager", show_progress=False)
    compiled = [replace(c, compile=True) for c in configs]
    together = run_grid(compiled, tmp_path / "grid", show_progress=False)
    alone = run_config(compiled[0], tmp_path / "alone", show_progress=False)
    for run_dir, reference in [*zip(together, eager, strict=True), (alone, eager[0])]:
        record = json.loads((run_dir / "record.json").read_text())
        assert re.fullmatch(r"(yes|no, eager was faster): [\d.]+ ms a step compiled, [\d.]+ ms eager \(medians of 5\)",
                            record["env"]["compiled"]), record["env"]["compiled"]
        assert record["config"]["compile"] is True
        update = record["env"].get("optimizer_compiled")  # the stacked optimizer's: grid-trained runs only
        assert (update is None) == (run_dir == alone)
        assert update is None or re.fullmatch(
            r"(yes|no, eager was faster): [\d.]+ ms an update compiled, [\d.]+ ms eager \(medians of 5\)",
            update), update
        for column in ("train_loss", "val_loss"):
            np.testing.assert_allclose(_history(run_dir)[column], _history(reference)[column], rtol=RTOL,
                                       err_msg=f"{run_dir} {column}")


def test_a_run_whose_compile_fails_trains_eagerly(dataset: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No working compiler (say, no Triton on a GPU machine): a warning, the eager run's losses, and a record that
    says why it was not compiled."""
    def broken_compile(fn: object, **kwargs: object) -> object:
        def fails(*args: object) -> None:
            raise RuntimeError("no C++ compiler here")
        return fails

    monkeypatch.setattr(torch, "compile", broken_compile)
    config = _configs(dataset)[0]
    eager = run_config(config, tmp_path / "eager", show_progress=False)
    with pytest.warns(UserWarning, match="torch.compile failed"):
        run_dir = run_config(replace(config, compile=True), tmp_path / "compiled", show_progress=False)
    record = json.loads((run_dir / "record.json").read_text())
    assert record["env"]["compiled"].startswith("failed, trained eagerly: RuntimeError: no C++ compiler here")
    np.testing.assert_array_equal(_history(run_dir)["train_loss"], _history(eager)["train_loss"])
