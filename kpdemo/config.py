"""Where kpdemo finds data and keeps its outputs: one setting each, overridable by environment variable.

* ``KPDEMO_DATA``: the dataset root (default ``../shared/data`` beside the repo, when it exists).
* ``KPDEMO_CACHE``: derived caches such as the ``kaggle15`` arrays (default ``~/.cache/kpdemo``).
* ``KPDEMO_RUNS``: where trainers write run records (default ``runs/`` in the repo; the user area when public).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
SHIPPED_RUNS_DIR = REPO_ROOT / "checkpoints" / "runs"


class DataNotFoundError(FileNotFoundError):
    """A dataset file is missing; the message names the file and the setting that locates it."""


def data_root() -> Path:
    """The dataset root: ``$KPDEMO_DATA``, else ``../shared/data`` next to the repository."""
    env = os.environ.get("KPDEMO_DATA")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT.parent / "shared" / "data"


def data_file(*parts: str) -> Path:
    """A file under the data root, or a :class:`DataNotFoundError` that says where it was looked for."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        raise DataNotFoundError(
            f"missing dataset file: {path} (set KPDEMO_DATA to the folder that holds {'/'.join(parts)})"
        )
    return path


def cache_dir() -> Path:
    path = Path(os.environ.get("KPDEMO_CACHE", Path.home() / ".cache" / "kpdemo")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Where user-trained runs go (created on demand): ``$KPDEMO_RUNS``, else ``runs/`` in the repo, or on a public
    server the bounded user area's ``runs/`` (see :mod:`kpdemo.deployment`), which is cleaned up."""
    env = os.environ.get("KPDEMO_RUNS")
    if env:
        return Path(env).expanduser()
    from kpdemo.deployment import current_limits  # imported here: deployment reads REPO_ROOT from this module

    limits = current_limits()
    return limits.runs_dir if limits.public else REPO_ROOT / "runs"
