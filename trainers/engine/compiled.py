"""A training loss through ``torch.compile`` (``compile=true``), for the batches of the configured size only.

Why: a seed-001 step is a chain of small memory-bound kernels (convolution, bias, ReLU, max-pool, their backwards),
and Inductor fuses the pointwise and pooling ones into a few generated kernels. ``bench/grid_step.py`` times it
against the eager step (``grid_at_once_compiled``): on the 2-core CPU the nine-run folded ConvNet step 7.3 -> 4.6 s
(``bench/results/grid_step_cpu.csv``); on a GPU, the campaign's throughput phase measures it.

Which batches: an epoch ends in a smaller batch (4,673 kaggle15 images in batches of 64 leave one image), and a
second shape would cost a second compile (or a dynamic-shape graph for every batch). That last batch runs eagerly:
the same function, so the same losses up to float summation order.

What if compiling fails (no C++ compiler, no Triton on the GPU machine, an op Inductor cannot lower): the first full
batch compiles the forward and the backward on a trial (the RNG state put back afterwards, so the run's augmentation
and dropout draws are untouched); if that raises, the run warns once and trains eagerly, and its record says so
(``env.compiled``).

What if the compiled step is slower: a run has one chance on a lent GPU. So a run first times ``TIMED_STEPS``
full-batch steps each way, in turn (whole steps: from one call to the next, the backward and the optimizer
included, the device synchronised at each end), and keeps the fastest by their medians; its record says which, with
every way's time. Those steps are training steps like any other.

Other compiled ways (``variants``): the same losses computed another way, e.g. the seed stack in channels-last
(:func:`trainers.engine.folded.folded_forward`), each compiled, tried and timed beside the plain compiled and the
eager step; one that fails to compile is dropped (the record says why) and the others still race.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable, Sequence

import torch

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
#: Full-batch steps timed each way before a run keeps the faster (medians: the odd slow step, such as cuDNN's first
#: autotuning or an epoch's evaluation falling between two timed batches, does not decide).
TIMED_STEPS = 5


class Race:
    """Ways of doing one thing, timed in turn ``TIMED_STEPS`` times each, the fastest kept by its median: the
    bookkeeping of both compiled races (the training loss here, the stacked optimizer's update in
    :mod:`trainers.engine.fused_optim`). The ways' order settles ties: the first listed wins."""

    def __init__(self, ways: Sequence[str]) -> None:
        #: Seconds of each way's timed runs.
        self.laps: dict[str, list[float]] = {way: [] for way in ways}

    def next_way(self) -> str:
        """The way with the fewest timed runs (ties: the first listed)."""
        return min(self.laps, key=lambda way: len(self.laps[way]))

    def add(self, way: str, seconds: float) -> None:
        self.laps[way].append(seconds)

    def drop(self, way: str) -> None:
        del self.laps[way]

    @property
    def finished(self) -> bool:
        return min(len(laps) for laps in self.laps.values()) >= TIMED_STEPS

    def fastest(self, noun: str, digits: int) -> tuple[str, str]:
        """The fastest way by median, and every way's median as a record gives them: ``"N ms {noun} compiled, M ms
        eager (medians of 5)"``."""
        medians = {way: statistics.median(laps) * 1000 for way, laps in self.laps.items()}
        times = ", ".join(f"{ms:.{digits}f} ms {noun + ' ' if i == 0 else ''}{way}"
                          for i, (way, ms) in enumerate(medians.items())) + f" (medians of {TIMED_STEPS})"
        return min(medians, key=medians.get), times

    @staticmethod
    def unfinished(runs: str) -> str:
        """What a record says when its run ended before the race did."""
        return f"yes, alternating with eager: the run ended before {TIMED_STEPS} timed {runs} each way"


def batch_size(x: torch.Tensor) -> int:
    """Images in a batch: ``(B, C, H, W)``, or ``(runs, B, C, H, W)`` for a stack whose runs each have their own
    (:class:`trainers.engine.grid._Feed`)."""
    return x.shape[1] if x.dim() == 5 else len(x)


