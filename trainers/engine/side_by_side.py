"""Train grid-at-once groups side by side, one worker process each, on one device, until a common deadline.

Why: a group of the seed-001 nets (a few small convolutions and dense layers, batch 64) keeps a big GPU idle most of
the time. Each step is a few hundred small kernels launched one after another from one Python thread, so the launch
rate sets the pace, not the GPU. Groups trained one after another multiply that wait. Processes launching at once
keep the GPU busy, and every group gets the whole time window instead of a slice of it. On a CPU, processes only
share the same cores, so callers keep ``workers=1`` there: the groups then train in this process, one after
another, each with an equal share of the time still left.

Workers are spawned, never forked (CUDA cannot be used in a forked child). They inherit the environment
(``KPDEMO_DATA``, ``KPDEMO_PACK``, ...) and write into the same runs root as this process. A run trained in a worker
is the run trained here: same seeds, same batches; only the CPU thread count may differ (see ``tests``). Each worker
holds its own copy of the data: about 2.5 GB of host memory for the kaggle15 groups from the training pack (measured
on a CPU, where the activations add more), so twelve want about 30 GB. The GPU machine has 128 GB; a 23 GB machine
running twelve CPU workers had one killed for memory, which is why each group has a process of its own (a process
pool would have taken every other worker down with it).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable
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
        # Inductor's compile workers too (``compile=true``): read when a run first compiles, after this
        os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(threads))
    return run_grid(configs, runs_root, show_progress=False, should_stop=lambda: time.time() > deadline)


def _work(index: int, configs: list[TrainConfig], runs_root: Path, deadline: float, threads: int,
          results: multiprocessing.Queue) -> None:
    """A worker's whole life: train one group, then report ``(index, run dirs, error)`` to the parent."""
    try:
        dirs = train_until(configs, runs_root, deadline, threads)
        results.put((index, [str(d) for d in dirs], None))
    except Exception as exc:  # the parent reports it as this group's outcome
        results.put((index, None, f"{type(exc).__name__}: {exc}"))


def train_side_by_side(groups: list[list[TrainConfig]], runs_root: Path, deadline: float, workers: int,
                       on_done: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
    """Train every group of ``groups`` by ``deadline``, ``workers`` at a time; returns each group's outcome in order.

    ``on_done(index, outcome)`` is called in this process as each group ends (to archive what has finished while
    the rest trains). A group that fails gives its exception and the others go on; so does a worker that dies
    without a word (killed for memory, say): each group has a process of its own, where a pool would take every
    other worker down with it. With ``workers=1`` the groups train here, one after another, each until an equal
    share of the time left (so a slow group cannot starve the ones after it)."""
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

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    waiting, running = list(range(len(groups))), {}
    with tqdm(total=len(groups), desc=f"groups ({workers} workers)", unit="group") as bar:

        def report(index: int, dirs: list[str] | None, error: str | None) -> None:
            if index not in running:  # a message trailing a worker already reported dead
                return
            running.pop(index).join()
            finish(index, [Path(d) for d in dirs] if error is None else RuntimeError(error))
            bar.update()

        try:
            while waiting or running:
                while waiting and len(running) < workers:
                    i = waiting.pop(0)
                    running[i] = context.Process(target=_work, args=(i, groups[i], runs_root, deadline, threads,
                                                                     results))
                    running[i].start()
                try:
                    report(*results.get(timeout=1.0))
                    continue
                except queue.Empty:
                    pass
                for i in [i for i, process in running.items() if not process.is_alive()]:
                    try:  # a worker's last message can trail its exit
                        report(*results.get(timeout=1.0))
                    except queue.Empty:
                        code = running[i].exitcode
                        report(i, None, f"the worker training this group died (exit code {code}: killed for memory?)")
                    break
        finally:
            for process in running.values():  # only on an error here: no worker outlives the call
                process.terminate()
    return outcomes  # type: ignore[return-value]
