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

Groups side by side are paced (:class:`Pace`): one that gets more than an epoch ahead of the slowest group still
training waits for it. Why: the device shares itself between processes, not between runs. On the first GPU campaign
(twelve processes on an H200, unpaced) each process got through 55-207 run-epochs whether it trained one run or a
stack of nine, so the un-augmented ``augmentation`` run reached 141 epochs and the nine ``optimizers`` ConvNets 23,
and the findings' budgets spanned 23-500 epochs. A waiting process leaves its share to the ones still behind, so
the deadline finds every group at about the same epoch: the budget the slowest grid reaches, which is what the
findings' verdicts stand on, goes up (``bench/results/campaign_2026-11-28.json`` holds those first epochs;
``campaign_2026-11-30.json`` the paced ones, every run at 124-125; ``tests/test_grid_engine.py`` checks the pacing
on a CPU, whose cores workers share alike).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, MutableSequence
from pathlib import Path

import torch
from tqdm import tqdm

from trainers.engine.config import TrainConfig
from trainers.engine.grid import run_grid

#: What a finished group gives back: its run directories, or the exception that ended it.
Outcome = list[Path] | Exception
#: How often a waiting group looks at the others' progress (seconds): small next to any epoch, cheap to poll.
PACE_POLL_S = 0.05


class Pace:
    """The ``on_epoch`` hook of one group side by side: it posts the group's progress and waits while the group is
    ahead of the slowest one still training.

    ``progress`` is shared by every worker and the parent: group ``j``'s epochs done over its epochs, NaN for a group
    not training (not started, finished, failed), which holds nobody back. A group waits after an epoch while its
    progress exceeds the slowest running group's by more than one epoch of its own, and never past ``deadline``
    (``time.time()``), so pacing cannot cost a group its stop. The slowest group never waits, so all cannot wait at
    once, and a group does not wait after its last epoch (nothing is left to pace, and waiting could carry it past
    the deadline into status ``stopped``). Progress is the epoch a history row reports over ``epochs``: a worker's
    configs are one group, as the campaign's are."""

    def __init__(self, progress: MutableSequence[float], index: int, epochs: int, deadline: float) -> None:
        self.progress, self.index, self.epochs, self.deadline = progress, index, epochs, deadline

    def ahead(self) -> bool:
        """Whether this group is more than one epoch ahead of the slowest other group still training."""
        others = [p for j, p in enumerate(self.progress) if j != self.index and not math.isnan(p)]
        return bool(others) and self.progress[self.index] > min(others) + (1 + 1e-6) / self.epochs

    def __call__(self, row: dict[str, float]) -> None:
        self.progress[self.index] = row["epoch"] / self.epochs
        while row["epoch"] < self.epochs and self.ahead() and time.time() < self.deadline:
            time.sleep(PACE_POLL_S)


def train_until(configs: list[TrainConfig], runs_root: Path, deadline: float, threads: int | None = None,
                pace: Pace | None = None) -> list[Path]:
    """One group (:func:`trainers.engine.grid.run_grid`), stopped at ``deadline`` (``time.time()``, which every
    process reads alike) and paced by ``pace`` after each epoch; ``threads`` caps a worker's CPU threads so that
    workers do not oversubscribe the cores."""
    if threads is not None:
        torch.set_num_threads(threads)
        # Inductor's compile workers too (``compile=true``): read when a run first compiles, after this
        os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(threads))
    return run_grid(configs, runs_root, show_progress=False, should_stop=lambda: time.time() > deadline,
                    on_epoch=pace)


def _work(index: int, configs: list[TrainConfig], runs_root: Path, deadline: float, threads: int,
          results: multiprocessing.Queue, progress: MutableSequence[float] | None) -> None:
    """A worker's whole life: train one group, paced against the others when ``progress`` is shared, then report
    ``(index, run dirs, error)`` to the parent."""
    try:
        pace = None if progress is None else Pace(progress, index, max(c.epochs for c in configs), deadline)
        dirs = train_until(configs, runs_root, deadline, threads, pace)
        results.put((index, [str(d) for d in dirs], None))
    except Exception as exc:  # the parent reports it as this group's outcome
        results.put((index, None, f"{type(exc).__name__}: {exc}"))


def train_side_by_side(groups: list[list[TrainConfig]], runs_root: Path, deadline: float, workers: int,
                       on_done: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
    """Train every group of ``groups`` by ``deadline``, ``workers`` at a time; returns each group's outcome in order.

    ``on_done(index, outcome)`` is called in this process as each group ends (to archive what has finished while
    the rest trains). A group that fails gives its exception and the others go on; so does a worker that dies
    without a word (killed for memory, say): each group has a process of its own, where a pool would take every
    other worker down with it. When every group has a worker of its own, they are paced (:class:`Pace`); with
    fewer workers a group starting late would hold back the ones half done, which the queue meant to keep busy.
    With ``workers=1`` the groups train here, one after another, each until an equal share of the time left (so a
    slow group cannot starve the ones after it)."""
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
    # see Pace; NaN until a group's worker starts
    progress = context.RawArray("d", [math.nan] * len(groups)) if workers >= len(groups) else None
    threads = max(1, (os.cpu_count() or 1) // workers)
    waiting, running = list(range(len(groups))), {}
    with tqdm(total=len(groups), desc=f"groups ({workers} workers)", unit="group") as bar:

        def report(index: int, dirs: list[str] | None, error: str | None) -> None:
            if index not in running:  # a message trailing a worker already reported dead
                return
            running.pop(index).join()
            if progress is not None:
                progress[index] = math.nan  # an ended group holds nobody back
            finish(index, [Path(d) for d in dirs] if error is None else RuntimeError(error))
            bar.update()

        try:
            while waiting or running:
                while waiting and len(running) < workers:
                    i = waiting.pop(0)
                    if progress is not None:
                        progress[i] = 0.0
                    running[i] = context.Process(target=_work, args=(i, groups[i], runs_root, deadline, threads,
                                                                     results, progress))
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
