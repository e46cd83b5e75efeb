"""How a run ends, recorded truthfully: ``done`` (every batch of every epoch ran), ``stopped`` (asked to stop, a time
budget, or Ctrl-C: the best checkpoint so far is kept, and the resume state of its last finished epoch), or
``failed`` (any other exception, with its error). Shared by the landmark, grid and image trainers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kpdemo.runs import RECORD, RunWriter


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C ended these runs, each recorded ``stopped`` with its best checkpoint so far. Still a KeyboardInterrupt,
    so a caller that does not know it stops as before; the CLI says in one line what was kept and how to go on.
    ``resumable``: each keeps the resume state of its last finished epoch (``--resume``)."""

    def __init__(self, run_dirs: list[Path], resumable: bool) -> None:
        super().__init__(f"interrupted: {', '.join(str(d) for d in run_dirs)}")
        self.run_dirs, self.resumable = run_dirs, resumable

    def __reduce__(self) -> tuple[type[RunInterrupted], tuple[list[Path], bool]]:
        """Rebuilt from its fields, not its message, when it crosses a process boundary (a worker's pipe)."""
        return type(self), (self.run_dirs, self.resumable)


def ends_stopped(epoch: int, epochs: int, complete: bool, stop_asked: bool) -> bool:
    """Whether a run of ``epochs`` epochs ends ``stopped`` after ``epoch``: a stop inside it (``complete`` False: some
    batches never ran), or one asked for at its end with epochs still to train. A stop that comes with the last batch
    of the last epoch leaves nothing undone: that run is ``done`` (it was recorded ``stopped``)."""
    return not complete or (stop_asked and epoch < epochs)


@contextmanager
def failure_recorded(writer: RunWriter) -> Iterator[None]:
    """Any exception marks the run ``failed``, with its error, before it propagates."""
    try:
        yield
    except BaseException as exc:
        writer.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise


def until_interrupted(writer: RunWriter, train: Callable[[], str]) -> tuple[str, bool]:
    """``(train(), False)``: the status its epochs ended with; ``("stopped", True)`` when Ctrl-C ended them, so the
    run finishes as a stopped one does; any other exception marks it ``failed`` (:func:`failure_recorded`)."""
    with failure_recorded(writer):
        try:
            return train(), False
        except KeyboardInterrupt:
            return "stopped", True


def clock_start(writer: RunWriter, now: float) -> float:
    """The ``perf_counter`` time a run's wall-time column counts from: ``now``, less the time a resumed run's
    recorded epochs already took."""
    return now - (writer.rows[-1]["wall_time_s"] if writer.rows else 0.0)


def why_no_resume_state(run_dir: Path, record: dict[str, object]) -> str:
    """Why a run folder holds no resume state (``--resume`` refuses it), and what to do instead."""
    anew = f"--from-record {run_dir / RECORD} trains its config anew"
    env = record.get("env")
    if isinstance(env, dict) and env.get("trained_with") == "grid":
        return ("it trained at once with its grid (--grid-at-once), which keeps no resume state (its runs shared one "
                f"stacked model and optimizer); {anew} alone, or run its grid again")
    return ("a run keeps one from the end of its first epoch until it finishes, and this one has none (a copied or "
            f"shipped record, a run of a trainer that kept none then, or one stopped in its first epoch); {anew}")


def stop_message(interrupt: KeyboardInterrupt) -> str:
    """The one line Ctrl-C ends the CLI with, instead of a traceback: what it kept and how to go on."""
    if not isinstance(interrupt, RunInterrupted):
        return "interrupted while no run of this process was in its epochs (loading data, a finished run's " \
               "figures, waiting on other processes): the runs finished so far keep their records"
    dirs = " ".join(str(d) for d in interrupt.run_dirs)
    if interrupt.resumable:
        return f"stopped: {dirs} keeps its best checkpoint; python -m trainers --resume {dirs} goes on from its " \
               "last finished epoch"
    if len(interrupt.run_dirs) > 1:
        return f"stopped: {dirs} keep their best checkpoints; runs trained at once keep no resume state: run the " \
               "grid again to train them anew"
    return f"stopped in its first epoch: {dirs} has no resume state yet; run it again to train it"
