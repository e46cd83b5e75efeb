"""A training loss through ``torch.compile`` (``compile=true``), for the batches of the configured size only.

Why: a seed-001 step is a chain of small memory-bound kernels (convolution, bias, ReLU, max-pool, their backwards),
and Inductor fuses the pointwise and pooling ones into a few generated kernels. Measured on the 2-core CPU: the
folded two-run ConvNet step 1020 -> 803 ms after a 35 s compile; on a GPU, ``bench/grid_step.py`` times it against
the eager step (``grid_at_once_compiled``).

Which batches: an epoch ends in a smaller batch (4,673 kaggle15 images in batches of 64 leave one image), and a
second shape would cost a second compile (or a dynamic-shape graph for every batch). That last batch runs eagerly:
the same function, so the same losses up to float summation order.

What if compiling fails (no C++ compiler, no Triton on the GPU machine, an op Inductor cannot lower): the first full
batch compiles the forward and the backward on a trial (the RNG state put back afterwards, so the run's augmentation
and dropout draws are untouched); if that raises, the run warns once and trains eagerly, and its record says so
(``env.compiled``). A config that needs compiling to train at all does not exist: compiling is only ever faster.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class FullBatchCompiled:
    """``loss(x, points, mask)`` compiled for batches of ``batch_size``; eager for any other size, and for every
    batch once compiling has failed. ``params`` are the weights the trial backward differentiates."""

    def __init__(self, loss: Loss, batch_size: int, params: Sequence[torch.Tensor]) -> None:
        self.eager, self.batch_size, self.params = loss, batch_size, list(params)
        self.compiled: Loss | None = torch.compile(loss, dynamic=False)
        #: What the run's record says: ``"yes"``, or why it trained eagerly; ``"pending"`` before the first batch.
        self.status = "pending"

    def __call__(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.compiled is None or len(x) != self.batch_size:
            return self.eager(x, points, mask)
        if self.status == "pending":
            self._trial(x, points, mask)
            if self.compiled is None:
                return self.eager(x, points, mask)
        return self.compiled(x, points, mask)

    def _trial(self, x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> None:
        devices = [x.device] if x.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                loss = self.compiled(x, points, mask)
                torch.autograd.grad(loss.sum(), [p for p in self.params if p.requires_grad], allow_unused=True)
            self.status = "yes"
        except Exception as exc:  # any compiler failure: train eagerly rather than not at all
            self.compiled, self.status = None, f"failed, trained eagerly: {type(exc).__name__}: {exc}"[:500]
            warnings.warn(f"torch.compile failed; training eagerly ({type(exc).__name__}: {exc})", stacklevel=3)


def maybe_compiled(loss: Loss, enabled: bool, batch_size: int, params: Sequence[torch.Tensor]) -> Loss:
    """``loss`` as :class:`FullBatchCompiled` when ``enabled`` (the config's ``compile``), else unchanged."""
    return FullBatchCompiled(loss, batch_size, params) if enabled else loss


def compile_status(loss: Loss) -> dict[str, str]:
    """The record's ``env`` entry for ``loss``: ``{"compiled": status}`` when it was compiled, else nothing."""
    if not isinstance(loss, FullBatchCompiled):
        return {}
    return {"compiled": "unused: no batch of the configured size" if loss.status == "pending" else loss.status}
