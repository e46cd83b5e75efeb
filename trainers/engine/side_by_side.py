"""Train grid-at-once groups side by side, one worker process each, on one device, until a common deadline.

Why: a group of the seed-001 nets (a few small convolutions and dense layers, batch 64) keeps a big GPU idle most of
the time. Each step is a few hundred small kernels launched one after another from one Python thread, so the launch
rate sets the pace, not the GPU. Groups trained one after another multiply that wait. Processes launching at once
keep the GPU busy, and every group gets the whole time window instead of a slice of it. On a CPU, processes only
share the same cores, so callers keep ``workers=1`` there: the groups then train in this process, one after
another, each with an equal share of the time still left.

Workers are spawned, never forked (CUDA cannot be used in a forked child). They inherit the environment
(``KPDEMO_DATA``, ``KPDEMO_PACK``, ...) and write into the same runs root as this process. A run trained in a worker
is the run trained here: same seeds, same batches; only the CPU thread count may differ (see ``tests``).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from tqdm import tqdm

from trainers.engine.config import TrainConfig
from trainers.engine.grid import run_grid

#: What a finished group gives back: its run directories, or the exception that ended it.
Outcome = list[Path] | Exception


def train_until(configs: list[TrainConfig], runs_root: Path, deadline: float, threads: int | None = None) -> list[Path]:
    """One group (:func:`trainers.engine.grid.run_grid`), stopped at ``deadline`` (``time.time()``, which every
    process reads alike); ``threads`` caps a worker's CPU threads so that workers do not oversubscribe the cores."""
    if threads is not None:
        torch.set_num_threads(threads)
    return run_grid(configs, runs_root, show_progress=False, should_stop=lambda: time.time() > deadline)


def train_side_by_side(groups: list[list[TrainConfig]], runs_root: Path, deadline: float, workers: int,
                       on_done: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
    """Train every group of ``groups`` by ``deadline``, ``workers`` at a time; returns each group's outcome in order.

    ``on_done(index, outcome)`` is called in this process as each group ends (to archive what has finished while
    the rest trains). A group that fails gives its exception and the others go on. With ``workers=1`` the groups
    train here, one after another, each until an equal share of the time left (so a slow group cannot starve the
    ones after it)."""
    outcomes: list[Outcome | None] = [None] * len(groups)

    def finish(index: int, outcome: Outcome) -> None:
        outcomes[index] = outcome
        if on_done is not None:
            on_done(index, outcome)

    if workers <= 1:
        for i, group in enumerate(tqdm(groups, desc="groups", unit="group")):
            share_end = time.time() + (deadline - time.time()) / (len(groups) - i)
            try:
                finish(i, train_until(group, runs_root, share_end))
            except Exception as exc:  # a group's failure must not cost the groups after it
                finish(i, exc)
        return outcomes  # type: ignore[return-value]
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(train_until, group, runs_root, deadline, threads): i for i, group in enumerate(groups)}
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"groups ({workers} workers)",
                           unit="group"):
            try:
                finish(futures[future], future.result())
            except Exception as exc:  # a worker's failure (or its crash) is that group's outcome
                finish(futures[future], exc)
    return outcomes  # type: ignore[return-value]
