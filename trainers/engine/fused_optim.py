"""The stacked optimizer's update compiled into fused kernels (``compile=true``), raced against its eager update.

Why: on the H200 the eager update of a nine-ConvNet stack (~150 M weights with their gradients and moments) took
about a quarter of the compiled training step's GPU time (``bench/results/grid_step_cuda_profile.txt``, 2026-11-30):
Adam makes nine passes over those tensors, one ``torch._foreach_*`` operation each. Compiled, each weight tensor's
update becomes one generated kernel that reads and writes each number once.

The arithmetic is :mod:`trainers.engine.stacked_optim`'s (torch's single-tensor SGD / Adam with per-run
hyperparameters), term by term in the same order, so the two agree up to float rounding (tested). The numbers that
move every step (learning rates, Adam's bias corrections) enter as one small tensor per block, so the compiled
function never recompiles; the constant ones (betas, eps, which terms a block has) are baked into it.

Racing, as the compiled loss does (:class:`trainers.engine.compiled.Race`): the steps after the first alternate
between the eager and the compiled update, ``TIMED_STEPS`` each, every update timed alone (the device synchronised at
both ends), and the faster is kept. A compile that fails keeps the eager update. The first step is always eager (it
creates the momentum buffers and Adam's moments), and so is any step in which some weight got no gradient.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from trainers.engine.compiled import Race

#: The compiled update's inputs besides the weights and gradients: each block's plan, buffers and coefficients.
Inputs = tuple[tuple["BlockPlan", ...], list[list[list[torch.Tensor]]], list[torch.Tensor]]


@dataclass(frozen=True)
class BlockPlan:
    """What the compiled update bakes in for one block of runs (a kind's contiguous slices of the stack)."""

    kind: str  # sgd | momentum | adam | adamw
    start: int
    stop: int
    decay: bool  # whether any run of the block has weight decay
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


def fused_update(plans: tuple[BlockPlan, ...], params: list[torch.Tensor], grads: list[torch.Tensor],
                 buffers: list[list[list[torch.Tensor]]], coefs: list[torch.Tensor]) -> None:
    """Every block's update in place. ``buffers[b]``: block b's momentum buffers, or its Adam ``[exp_avgs,
    exp_avg_sqs]``, one per parameter; ``coefs[b]``: ``(parameters, 3, runs)``, per run: for SGD the negated
    learning rate, the momentum and the weight decay; for Adam the negated step size ``lr / (1 - beta1^t)``,
    ``sqrt(1 - beta2^t)`` and the weight decay (AdamW: ``1 - lr * weight_decay``)."""
    for plan, state, coef in zip(plans, buffers, coefs, strict=True):
        for i, (whole, whole_grad) in enumerate(zip(params, grads, strict=True)):
            param, grad = whole[plan.start:plan.stop], whole_grad[plan.start:plan.stop]
            shape = (-1,) + (1,) * (param.dim() - 1)
            first, second, decay = (coef[i, row].view(shape) for row in range(3))
            if plan.kind in ("sgd", "momentum"):
                if plan.decay:
                    grad = grad + param * decay
                if plan.kind == "momentum":
                    grad = state[0][i].mul_(second).add_(grad)
                param.add_(grad * first)
                continue
            if plan.decay:
                if plan.kind == "adamw":
                    param.mul_(decay)
                else:
                    grad = grad + param * decay
            exp_avg, exp_avg_sq = state[0][i], state[1][i]
            exp_avg.lerp_(grad, 1 - plan.betas[0])
            exp_avg_sq.mul_(plan.betas[1]).addcmul_(grad, grad, value=1 - plan.betas[1])
            param.add_(exp_avg * first / (exp_avg_sq.sqrt() / second + plan.eps))


class FusedRace:
    """Runs a stacked optimizer's updates after its first: compiled or eager, whichever timed faster.

    ``eager()`` is the optimizer's own update (it counts its step); ``inputs()`` gives the compiled update's
    ``(plans, buffers, coefs)`` for the step about to be taken, changing nothing; ``advance()`` counts that step once
    the compiled update has taken it. ``choose`` off: compiled whenever it compiles (as ``bench/grid_step.py``
    times it)."""

    def __init__(self, eager: Callable[[], None], inputs: Callable[[], Inputs], advance: Callable[[], None],
                 params: list[torch.Tensor], choose: bool = True) -> None:
        self.eager, self.inputs, self.advance, self.params = eager, inputs, advance, params
        self.compiled: Callable[..., None] | None = torch.compile(fused_update, dynamic=False)
        #: What the run's record says (``env.optimizer_compiled``); ``"pending"`` before the first compiled update.
        self.status = "pending"
        #: The two ways' timed updates while choosing.
        self.race: Race | None = Race(["compiled", "eager"]) if choose else None

    def step(self) -> None:
        if self.compiled is None or self.race is None:
            self._run("compiled" if self.compiled is not None else "eager")
            return
        way = self.race.next_way()
        device = self.params[0].device
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        ran = self._run(way)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if ran == way and self.race is not None:
            self.race.add(way, time.perf_counter() - start)
            if self.race.finished:
                self._choose()

    def _run(self, way: str) -> str:
        """One update ``way``; returns the way it took (a compiled one that fails to compile runs eagerly, and every
        later update too)."""
        if way == "eager":
            self.eager()
            return way
        plans, buffers, coefs = self.inputs()
        try:
            self.compiled(plans, self.params, [p.grad for p in self.params], buffers, coefs)
        except Exception as exc:  # a compiler failure comes before any kernel runs: nothing was updated
            self.compiled, self.race = None, None
            self.status = f"failed, updated eagerly: {type(exc).__name__}: {exc}"[:500]
            warnings.warn(f"the compiled optimizer update failed; updating eagerly ({type(exc).__name__}: {exc})",
                          stacklevel=4)
            self.eager()
            return "eager"
        self.advance()
        self.status = "yes" if self.status == "pending" else self.status
        return way

    def _choose(self) -> None:
        fastest, times = self.race.fastest("an update", digits=2)  # a tie: compiled
        if fastest == "compiled":
            self.status = f"yes: {times}"
        else:
            self.compiled, self.status = None, f"no, eager was faster: {times}"
        self.race = None

    def record(self) -> dict[str, str]:
        """The record's ``env`` entry."""
        if self.status == "pending":
            return {"optimizer_compiled": "unused: no update after the first"}
        if self.race is not None:
            return {"optimizer_compiled": Race.unfinished("updates")}
        return {"optimizer_compiled": self.status}
