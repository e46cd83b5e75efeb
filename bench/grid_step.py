"""Where a grid-at-once training step spends its time: one stacked seed-001 ConvNet group, several ways.

Why: on the H200 the campaign's 500-epoch seed grids fell far short. The nine-run ConvNet group of ``optimizers``
managed 23 epochs in 283 s (about 130 ms a step for 9 x 64 images, ~5 TFLOP/s summed over all groups) while the
SimpleNet groups went 7x further. That is launch overhead, the twelve processes sharing one GPU, or the kernels
themselves (``vmap`` turns each convolution of the stack into one grouped convolution, in bf16 and channels-last).
This bench separates them in one process: milliseconds per training step (forward, backward, optimizer) of the
``optimizers`` grid's ConvNet runs stacked as the campaign stacks them (:mod:`trainers.engine.grid`: folded into the
channels, :mod:`trainers.engine.folded`), stacked through ``vmap`` as it did before (``grid_at_once_vmap``: the
first H200 measurement, whose profile showed the copies the folded forward removes), and stepped one after another
with ``torch.optim``, each with bf16 autocast on and off and channels-last on and off (``--layouts``); the folded
stack through ``torch.compile`` (``grid_at_once_compiled``, :mod:`trainers.engine.compiled`: the campaign's setting,
bf16 on a GPU, contiguous and, on a GPU, channels-last: the two compiled ways the trainer races there), timed
first, with a ``torch.profiler`` table of the contiguous compiled step (the kernels that take the time).
``_gemm`` modes compute the stack's convolutions as unfolded patches times filters
(:func:`trainers.engine.folded.gemm_conv2d`: batched matrix products in place of grouped convolutions), eagerly
and, on a GPU, compiled: the third way the trainer races. Channels-last means the activations: the folded stack
converts its first convolution's output (a 1-channel batch alone keeps them contiguous;
:func:`trainers.engine.folded.folded_forward`).

Synthetic batches (random 96x96 grey images, the kaggle15 shape): a step's cost does not depend on the pixels.
Run: ``python bench/grid_step.py --device cuda --out DIR`` (writes ``grid_step_cuda.csv`` and
``grid_step_cuda_profile.txt``; on a GPU, in a device call). On this repo's 2-core CPU: ``--device cpu --runs 9
--steps 3 --warmup 1`` (``grid_step_cpu.csv``, about 3 minutes).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from bench.train_speed import sync, timing_context  # noqa: E402
from kpdemo.models import build_model  # noqa: E402
from kpdemo.training.losses import masked_loss  # noqa: E402
from trainers.engine.compiled import compile_status, maybe_compiled  # noqa: E402
from trainers.engine.grid import _Run, _Stack, _template  # noqa: E402
from trainers.engine.stacked_optim import KINDS, StackedOptimizer, optimizer_kind  # noqa: E402
from trainers.engine.train import _autocast, make_optimizer  # noqa: E402
from trainers.grids import get_experiment  # noqa: E402

RESULTS = Path(__file__).parent / "results"
#: kaggle15's crops and points: what the seed grids train on.
SIDE, POINTS, BATCH = 96, 15, 64
#: The campaign's own step: folded and compiled (timed in one setting only: each compiles anew).
COMPILED = "grid_at_once_compiled"
#: The same with the convolutions as matrix products (one of the ways the trainer's compiled step races on a GPU).
COMPILED_GEMM = "grid_at_once_compiled_gemm"
#: ``--layouts`` names: whether the activations are channels-last.
LAYOUTS = {"channels_last": True, "contiguous": False}

Step = Callable[[], None]


def group_runs(count: int, channels_last: bool, device: torch.device) -> list[_Run]:
    """The first ``count`` ConvNet runs of the ``optimizers`` grid, each model built from its own seed."""
    configs = [c for c in get_experiment("optimizers").configs if c.model == "convnet"][:count]
    runs = []
    for config in configs:
        torch.manual_seed(config.seed)
        model = build_model("convnet", num_points=POINTS, in_channels=1, input_size=(SIDE, SIDE), init=config.init,
                            dropout=config.dropout).to(device)
        model = model.to(memory_format=torch.channels_last) if channels_last else model
        runs.append(_Run(replace(config, channels_last=channels_last), model))
    return sorted(runs, key=lambda run: KINDS.index(optimizer_kind(run.hyper)))


def stacked_step(runs: list[_Run], batch: tuple[torch.Tensor, ...], amp: bool, fold: bool = True,
                 compiled: bool = False, gemm: bool = False) -> Step:
    """The campaign's step: one forward of the stacked runs (folded into the channels, or ``vmap`` with
    ``fold=False``: the engine's path before the folded one; through ``torch.compile`` with ``compiled``, the
    first warm-up step compiling it, and the optimizer's update from the second, :mod:`trainers.engine.fused_optim`;
    ``gemm``: the convolutions as matrix products, :func:`trainers.engine.folded.gemm_conv2d`), one backward, one
    stacked optimizer step."""
    template, rates = _template([run.model for run in runs])
    stack = _Stack(runs, template.to(batch[0].device), rates, "mse", fold=fold)
    optimizer = StackedOptimizer(list(stack.params.values()), [run.hyper for run in runs], compiled=compiled,
                                 choose=False)
    losses = partial(stack.losses, channels_last=runs[0].config.channels_last, gemm=gemm)
    losses_of = maybe_compiled(losses, compiled, BATCH, list(stack.params.values()), choose=False)

    def step() -> None:
        with _autocast(batch[0].device, amp):
            losses = losses_of(*batch)
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()

    step.compiled = losses_of  # type: ignore[attr-defined]  # the row says whether it compiled (compile_status)
    step.optimizer = optimizer  # type: ignore[attr-defined]  # ... and whether its update did
    return step


def one_by_one_step(runs: list[_Run], batch: tuple[torch.Tensor, ...], amp: bool) -> Step:
    """The same runs as plain models with their own ``torch.optim`` optimizers, stepped one after another."""
    optimizers = [make_optimizer(run.config, run.model.parameters()) for run in runs]

    def step() -> None:
        for run, optimizer in zip(runs, optimizers, strict=True):
            with _autocast(batch[0].device, amp):
                loss = masked_loss(run.model(batch[0]), batch[1], batch[2], "mse")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return step


def synthetic_batch(channels_last: bool, device: torch.device) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 1, SIDE, SIDE, generator=generator).to(device)
    points = (torch.rand(BATCH, POINTS, 2, generator=generator) * 2 - 1).to(device)
    mask = torch.ones(BATCH, POINTS, dtype=torch.bool, device=device)
    return (x.contiguous(memory_format=torch.channels_last) if channels_last else x), points, mask


def ms_per_step(step: Step, steps: int, device: torch.device, warmup: int = 3) -> float:
    for _ in range(warmup):  # cuDNN's autotuning, the allocator, lazy state
        step()
    sync(device.type)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device.type)
    return (time.perf_counter() - start) / steps * 1000


def profile_table(step: Step, device: torch.device, steps: int = 5, rows: int = 25) -> str:
    """The ops (and, on CUDA, kernels) that take ``steps`` steps' time, heaviest first."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device.type)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--runs", type=int, default=9, help="ConvNet runs in the group (optimizers has 9)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for grid_step_<device>.csv and its profile (default bench/results)")
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS),
                        help="memory layouts to time the eager modes in (the compiled step: contiguous, and "
                             "channels-last on a GPU)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the trainer sets it
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    modes: dict[str, Callable[[list[_Run], tuple[torch.Tensor, ...], bool], Step]] = {
        "grid_at_once": stacked_step, "grid_at_once_gemm": partial(stacked_step, gemm=True),
        "grid_at_once_vmap": partial(stacked_step, fold=False), "one_by_one": one_by_one_step}
    bf16 = (True, False) if device.type == "cuda" else (False,)  # autocast is bf16 on CUDA only
    # compiling costs a while: the campaign's settings only (the ways its compiled step races on a GPU: both
    # layouts, and the convolutions as matrix products). They go first: in a device call cut short by its time
    # limit, they are what has not been measured before (the eager modes were, on 2026-11-30)
    settings = [(COMPILED, bf16[0], layout) for layout in ((False, True) if device.type == "cuda" else (False,))]
    settings += [(COMPILED_GEMM, bf16[0], False)] if device.type == "cuda" else []
    settings += [(mode, amp, LAYOUTS[layout]) for mode in modes for amp in bf16 for layout in args.layouts]
    modes[COMPILED] = partial(stacked_step, compiled=True)
    modes[COMPILED_GEMM] = partial(stacked_step, compiled=True, gemm=True)
    for mode, amp, channels_last in settings:
        runs = group_runs(args.runs, channels_last, device)
        step = modes[mode](runs, synthetic_batch(channels_last, device), amp)
        # the compiled step compiles twice: its loss on the first step, its optimizer's update on the second (the
        # first update is eager: it creates the moments); neither compile belongs in the timed steps
        ms = ms_per_step(step, args.steps, device,
                         max(args.warmup, 2) if mode in (COMPILED, COMPILED_GEMM) else args.warmup)
        optimizer = getattr(step, "optimizer", None)  # a stacked step's (one by one: torch's own)
        rows.append({"mode": mode, "bf16": amp, "channels_last": channels_last,
                     "runs": len(runs), "batch": BATCH, "ms_per_step": ms,
                     "compiled": compile_status(getattr(step, "compiled", None)).get("compiled", "no"),
                     "optimizer_compiled": optimizer.record().get("optimizer_compiled", "no") if optimizer else "no",
                     "images_per_s_summed": len(runs) * BATCH / ms * 1000, "device": str(device),
                     **timing_context(device.type)})
        print({k: rows[-1][k] for k in ("mode", "bf16", "channels_last", "ms_per_step")}, flush=True)
        # written as each setting ends, so a device call cut short still returns what it measured
        pd.DataFrame(rows).to_csv(args.out / f"grid_step_{device.type}.csv", index=False)
        if mode == COMPILED and not channels_last:
            # the seed grids' setting in the campaign: folded, compiled, contiguous (trainers.campaign.SEED_LAYOUT),
            # bf16 on CUDA; profiled now, as it is (a new one would compile again), and written at once
            table = profile_table(step, device, steps=min(args.steps, 5))
            (args.out / f"grid_step_{device.type}_profile.txt").write_text(table)
            print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
