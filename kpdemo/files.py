"""Files written whole or not at all: staged under a name of the writer's own, then renamed into place.

Why one helper: caches, checkpoints, run records and served images are read while they may be written. A reader
must never see half a file (a checkpoint the app loads while a run saves it, an image a visitor is downloading), and
two processes may write the same file at once: two Ray workers or the app beside a trainer cutting the same crop
cache. With one fixed temporary name (``x.tmp``) the first rename moved the second writer's half-written file into
place and the second rename then failed on a file that was gone.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_by_rename(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write`` fills a staging file beside ``path`` (hidden, ending ``.tmp``, so no scan for ``*.pt`` or
    ``record.json`` finds it), which is then renamed over ``path``; on failure the staging file is removed."""
    path = Path(path)
    staging = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with staging.open("wb") as out:
            write(out)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex: what says two files hold the same weights, whatever their names or
    times (an ONNX export is served only while its checkpoint's matches; a re-run checks its start weights')."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
