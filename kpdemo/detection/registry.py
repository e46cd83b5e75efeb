"""Which landmark predictors exist right now, and one cached instance of each.

Sources: MediaPipe face mesh (468 / 478 points, bundled with mediapipe), every ``checkpoints/*.pt`` shipped with the
repo, and the best checkpoint of every user run under :func:`kpdemo.config.runs_dir` (and of shipped run records
whose checkpoint file is present, unless it is one of the shipped checkpoints: a shipped model's record links its
file, which the pickers would otherwise list twice under two names). :func:`available_predictors` rescans on
``refresh=True``, so a run that finished a minute ago shows up without a restart; models themselves load lazily on
first :func:`get_predictor` call.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kpdemo.checkpoints import CheckpointError, load_checkpoint
from kpdemo.config import CHECKPOINTS_DIR, SHIPPED_RUNS_DIR, runs_dir
from kpdemo.detection.base import LandmarkPredictor
from kpdemo.detection.checkpoint import CheckpointPredictor
from kpdemo.detection.mediapipe_mesh import MediaPipeMeshPredictor
from kpdemo.schemas import MEDIAPIPE468, MEDIAPIPE478, get_schema

#: What the app's model pickers start on and what a call without a model uses: the shipped 68-point model. It is more
#: accurate than MediaPipe's mesh on every test set and sweep of the README's "Measured results" (and than dlib's
#: predictor on every test set dlib did not train on), follows a moving face on the webcam as well as it reads a
#: photo, in less time a frame than MediaPipe (on its int8 export, or where the CPU has no int8 dot products on its
#: half-width live-frame companion, which follows faces less closely but still more closely than MediaPipe: "Webcam
#: speed", "Faces followed on a stream"), and its photo answers carry an uncertainty. MediaPipe stays one pick away.
DEFAULT_KEY = "checkpoint:ibug68_pip"
#: A predictor key's prefix for a checkpoint shipped as ``checkpoints/<name>.pt``, and for a run's best checkpoint
#: (``run:<experiment>/<run>``); MediaPipe's keys have neither.
CHECKPOINT_PREFIX = "checkpoint:"
RUN_PREFIX = "run:"


@dataclass(frozen=True)
class PredictorEntry:
    """A predictor the user can pick: stable ``key`` (the API value), ``label`` (shown), and how to build it."""

    key: str
    label: str
    schema: str
    factory: Callable[[], LandmarkPredictor]
    version: float = 0.0  # checkpoint mtime: a retrained file gets a fresh instance


_lock = threading.Lock()
_entries: dict[str, PredictorEntry] = {}
_instances: dict[tuple[str, float], LandmarkPredictor] = {}
_meta_cache: dict[tuple[Path, float], tuple[str, str]] = {}


def _mediapipe_entries() -> list[PredictorEntry]:
    return [
        PredictorEntry("mediapipe468", f"MediaPipe face mesh ({MEDIAPIPE468.id}, 468 points)", MEDIAPIPE468.id,
                       lambda: MediaPipeMeshPredictor(refine_landmarks=False)),
        PredictorEntry("mediapipe478", f"MediaPipe face mesh + iris ({MEDIAPIPE478.id}, 478 points)", MEDIAPIPE478.id,
                       lambda: MediaPipeMeshPredictor(refine_landmarks=True)),
    ]


def _describe(path: Path) -> tuple[str, str] | None:
    """(model name, schema id) of a checkpoint, read once per file version; None for an unusable file."""
    try:
        version = (path, path.stat().st_mtime)
    except OSError:
        return None
    if version not in _meta_cache:
        try:
            _, meta = load_checkpoint(path)
            get_schema(meta.schema)
        except (CheckpointError, KeyError):
            return None
        _meta_cache[version] = (meta.model, meta.schema)
    return _meta_cache[version]


def _checkpoint_entry(key: str, name: str, path: Path) -> PredictorEntry | None:
    described = _describe(path)
    if described is None:
        return None
    model, schema_id = described
    points = get_schema(schema_id).num_points
    return PredictorEntry(
        key, f"{name}: {model} ({schema_id}, {points} points)", schema_id,
        lambda: CheckpointPredictor(path, name=name), path.stat().st_mtime,
    )


def _run_checkpoints(root: Path) -> list[tuple[str, Path]]:
    """(experiment/run, checkpoint path) for each run record under ``root`` whose checkpoint file exists."""
    found = []
    for record in sorted(root.glob("*/*/record.json")):
        try:
            ckpt = json.loads(record.read_text()).get("checkpoint")
        except (OSError, json.JSONDecodeError):
            continue
        if ckpt and (record.parent / ckpt).is_file():
            found.append((f"{record.parent.parent.name}/{record.parent.name}", record.parent / ckpt))
    return found


def scan() -> list[PredictorEntry]:
    """Look for predictors now (cheap after the first call: checkpoint metadata is cached per file version)."""
    entries = _mediapipe_entries()
    shipped = sorted(CHECKPOINTS_DIR.glob("*.pt"))
    for path in shipped:
        entries.append(_checkpoint_entry(f"{CHECKPOINT_PREFIX}{path.stem}", path.stem, path))
    listed = {path.resolve() for path in shipped}
    for root in (SHIPPED_RUNS_DIR, runs_dir()):  # a user run shadows a shipped one of the same name
        for name, path in _run_checkpoints(root):
            if root != SHIPPED_RUNS_DIR or path.resolve() not in listed:
                entries.append(_checkpoint_entry(f"{RUN_PREFIX}{name}", f"run {name}", path))
    unique: dict[str, PredictorEntry] = {}
    for entry in entries:
        if entry is not None:
            unique[entry.key] = entry
    return list(unique.values())


def shipped_checkpoint_path(key: str) -> Path | None:
    """The file behind a shipped checkpoint's key (``checkpoint:ibug68_pip`` -> ``checkpoints/ibug68_pip.pt``), or None
    for any other key: one inverse of :func:`scan`'s naming, so the benches that export or score shipped checkpoints
    by key do not cut the prefix themselves."""
    return CHECKPOINTS_DIR / f"{key.removeprefix(CHECKPOINT_PREFIX)}.pt" if key.startswith(CHECKPOINT_PREFIX) else None


def available_predictors(refresh: bool = False) -> list[PredictorEntry]:
    """All predictors, MediaPipe first; rescans the checkpoint folders when ``refresh`` or on first call."""
    with _lock:
        if refresh or not _entries:
            _entries.clear()
            _entries.update({e.key: e for e in scan()})
        return list(_entries.values())


def predictor_choices(refresh: bool = False) -> list[tuple[str, str]]:
    """(label, key) pairs for a dropdown."""
    return [(e.label, e.key) for e in available_predictors(refresh)]


#: An unknown key rescans for new runs at most this often: a key mistyped in the webcam's model box, or sent by an
#: API caller, would otherwise rescan every checkpoint and run record on every frame or request. Per key, so a run
#: just trained is found at its first use.
RESCAN_EVERY_S = 2.0
_rescanned_for: dict[str, float] = {}


def forget_instances() -> None:
    """Drop every built predictor, so the next :func:`get_predictor` builds it afresh: a predictor reads the live-frame
    settings (``KPDEMO_LIVE_INT8``, ``KPDEMO_LIVE_COMPANION``, :mod:`kpdemo.detection.cpu`) when it is built, and a
    bench comparing the live paths of one checkpoint changes them between runs."""
    with _lock:
        _instances.clear()


def get_predictor(key: str) -> LandmarkPredictor:
    """The predictor for ``key``, built on first use and cached (a rewritten checkpoint is rebuilt).

    Raises :class:`KeyError` with a readable message for an unknown key and
    :class:`~kpdemo.checkpoints.CheckpointError` for a checkpoint that cannot be used.
    """
    entries = {e.key: e for e in available_predictors()}
    if key not in entries and time.monotonic() - _rescanned_for.get(key, -math.inf) > RESCAN_EVERY_S:
        if len(_rescanned_for) > 1000:  # keys made up by API callers must not pile up
            _rescanned_for.clear()
        _rescanned_for[key] = time.monotonic()
        entries = {e.key: e for e in available_predictors(refresh=True)}
    if key not in entries:
        raise KeyError(f"model {key!r} is not available (known: {', '.join(entries)})")
    entry = entries[key]
    with _lock:
        instance = _instances.get((key, entry.version))
    if instance is None:
        instance = entry.factory()  # built outside the lock: loading a model can take a while
        with _lock:
            instance = _instances.setdefault((key, entry.version), instance)
    return instance
