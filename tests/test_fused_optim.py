"""The race between the stacked optimizer's compiled, fused update and its eager one (:class:`FusedRace`).

A stand-in compiler makes the compiled update deliberately slow, or fail, so the outcome is known; the real
compiler's update is checked against the eager one in ``tests/test_grid_engine.py``."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import torch

from trainers.engine.compiled import TIMED_STEPS
from trainers.engine.fused_optim import FusedRace


def _race(calls: list[str], compiled_s: float | None, eager_s: float) -> FusedRace:
    """A race whose compiled update sleeps ``compiled_s`` (None: fails to compile) and whose eager one ``eager_s``;
    every update taken is logged in ``calls`` ("advance" when a compiled one counts its step)."""
    def compile_(fn: Callable[..., None], **kwargs: object) -> Callable[..., None]:
        def compiled(*args: object) -> None:
            if compiled_s is None:
                raise RuntimeError("no kernel for this op")
            calls.append("compiled")
            time.sleep(compiled_s)
        return compiled

    def eager() -> None:
        calls.append("eager")
        time.sleep(eager_s)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "compile", compile_)
        weight = torch.zeros(3, requires_grad=True)
        return FusedRace(eager, lambda: ((), [], []), lambda: calls.append("advance"), [weight])


@pytest.mark.parametrize(("compiled_s", "eager_s", "kept"), [(0.0, 0.01, "compiled"), (0.02, 0.0, "eager")])
def test_the_faster_update_is_kept(compiled_s: float, eager_s: float, kept: str) -> None:
    calls: list[str] = []
    race = _race(calls, compiled_s, eager_s)
    for _ in range(2 * TIMED_STEPS + 3):
        race.step()
    status = race.record()["optimizer_compiled"]
    assert status.startswith("yes: " if kept == "compiled" else "no, eager was faster: "), status
    assert "ms an update compiled" in status and f"(medians of {TIMED_STEPS})" in status
    taken = [call for call in calls if call != "advance"]
    assert taken == ["compiled", "eager"] * TIMED_STEPS + [kept] * 3
    assert calls.count("advance") == calls.count("compiled")  # a compiled update counts its step, an eager one itself


def test_a_failed_compile_updates_eagerly_from_then_on() -> None:
    calls: list[str] = []
    race = _race(calls, None, 0.0)
    with pytest.warns(UserWarning, match="compiled optimizer update failed"):
        race.step()
    race.step()
    assert calls == ["eager", "eager"]
    assert race.record() == {"optimizer_compiled": "failed, updated eagerly: RuntimeError: no kernel for this op"}


def test_a_run_that_ends_while_racing_says_so() -> None:
    race = _race([], 0.0, 0.0)
    assert race.record() == {"optimizer_compiled": "unused: no update after the first"}
    race.step()
    assert race.record()["optimizer_compiled"].startswith("yes, alternating with eager")
