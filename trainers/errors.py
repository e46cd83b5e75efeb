"""The mistakes a user of the training CLIs is expected to make, and the one place that reports them.

A traceback says "this program has a bug"; a missing dataset, a malformed one, a run that must be trained first, no
GPU where ``--device cuda`` asked for one, or a file that is no checkpoint is the user's to fix, and deserves one
line saying how, as argparse gives for a mistyped flag (``prog: error: ...``, exit code 2). Code deep in the engine
raises :class:`UsageError`, or kpdemo's own :data:`USER_ERRORS` (which the app reports to its users the same way),
without knowing whether a CLI, the app or a test called it; ``python -m trainers`` and ``python -m
trainers.tools.ship`` wrap their ``main`` in :func:`reports_user_errors` (``evaluate`` reports its own the same way;
the other tools do not, yet).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

from kpdemo.checkpoints import CheckpointError
from kpdemo.config import DataNotFoundError
from kpdemo.datasets.base import DatasetFormatError


class UsageError(ValueError):
    """A request that cannot run as asked, with a message that says what to do instead. A ValueError, so code that
    already refuses bad settings with ``except ValueError`` (the app's Train form) refuses these too."""


#: What :func:`reports_user_errors` prints as one line; anything else keeps its traceback, since it is a bug.
USER_ERRORS = (UsageError, DataNotFoundError, DatasetFormatError, CheckpointError)

Main = TypeVar("Main", bound=Callable[..., object])


def reports_user_errors(prog: str) -> Callable[[Main], Main]:
    """Decorate a CLI's ``main(argv)``: a :data:`USER_ERRORS` exception becomes ``prog: error: message`` on stderr
    and ``SystemExit(2)``, as argparse's own usage errors do (so a caller of ``main`` from Python, a test or a bench,
    sees the same exit either way)."""
    def decorate(main: Main) -> Main:
        @functools.wraps(main)
        def run(*args: object, **kwargs: object) -> object:
            try:
                return main(*args, **kwargs)
            except USER_ERRORS as exc:
                print(f"{prog}: error: {exc}", file=sys.stderr)
                raise SystemExit(2) from None
        return run  # type: ignore[return-value]
    return decorate