class FullBatchCompiled:
    """``loss(x, points, mask)`` compiled for batches of ``batch_size``; eager for any other size, for every batch
    once compiling has failed, and once the eager step has timed fastest (unless ``choose`` is off: then the plain
    compiled way whenever it compiles, as ``bench/grid_step.py`` times it). ``variants`` (name -> loss) are other
    ways to compute the same losses, compiled and raced too (only while choosing). ``params`` are the weights the
    trial backward differentiates."""

    def __init__(self, loss: Loss, batch_size: int, params: Sequence[torch.Tensor], choose: bool = True,
                 variants: dict[str, Loss] | None = None) -> None:
        self.eager, self.batch_size, self.params = loss, batch_size, list(params)
        extra = (variants or {}) if choose else {}
        #: The compiled ways not yet dropped: ``compiled`` first, then ``compiled <variant>``.
        self.ways: dict[str, Loss] = {"compiled": torch.compile(loss, dynamic=False)} | {
            f"compiled {name}": torch.compile(fn, dynamic=False) for name, fn in extra.items()}
        #: The way full batches take once chosen (None: eager).
        self.compiled: Loss | None = self.ways["compiled"]
        #: What the run's record says: ``"yes ..."``, or why it trained eagerly; ``"pending"`` before the first batch.
        self.status = "pending"
        #: Why a variant was dropped before the race (appended to the status).
        self.dropped: list[str] = []
        #: The ways' timed steps while choosing; the step being timed (its way, its start).
        self.race: Race | None = Race([*self.ways, "eager"]) if choose else None
        self.open: tuple[str, float] | None = None

    def __call__(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.compiled is None or batch_size(x) != self.batch_size:
            self._lap(x, timed=False)
            return self.eager(x, points, mask)
        if self.status == "pending":
            self._trial(x, points, mask)
            if self.compiled is None:
                return self.eager(x, points, mask)
        way = self._lap(x, timed=True)  # None once chosen (this very lap may close the choice)
        if way is not None:
            return (self.ways[way] if way != "eager" else self.eager)(x, points, mask)
        return (self.compiled or self.eager)(x, points, mask)

    def _trial(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> None:
        """Compile every way's forward and backward on this batch; a way that raises is dropped."""
        devices = [x.device] if x.device.type == "cuda" else []
        failures = {}
        for way, fn in list(self.ways.items()):
            try:
                with torch.random.fork_rng(devices=devices):
                    loss = fn(x, points, mask)
                    torch.autograd.grad(loss.sum(), [p for p in self.params if p.requires_grad], allow_unused=True)
            except Exception as exc:  # any compiler failure: train another way rather than not at all
                failures[way] = f"{type(exc).__name__}: {exc}"
                del self.ways[way]
                if self.race is not None:
                    self.race.drop(way)
        if "compiled" in failures:  # the plain way is the reference: without it, eager (rather than a variant alone)
            self.ways, self.compiled, self.race = {}, None, None
            self.status = f"failed, trained eagerly: {failures['compiled']}"[:500]
            warnings.warn(f"torch.compile failed; training eagerly ({failures['compiled']})", stacklevel=3)
            return
        for way, why in failures.items():
            self.dropped.append(f"{way} failed: {why}"[:300])
            warnings.warn(f"{way} failed to compile; racing the other ways ({why})", stacklevel=3)
        self.status = "yes"

    def _lap(self, x: torch.Tensor, timed: bool) -> str | None:
        """While choosing: close the step being timed (it ends where the next begins) and, for a ``timed`` step,
        open one for the way with the fewest timed steps (ties: compiled, its variants, eager), returned."""
        if self.race is None:
            return None
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        now = time.perf_counter()
        if self.open is not None:
            self.race.add(self.open[0], now - self.open[1])
            self.open = None
        if self.race.finished:
            self._choose()
            return None
        if not timed:
            return None
        way = self.race.next_way()
        self.open = (way, now)
        return way

    def _choose(self) -> None:
        fastest, times = self.race.fastest("a step", digits=1)  # a tie: compiled, then its variants, then eager
        if fastest == "eager":
            self.compiled, self.status = None, f"no, eager was faster: {times}"
        else:
            self.compiled = self.ways[fastest]
            self.status = f"yes{fastest.removeprefix('compiled').replace(' ', ', ', 1)}: {times}"
        self.status += "".join(f"; {why}" for why in self.dropped)
        self.race, self.open = None, None


def maybe_compiled(loss: Loss, enabled: bool, batch_size: int, params: Sequence[torch.Tensor],
                   choose: bool = True, variants: dict[str, Loss] | None = None) -> Loss:
    """``loss`` as :class:`FullBatchCompiled` when ``enabled`` (the config's ``compile``), else unchanged."""
    return FullBatchCompiled(loss, batch_size, params, choose, variants) if enabled else loss


def compile_status(loss: Loss) -> dict[str, str]:
    """The record's ``env`` entry for ``loss``: ``{"compiled": status}`` when it was compiled, else nothing."""
    if not isinstance(loss, FullBatchCompiled):
        return {}
    if loss.status == "pending":
        return {"compiled": "unused: no batch of the configured size"}
    if loss.race is not None:
        return {"compiled": Race.unfinished("steps")}
    return {"compiled": loss.status}
