"""The compiled training loss (:mod:`trainers.engine.compiled`) keeps whichever way of stepping times faster.

A stand-in compiler makes the "compiled" loss deliberately slow or fast (sleeping), so the choice is known; the real
compiler's losses are checked against eager training in ``tests/test_grid_engine.py``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import torch

from trainers.engine.compiled import TIMED_STEPS, FullBatchCompiled, compile_status

WEIGHT = torch.ones(3, requires_grad=True)


def _loss(x: torch.Tensor, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * WEIGHT).sum(dim=1)


def _compiler(compiled_s: float, calls: list[str]) -> Callable[..., object]:
    """A ``torch.compile`` stand-in whose loss (the same function) sleeps ``compiled_s`` and logs its calls."""
    def compile_(fn: Callable[..., torch.Tensor], **kwargs: object) -> Callable[..., torch.Tensor]:
        def compiled(*args: torch.Tensor) -> torch.Tensor:
            calls.append("compiled")
            time.sleep(compiled_s)
            return _loss(*args)
        return compiled
    return compile_


def _eager(calls: list[str]) -> Callable[..., torch.Tensor]:
    def eager(*args: torch.Tensor) -> torch.Tensor:
        calls.append("eager")
        time.sleep(0.01)
        return _loss(*args)
    return eager


@pytest.mark.parametrize(("compiled_s", "kept"), [(0.03, "eager"), (0.0, "compiled")])
def test_the_faster_way_is_kept_after_timing_both(compiled_s: float, kept: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", _compiler(compiled_s, calls))
    loss = FullBatchCompiled(_eager(calls), batch_size=4, params=[WEIGHT])
    full, odd = torch.ones(4, 3), torch.ones(2, 3)
    for _ in range(2 * TIMED_STEPS):
        loss(full, None, None)
        loss(odd, None, None)  # an epoch's last batch: eager, and the step after it is not timed
    for _ in range(3):
        loss(full, None, None)
    status = compile_status(loss)["compiled"]
    assert status.startswith("yes: " if kept == "compiled" else "no, eager was faster: "), status
    assert f"(medians of {TIMED_STEPS})" in status
    # the trial, then full batches alternating compiled / eager (each followed by its eager odd batch) until each way
    # has TIMED_STEPS timed steps, then the faster way only
    assert calls == ["compiled"] + ["compiled", "eager", "eager", "eager"] * TIMED_STEPS + [kept] * 3


def test_a_run_that_ends_while_timing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "compile", _compiler(0.0, []))
    loss = FullBatchCompiled(_loss, batch_size=4, params=[WEIGHT])
    assert compile_status(loss) == {"compiled": "unused: no batch of the configured size"}
    loss(torch.ones(4, 3), None, None)
    assert compile_status(loss)["compiled"].startswith("yes, alternating with eager")


def _named_compiler(calls: list[str]) -> Callable[..., object]:
    """A ``torch.compile`` stand-in that runs the function it was given, logging ``compiled <its name>``; one named
    ``broken`` fails as a compiler would."""
    def compile_(fn: Callable[..., torch.Tensor], **kwargs: object) -> Callable[..., torch.Tensor]:
        def compiled(*args: torch.Tensor) -> torch.Tensor:
            calls.append(f"compiled {fn.__name__}")
            if fn.__name__ == "broken":
                raise RuntimeError("no kernel for this layout")
            return fn(*args)
        return compiled
    return compile_


def test_a_faster_variant_is_kept_and_a_broken_one_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other ways to compute the losses (e.g. the seed stack in channels-last) race the plain compiled and the eager
    step; the fastest is kept and named, and one that fails to compile is dropped, the record saying why."""
    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", _named_compiler(calls))

    def slow(*args: torch.Tensor) -> torch.Tensor:
        time.sleep(0.02)
        return _loss(*args)

    def fast(*args: torch.Tensor) -> torch.Tensor:
        return _loss(*args)

    def broken(*args: torch.Tensor) -> torch.Tensor:
        return _loss(*args)

    loss = FullBatchCompiled(slow, batch_size=4, params=[WEIGHT], variants={"fast": fast, "broken": broken})
    full = torch.ones(4, 3)
    with pytest.warns(UserWarning, match="compiled broken failed to compile"):
        loss(full, None, None)
    for _ in range(3 * TIMED_STEPS + 2):
        loss(full, None, None)
    status = compile_status(loss)["compiled"]
    assert status.startswith("yes, fast: "), status
    assert re.search(r"[\d.]+ ms a step compiled, [\d.]+ ms compiled fast, [\d.]+ ms eager", status), status
    assert "compiled broken failed: RuntimeError: no kernel for this layout" in status
    # the trial compiles every way once; then each way in turn until each has TIMED_STEPS timed steps (the step
    # that closes the last lap already runs the winner), then the winner only
    assert calls[:3] == ["compiled slow", "compiled fast", "compiled broken"]
    assert calls[3:6] == ["compiled slow", "compiled fast", "compiled slow"]  # (eager: slow itself, unlogged)
    assert "compiled broken" not in calls[3:]
    assert calls[-3:] == ["compiled fast"] * 3


def test_without_choosing_the_variants_are_not_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", _named_compiler(calls))
    loss = FullBatchCompiled(_loss, batch_size=4, params=[WEIGHT], choose=False, variants={"broken": _loss})
    loss(torch.ones(4, 3), None, None)
    loss(torch.ones(4, 3), None, None)
    assert calls == ["compiled _loss"] * 3 and compile_status(loss) == {"compiled": "yes"}
