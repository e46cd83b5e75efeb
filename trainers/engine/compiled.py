"""A training loss through ``torch.compile`` (``compile=true``), for the batches of the configured size only.

Why: a seed-001 step is a chain of small memory-bound kernels (convolution, bias, ReLU, max-pool, their backwards),
and Inductor fuses the pointwise and pooling ones into a few generated kernels. ``bench/grid_step.py`` times it
against the eager step (``grid_at_once_compiled``): on the 2-core CPU the nine-run folded ConvNet step 6.0 -> 4.2 s
(``bench/results/grid_step_cpu.csv``); on a GPU, the campaign's throughput phase measures it.

Which batches: an epoch ends in a smaller batch (4,673 kaggle15 images in batches of 64 leave one image), and a
second shape would cost a second compile (or a dynamic-shape graph for every batch). That last batch runs eagerly:
the same function, so the same losses up to float summation order.

What if compiling fails (no C++ compiler, no Triton on the GPU machine, an op Inductor cannot lower): the first full
batch compiles the forward and the backward on a trial (the RNG state put back afterwards, so the run's augmentation
and dropout draws are untouched); if that raises, the run warns once and trains eagerly, and its record says so
(``env.compiled``).

What if the compiled step is slower: a run has one chance on a lent GPU, and no compiled seed step has been timed
there yet. So a run first times ``TIMED_STEPS`` full-batch steps each way, alternating (whole steps: from one call
to the next, the backward and the optimizer included, the device synchronised at each end), and keeps the faster
by their medians; its record says which, with both times. Those steps are training steps like any other.
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


class FullBatchCompiled:
    """``loss(x, points, mask)`` compiled for batches of ``batch_size``; eager for any other size, for every batch
    once compiling has failed, and once the eager step has timed faster (unless ``choose`` is off: then compiled
    whenever it compiles, as ``bench/grid_step.py`` times it). ``params`` are the weights the trial backward
    differentiates."""

    def __init__(self, loss: Loss, batch_size: int, params: Sequence[torch.Tensor], choose: bool = True) -> None:
        self.eager, self.batch_size, self.params = loss, batch_size, list(params)
        self.compiled: Loss | None = torch.compile(loss, dynamic=False)
        #: What the run's record says: ``"yes ..."``, or why it trained eagerly; ``"pending"`` before the first batch.
        self.status = "pending"
        #: Seconds of the timed steps each way; the step being timed (its way, its start) while choosing.
        self.laps: dict[str, list[float]] | None = {"compiled": [], "eager": []} if choose else None
        self.open: tuple[str, float] | None = None

    def __call__(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.compiled is None or len(x) != self.batch_size:
            self._lap(None, x)
            return self.eager(x, points, mask)
        if self.status == "pending":
            self._trial(x, points, mask)
            if self.compiled is None:
                return self.eager(x, points, mask)
        if self.laps is not None:  # still choosing: alternate, compiled first
            way = "compiled" if len(self.laps["compiled"]) <= len(self.laps["eager"]) else "eager"
            self._lap(way, x)
            if self.laps is not None:  # (else that lap closed the choice: the chosen way takes this batch too)
                return (self.compiled if way == "compiled" else self.eager)(x, points, mask)
        return (self.compiled or self.eager)(x, points, mask)

    def _trial(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> None:
        devices = [x.device] if x.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                loss = self.compiled(x, points, mask)
                torch.autograd.grad(loss.sum(), [p for p in self.params if p.requires_grad], allow_unused=True)
            self.status = "yes"
        except Exception as exc:  # any compiler failure: train eagerly rather than not at all
            self.compiled, self.laps = None, None
            self.status = f"failed, trained eagerly: {type(exc).__name__}: {exc}"[:500]
            warnings.warn(f"torch.compile failed; training eagerly ({type(exc).__name__}: {exc})", stacklevel=3)

    def _lap(self, way: str | None, x: torch.Tensor) -> None:
        """Close the step being timed (it ends where the next begins), open one for ``way`` (None: untimed)."""
        if self.laps is None:
            return
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        now = time.perf_counter()
        if self.open is not None:
            self.laps[self.open[0]].append(now - self.open[1])
        self.open = (way, now) if way else None
        if min(len(laps) for laps in self.laps.values()) >= TIMED_STEPS:
            self._choose()

    def _choose(self) -> None:
        compiled, eager = (statistics.median(self.laps[way]) * 1000 for way in ("compiled", "eager"))
        times = f"{compiled:.1f} ms a step compiled, {eager:.1f} ms eager (medians of {TIMED_STEPS})"
        if compiled <= eager:
            self.status = f"yes: {times}"
        else:
            self.compiled, self.status = None, f"no, eager was faster: {times}"
        self.laps, self.open = None, None


def maybe_compiled(loss: Loss, enabled: bool, batch_size: int, params: Sequence[torch.Tensor],
                   choose: bool = True) -> Loss:
    """``loss`` as :class:`FullBatchCompiled` when ``enabled`` (the config's ``compile``), else unchanged."""
    return FullBatchCompiled(loss, batch_size, params, choose) if enabled else loss


def compile_status(loss: Loss) -> dict[str, str]:
    """The record's ``env`` entry for ``loss``: ``{"compiled": status}`` when it was compiled, else nothing."""
    if not isinstance(loss, FullBatchCompiled):
        return {}
    if loss.status == "pending":
        return {"compiled": "unused: no batch of the configured size"}
    if loss.laps is not None:
        return {"compiled": f"yes, alternating with eager: the run ended before {TIMED_STEPS} timed steps each way"}
    return {"compiled": loss.status}
