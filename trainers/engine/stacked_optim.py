"""One optimizer step for many runs at once: parameters stacked along dim 0 (one slice per run), each slice updated
with its own run's optimizer kind and hyperparameters.

Why not ``torch.optim`` on the stacked tensors: a torch optimizer holds one learning rate (one momentum, one weight
decay) per parameter group, and a stacked tensor is one parameter, so the runs of a grid (three learning rates,
three optimizers) could not keep theirs. Why not one torch optimizer per slice: slices of one tensor are not leaves
and their updates would be a loop of small kernels per run. Here each run's hyperparameters become a column
``(runs, 1, 1, ...)`` broadcast along dim 0, and the update is the same formula as torch's single-tensor
implementations (``_single_tensor_sgd`` / ``_single_tensor_adam``, no nesterov, dampening, amsgrad or maximize),
so a run's weights follow the trajectory torch would give it, up to float rounding.

With ``compiled`` the updates after the first race a compiled version of the same arithmetic that reads and writes
every number once (:mod:`trainers.engine.fused_optim`): the ``_foreach`` ops here make one pass each.

The hyperparameters are read, at every step, from one plain torch optimizer per run (built by
:func:`trainers.engine.train.make_optimizer` over a dummy parameter): its defaults (betas, eps) are torch's, and
:func:`trainers.engine.train.make_schedule` moves its learning rate exactly as it would for the run trained alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from trainers.engine.config import OPTIMIZERS
from trainers.engine.fused_optim import BlockPlan, FusedRace, Inputs

#: The kinds, in the order the runs of a stack are sorted in (each kind must be one contiguous block of slices).
KINDS = OPTIMIZERS


def optimizer_kind(optimizer: torch.optim.Optimizer) -> str:
    """``sgd`` | ``momentum`` | ``adam`` | ``adamw`` for a torch optimizer; unsupported settings are an error."""
    if len(optimizer.param_groups) != 1:
        raise ValueError("each run's optimizer must have exactly one parameter group")
    group = optimizer.param_groups[0]
    if group.get("maximize") or group.get("differentiable"):
        raise ValueError("maximize / differentiable optimizers are not supported when stacked")
    if isinstance(optimizer, torch.optim.SGD):
        if group["nesterov"] or group["dampening"]:
            raise ValueError("nesterov / dampening are not supported when stacked")
        return "momentum" if group["momentum"] else "sgd"
    if isinstance(optimizer, torch.optim.Adam):  # AdamW is an Adam with decoupled weight decay
        if group["amsgrad"]:
            raise ValueError("amsgrad is not supported when stacked")
        decoupled = isinstance(optimizer, torch.optim.AdamW) or group.get("decoupled_weight_decay", False)
        return "adamw" if decoupled else "adam"
    raise ValueError(f"{type(optimizer).__name__} cannot be stacked; supported: SGD, Adam, AdamW")


@dataclass
class _Block:
    """The runs ``start:stop`` of the stack, all of one kind, and their per-parameter state."""

    kind: str
    start: int
    stop: int
    runs: list[torch.optim.Optimizer]
    state: dict[int, dict[str, Any]] = field(default_factory=dict)
    columns: dict[tuple[Any, ...], torch.Tensor] = field(default_factory=dict)

    def hyper(self, key: str) -> list[float]:
        return [float(run.param_groups[0][key]) for run in self.runs]

    def shared(self, key: str) -> Any:
        """A setting every run of the block must agree on (betas, eps: torch's defaults for every config)."""
        values = {tuple(v) if isinstance(v, (tuple, list)) else v for v in (r.param_groups[0][key] for r in self.runs)}
        if len(values) != 1:
            raise ValueError(f"stacked {self.kind} runs must share {key}, got {sorted(values)}")
        return values.pop()

    def column(self, values: list[float], like: torch.Tensor) -> torch.Tensor:
        """``values`` as a ``(runs, 1, ..., 1)`` tensor that broadcasts over ``like``'s slices (cached: on a GPU a
        fresh one per step would be a host-to-device copy per parameter)."""
        key = (tuple(values), like.dim(), like.dtype, like.device)
        if key not in self.columns:
            if len(self.columns) > 64:  # a schedule moves lr every epoch: keep only recent columns
                self.columns.clear()
            self.columns[key] = torch.tensor(values, dtype=like.dtype, device=like.device).view(
                -1, *([1] * (like.dim() - 1)))
        return self.columns[key]


class StackedOptimizer:
    """Steps stacked parameters ``(runs, ...)``; ``runs[i]`` is run i's own torch optimizer (hyperparameters only).

    Runs of one kind must be contiguous in the stack (sort them by :data:`KINDS`), so each kind updates a view of
    the stack in place, with no gather or scatter. ``compiled``: the updates after the first race a compiled, fused
    update (:mod:`trainers.engine.fused_optim`; ``choose`` off: compiled whenever it compiles).
    """

    def __init__(self, params: Sequence[torch.Tensor], runs: Sequence[torch.optim.Optimizer],
                 compiled: bool = False, choose: bool = True) -> None:
        self.params = list(params)
        if any(p.shape[0] != len(runs) for p in self.params):
            raise ValueError(f"every stacked parameter needs dim 0 = {len(runs)} runs")
        self.blocks: list[_Block] = []
        for i, run in enumerate(runs):
            kind = optimizer_kind(run)
            if self.blocks and self.blocks[-1].kind == kind:
                self.blocks[-1].stop = i + 1
                self.blocks[-1].runs.append(run)
            elif any(b.kind == kind for b in self.blocks):
                raise ValueError(f"runs of kind {kind!r} are not contiguous in the stack; sort them by kind")
            else:
                self.blocks.append(_Block(kind, i, i + 1, [run]))
        self.fused = FusedRace(self._eager_step, self._fused_inputs, self._count_step, self.params, choose) \
            if compiled else None

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every run; fused once every buffer exists and every weight has a gradient."""
        if self.fused is not None and all(p.grad is not None for p in self.params) and all(
                len(block.state) == len(self.params) for block in self.blocks if block.kind != "sgd"):
            self.fused.step()
        else:
            self._eager_step()

    def record(self) -> dict[str, str]:
        """The run record's ``env`` entry for the fused update (``optimizer_compiled``), if it was raced."""
        return self.fused.record() if self.fused is not None else {}

    def _eager_step(self) -> None:
        for block in self.blocks:
            update = _sgd if block.kind in ("sgd", "momentum") else _adam
            live = [(index, p) for index, p in enumerate(self.params) if p.grad is not None]
            if live:
                update(block, [block.state.setdefault(index, {}) for index, _ in live],
                       [p[block.start:block.stop] for _, p in live],
                       [p.grad[block.start:block.stop] for _, p in live])

    def _fused_inputs(self) -> Inputs:
        """Each block's plan, buffers and coefficients for the step about to be taken (see
        :func:`trainers.engine.fused_optim.fused_update`); counts nothing."""
        plans, buffers, coefs = [], [], []
        device = self.params[0].device
        for block in self.blocks:
            lrs, decay = block.hyper("lr"), block.hyper("weight_decay")
            if block.kind in ("sgd", "momentum"):
                plans.append(BlockPlan(block.kind, block.start, block.stop, any(decay)))
                momentum = block.hyper("momentum")
                rows = [[[-lr for lr in lrs], momentum, decay]] * len(self.params)
                buffers.append([[block.state[i]["momentum_buffer"] for i in range(len(self.params))]]
                               if block.kind == "momentum" else [])
            else:
                beta1, beta2 = block.shared("betas")
                plans.append(BlockPlan(block.kind, block.start, block.stop, any(decay), (beta1, beta2),
                                       block.shared("eps")))
                rows = []
                for i in range(len(self.params)):
                    step = block.state[i]["step"] + 1
                    third = [1 - lr * wd for lr, wd in zip(lrs, decay, strict=True)] if block.kind == "adamw" \
                        else decay
                    rows.append([[-lr / (1 - beta1 ** step) for lr in lrs], [(1 - beta2 ** step) ** 0.5] * len(lrs),
                                 third])
                buffers.append([[block.state[i][key] for i in range(len(self.params))]
                                for key in ("exp_avg", "exp_avg_sq")])
            coefs.append(torch.tensor(rows, dtype=self.params[0].dtype).to(device, non_blocking=True))
        return tuple(plans), buffers, coefs

    def _count_step(self) -> None:
        """Adam's step counts, once a fused update has taken a step (the eager one counts its own)."""
        for block in self.blocks:
            if block.kind in ("adam", "adamw"):
                for state in block.state.values():
                    state["step"] += 1


def _columns(block: _Block, values: list[float], like: list[torch.Tensor]) -> list[torch.Tensor]:
    return [block.column(values, tensor) for tensor in like]


def _sgd(block: _Block, states: list[dict[str, Any]], params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    """torch's ``_single_tensor_sgd`` (dampening 0, no nesterov) with per-run lr, momentum, weight decay, over every
    parameter of the block at once (``torch._foreach_*``: one fused kernel per operation on a GPU, not one per
    parameter; the same arithmetic in the same order)."""
    decay = block.hyper("weight_decay")
    if any(decay):
        grads = torch._foreach_addcmul(grads, params, _columns(block, decay, params))
    if block.kind == "momentum":
        fresh = [i for i, state in enumerate(states) if "momentum_buffer" not in state]
        for i in fresh:
            states[i]["momentum_buffer"] = grads[i].detach().clone()
        old = [i for i in range(len(states)) if i not in fresh]
        if old:
            buffers = [states[i]["momentum_buffer"] for i in old]
            torch._foreach_mul_(buffers, _columns(block, block.hyper("momentum"), buffers))
            torch._foreach_add_(buffers, [grads[i] for i in old])
        grads = [state["momentum_buffer"] for state in states]
    torch._foreach_addcmul_(params, grads, _columns(block, [-lr for lr in block.hyper("lr")], params))


def _adam(block: _Block, states: list[dict[str, Any]], params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
    """torch's ``_single_tensor_adam`` (no amsgrad; ``adamw``: decoupled decay) with per-run lr and weight decay, over
    every parameter of the block at once (as :func:`_sgd`)."""
    for state, param in zip(states, params, strict=True):
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(param, memory_format=torch.preserve_format),
                         exp_avg_sq=torch.zeros_like(param, memory_format=torch.preserve_format))
        state["step"] += 1
    beta1, beta2 = block.shared("betas")
    eps = block.shared("eps")
    lrs, decay = block.hyper("lr"), block.hyper("weight_decay")
    if any(decay):
        if block.kind == "adamw":
            torch._foreach_mul_(params, _columns(block, [1 - lr * wd for lr, wd in zip(lrs, decay, strict=True)],
                                                 params))
        else:
            grads = torch._foreach_addcmul(grads, params, _columns(block, decay, params))
    exp_avgs, exp_avg_sqs = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, [(1 - beta2 ** s["step"]) ** 0.5 for s in states])
    torch._foreach_add_(denom, eps)
    # torch: param.addcdiv_(exp_avg, denom, value=-lr / bias_correction1), i.e. param + (value * exp_avg) / denom
    steps = [block.column([-lr / (1 - beta1 ** s["step"]) for lr in lrs], p) for s, p in zip(states, params,
                                                                                              strict=True)]
    updates = torch._foreach_mul(exp_avgs, steps)
    torch._foreach_div_(updates, denom)
    torch._foreach_add_(params, updates)
