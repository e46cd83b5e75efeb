"""What this server may do: the limits of a public deployment, in one place, read from environment variables.

Why: a Hugging Face Space is open to anyone who finds it, and its Train tab and ``/train_start`` API run code on the
owner's machine. There, every training is bounded (one at a time, capped epochs, images and wall time), uploads are
small, and what visitors create (their datasets and runs) lives in one area that is cleaned up oldest first. On a
laptop none of that applies: the local defaults are "no limit", as before.

The server is public when ``SPACE_ID`` is set (Hugging Face sets it) or ``KPDEMO_PUBLIC=1``; ``KPDEMO_PUBLIC=0``
makes a Space behave like a local server. Each limit below has a public default and a local one; setting its
variable overrides both (``0`` = no limit):

====================================  ================  =====================================================
variable                              public default    what it bounds
====================================  ================  =====================================================
``KPDEMO_MAX_EPOCHS``                 20                epochs of one training run
``KPDEMO_MAX_TRAIN_IMAGES``           2000              training images of a run (and val/test images scored)
``KPDEMO_MAX_TRAIN_SECONDS``          600               wall time of a run; it stops and keeps its best epoch
``KPDEMO_MAX_UPLOAD_IMAGES``          1000              faces in one imported dataset
``KPDEMO_MAX_VIDEO_SECONDS``          30                seconds of an uploaded video read (the rest is cut)
``KPDEMO_MAX_VIDEO_FPS``              30                frames a second of video read (others skipped)
``KPDEMO_MAX_FILE_SIZE``              10mb (20mb)       any upload, refused by Gradio before a handler runs
``KPDEMO_USER_AREA``                  <repo>/user_area  where imported datasets (and, when public, runs) live
``KPDEMO_USER_AREA_MAX_MB``           500               size of the user area; oldest entries removed first
``KPDEMO_USER_AREA_MAX_AGE_HOURS``    24                age after which an entry is removed
====================================  ================  =====================================================
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from kpdemo.config import REPO_ROOT

if TYPE_CHECKING:
    from trainers.engine.config import TrainConfig

PUBLIC_FLAG = "KPDEMO_PUBLIC"
SPACE_FLAG = "SPACE_ID"
DATASETS_FOLDER = "datasets"  # <user area>/datasets/<name>/: imported datasets (kpdemo.datasets.uploads)
RUNS_FOLDER = "runs"  # <user area>/runs/<experiment>/<run>/: training runs of a public server
INCOMING_FOLDER = ".incoming"  # <user area>/.incoming/import-*/: an import being written, renamed into datasets/ whole
STALE_IMPORT_HOURS = 1.0  # an import is written in seconds: a folder this old is a dead process's leftover


@dataclass(frozen=True)
class Limits:
    """The limits in force; a numeric limit of 0 means none."""

    public: bool
    max_epochs: int
    max_train_images: int
    max_train_seconds: float
    max_upload_images: int
    max_video_seconds: float
    max_video_fps: float
    max_file_size: str
    user_area: Path
    user_area_max_mb: float
    user_area_max_age_hours: float

    @property
    def datasets_dir(self) -> Path:
        return self.user_area / DATASETS_FOLDER

    @property
    def runs_dir(self) -> Path:
        return self.user_area / RUNS_FOLDER

    @property
    def incoming_dir(self) -> Path:
        return self.user_area / INCOMING_FOLDER

    def describe(self) -> str:
        """One sentence for the Train tab: what a visitor of this server may do (empty when nothing is capped)."""
        caps = []
        if self.max_epochs:
            caps.append(f"{self.max_epochs} epochs")
        if self.max_train_images:
            caps.append(f"{self.max_train_images} training images")
        if self.max_train_seconds:
            caps.append(f"{self.max_train_seconds / 60:g} minutes")
        text = f"Each run is capped at {', '.join(caps)}. " if caps else ""
        if self.max_upload_images:
            text += f"An imported dataset holds at most {self.max_upload_images} faces. "
        if self.user_area_max_age_hours:
            text += f"Datasets and runs made here are removed after {self.user_area_max_age_hours:g} hours. "
        if not text:
            return ""
        return f"**{'Public server' if self.public else 'Limits on this server'}.** {text}".strip()


# name -> (public default, local default); each read as the type of its defaults.
DEFAULTS: dict[str, tuple[object, object]] = {
    "KPDEMO_MAX_EPOCHS": (20, 0),
    "KPDEMO_MAX_TRAIN_IMAGES": (2000, 0),
    "KPDEMO_MAX_TRAIN_SECONDS": (600.0, 0.0),
    "KPDEMO_MAX_UPLOAD_IMAGES": (1000, 0),
    "KPDEMO_MAX_VIDEO_SECONDS": (30.0, 0.0),
    # the seconds cap alone let a 400 fps clip of 30 s (12,000 frames, under 10 MB) cost ~50 CPU-minutes
    "KPDEMO_MAX_VIDEO_FPS": (30.0, 0.0),
    "KPDEMO_MAX_FILE_SIZE": ("10mb", "20mb"),
    "KPDEMO_USER_AREA": (str(REPO_ROOT / "user_area"), str(REPO_ROOT / "user_area")),
    "KPDEMO_USER_AREA_MAX_MB": (500.0, 0.0),
    "KPDEMO_USER_AREA_MAX_AGE_HOURS": (24.0, 0.0),
}


def is_public(env: Mapping[str, str] = os.environ) -> bool:
    """``KPDEMO_PUBLIC`` when set (1/0), else whether Hugging Face's ``SPACE_ID`` is set."""
    flag = env.get(PUBLIC_FLAG, "").strip().lower()
    if flag:
        if flag not in ("0", "1", "true", "false", "yes", "no"):
            raise ValueError(f"{PUBLIC_FLAG} must be 1 or 0, got {env[PUBLIC_FLAG]!r}")
        return flag in ("1", "true", "yes")
    return bool(env.get(SPACE_FLAG))


SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}  # Gradio's own units (binary multiples)


def parse_file_size(text: str) -> int:
    """Bytes from ``20mb``, ``500kb`` or a plain byte count, or a ValueError: checked at start-up so a typo stops
    the app with a clear message (Gradio's own parser refuses a plain number)."""
    match = re.fullmatch(r"(\d+)\s*(b|kb|mb|gb)?", text.strip().lower())
    if not match:
        raise ValueError(f"not a file size: {text!r} (use e.g. 20mb, 500kb or a byte count)")
    return int(match[1]) * SIZE_UNITS[match[2] or "b"]


def _setting(name: str, public: bool, env: Mapping[str, str]) -> object:
    default = DEFAULTS[name][0 if public else 1]
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = type(default)(text)
    except ValueError:
        raise ValueError(f"{name} must be a {type(default).__name__}, got {text!r}") from None
    if isinstance(value, int | float) and value < 0:
        raise ValueError(f"{name} must be >= 0 (0 = no limit), got {text!r}")
    if name == "KPDEMO_MAX_FILE_SIZE":
        try:
            parse_file_size(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return value


def current_limits(env: Mapping[str, str] = os.environ) -> Limits:
    """The limits now (read on every call, so a test or a restarted Space sees its environment); a malformed
    variable raises ``ValueError`` naming it."""
    public = is_public(env)
    value = {name: _setting(name, public, env) for name in DEFAULTS}
    return Limits(
        public=public,
        max_epochs=value["KPDEMO_MAX_EPOCHS"],
        max_train_images=value["KPDEMO_MAX_TRAIN_IMAGES"],
        max_train_seconds=value["KPDEMO_MAX_TRAIN_SECONDS"],
        max_upload_images=value["KPDEMO_MAX_UPLOAD_IMAGES"],
        max_video_seconds=value["KPDEMO_MAX_VIDEO_SECONDS"],
        max_video_fps=value["KPDEMO_MAX_VIDEO_FPS"],
        max_file_size=value["KPDEMO_MAX_FILE_SIZE"],
        user_area=Path(value["KPDEMO_USER_AREA"]).expanduser(),
        user_area_max_mb=value["KPDEMO_USER_AREA_MAX_MB"],
        user_area_max_age_hours=value["KPDEMO_USER_AREA_MAX_AGE_HOURS"],
    )


def cap_training(config: TrainConfig, limits: Limits) -> tuple[TrainConfig, list[str]]:
    """``config`` within the limits, and one note per setting that was lowered (for the user to read).

    Lowered rather than refused: a visitor who asks for 100 epochs gets the 20 this server allows and is told so.
    ``train_subset``/``eval_subset`` of 0 mean "all images", which a cap turns into the cap itself.
    """
    changes: dict[str, int] = {}
    notes = []
    if limits.max_epochs and config.epochs > limits.max_epochs:
        changes["epochs"] = limits.max_epochs
        notes.append(f"epochs {config.epochs} -> {limits.max_epochs} (KPDEMO_MAX_EPOCHS)")
    cap = limits.max_train_images
    for name, label in (("train_subset", "training images"), ("eval_subset", "val/test images")):
        asked = getattr(config, name)
        if cap and (asked == 0 or asked > cap):
            changes[name] = cap
            change = f"{label} {asked} -> {cap}" if asked else f"{label}: the first {cap} at most"
            notes.append(f"{change} (KPDEMO_MAX_TRAIN_IMAGES)")
    return replace(config, **changes), notes


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _last_change(path: Path) -> float:
    return max([path.stat().st_mtime, *(p.stat().st_mtime for p in path.rglob("*"))])


def user_area_entries(limits: Limits) -> list[Path]:
    """What the clean-up may remove: each imported dataset folder and each run folder of the user area."""
    entries = [p for p in limits.datasets_dir.glob("*") if p.is_dir()]
    return entries + [p for p in limits.runs_dir.glob("*/*") if p.is_dir()]


def clean_user_area(limits: Limits, keep: Iterable[Path] = (), now: float | None = None) -> list[Path]:
    """Remove user-area entries older than the age cap, then oldest first while the area is over its size cap.

    ``keep`` (the running training's run and dataset) is never removed, nor counted against anyone's share:
    deleting data under a live run would fail it half way. Without caps it only removes imports left half written
    by a crash (:func:`remove_stale_imports`). Returns what was removed.
    """
    now = time.time() if now is None else now
    stale = remove_stale_imports(limits, now)
    if not (limits.user_area_max_mb or limits.user_area_max_age_hours):
        return stale
    kept = {Path(p).resolve() for p in keep}
    entries = sorted(((_last_change(p), _size(p), p) for p in user_area_entries(limits)), key=lambda e: e[0])
    total = sum(size for _, size, _ in entries)
    budget = limits.user_area_max_mb * 1024**2
    removed = []
    for changed, size, path in entries:
        too_old = limits.user_area_max_age_hours and now - changed > limits.user_area_max_age_hours * 3600
        too_big = budget and total > budget
        if path.resolve() in kept or not (too_old or too_big):
            continue
        shutil.rmtree(path, ignore_errors=True)
        total -= size
        removed.append(path)
    for experiment in limits.runs_dir.glob("*"):  # an experiment folder whose runs were all removed
        if experiment.is_dir() and not any(experiment.iterdir()):
            experiment.rmdir()
    return stale + removed


def remove_stale_imports(limits: Limits, now: float) -> list[Path]:
    """Remove import folders not touched for :data:`STALE_IMPORT_HOURS`: a live import renames or removes its own
    folder within seconds, so an older one belongs to a process that died half way and nobody else will clean it."""
    stale = [p for p in sorted(limits.incoming_dir.glob("*"))
             if p.is_dir() and now - _last_change(p) > STALE_IMPORT_HOURS * 3600]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale
