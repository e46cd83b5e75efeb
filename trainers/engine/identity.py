"""What makes a run the run it is: the settings its name shows, and the weights it started from.

A run's folder is its name (:meth:`TrainConfig.run_name`), made of the settings that tell a grid's runs apart. The
settings in :data:`UNNAMED` are the same across a grid, so the name leaves them out; a run trained with one of them
changed (``--set dataset=...``, ``--weights F``, the Train tab's form) would have taken the folder of the run
without the change and silently replaced it. :func:`with_variant` writes each such change into the config's
``variant``, which the name carries, so the same rule names the CLI's runs and the Train tab's. Where a name still
cannot tell two runs apart (two weights files of one name, a weights file replaced in place),
:func:`other_run_there` says so before a run writes over the other's folder.

A run records the SHA-256 of the file it started from (``env.weights_sha256``, :mod:`trainers.engine.weights`);
:func:`check_recorded_weights` checks it when ``--from-record`` re-runs the record.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from kpdemo.files import file_sha256
from kpdemo.runs import RECORD, read_record
from trainers.engine.config import TrainConfig
from trainers.engine.weights import RUN_PREFIX, resolve_weights

#: Settings that change what a run learns or how it is scored but that the name's fixed parts leave out (a grid's
#: runs never differ in them): a change of one goes into the name's ``variant``.
UNNAMED = ("dataset", "weights", "batch_size", "model_kwargs", "momentum", "weight_decay", "context", "eval_subset")
#: Settings that change how a run computes, not what it learns: two runs apart only in these are the same run.
HOW_ONLY = frozenset({"experiment", "device", "amp", "channels_last", "compile"})
#: A marker's characters outside these become "-", so that a variant is a plain folder name.
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Short prefixes of the markers of numbers (the dataset and the weights' markers are words of their own).
PREFIXES = {"batch_size": "b", "momentum": "mom", "weight_decay": "wd", "context": "ctx", "eval_subset": "eval"}


def _text(value: Any) -> str:
    """A setting's value as a short name part: 0.5, 256-256 (a list), scratch (no weights)."""
    if isinstance(value, (list, tuple)):
        return "-".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "-".join(f"{k}{_text(v)}" for k, v in sorted(value.items()))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def weights_marker(weights: str) -> str:
    """What a run's name says of its start: ``from_<file stem>``, ``from_<tag>`` for ``run:TAG``, or
    ``from_scratch``. Two copies of one file in two folders are the same start (see :func:`other_run_there`)."""
    if not weights:
        return "from_scratch"
    if weights.startswith(RUN_PREFIX):
        return f"from_{weights[len(RUN_PREFIX):].rsplit('/', 1)[-1]}"
    return f"from_{Path(weights).stem}"


def _marker(key: str, before: Any, now: Any) -> str:
    """How ``now`` differs from ``before`` in a name; "" where the name would not change."""
    if key == "model_kwargs":
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        return "_".join(f"{k}{_text(now[k])}" if k in now else f"no{k}" for k in changed)
    if key == "weights":
        return "" if weights_marker(before) == weights_marker(now) else weights_marker(now)
    if before == now:
        return ""
    return _text(now) if key == "dataset" else f"{PREFIXES[key]}{_text(now)}"


def with_variant(base: TrainConfig, config: TrainConfig) -> TrainConfig:
    """``config`` (``base`` with overrides) with each :data:`UNNAMED` setting it changed marked in its ``variant``,
    after any it had: ``ibug300w`` (the dataset), ``from_ibug68_pip`` (the start weights), ``b16``, ``width0.5``
    (a model argument), ``mom0.5``, ``wd0.01``, ``ctx1.25``, ``eval300``. Unchanged, ``config`` as it is, so a plain
    run keeps its name, and a re-run of a record its record's."""
    markers = [_marker(key, getattr(base, key), getattr(config, key)) for key in UNNAMED]
    markers = [UNSAFE.sub("-", m) for m in markers if m]
    if not markers:
        return config
    return replace(config, variant="_".join(part for part in (config.variant, *markers) if part))


def start_sha256(config: TrainConfig) -> str | None:
    """The SHA-256 of the weights file ``config`` starts from (None: no file, or ``run:TAG``, which names a run of
    the runs root and is resolved when it trains)."""
    if not config.weights or config.weights.startswith(RUN_PREFIX):
        return None
    return file_sha256(resolve_weights(config.weights, Path("."), config.experiment))


def _as_recorded(values: dict[str, Any]) -> dict[str, Any]:
    """Config values as a record's JSON holds them (a tuple as a list), to compare with one."""
    return json.loads(json.dumps(values, default=str))


def other_run_there(run_dir: Path, config: TrainConfig) -> str | None:
    """What sets the run recorded in ``run_dir`` apart from ``config``'s (a setting, or the contents of the start
    weights), which a run of ``config`` would overwrite there; None when there is none or it is the same run."""
    if not (run_dir / RECORD).is_file():
        return None
    record = read_record(run_dir)
    earlier = _as_recorded(TrainConfig().to_dict()) | record.get("config", {})
    now = _as_recorded(config.to_dict())
    differ = [f"{key} {earlier[key]!r} there, {now[key]!r} now" for key in now
              if key not in HOW_ONLY and earlier[key] != now[key]]
    recorded = record.get("env", {}).get("weights_sha256")
    if not differ and recorded and start_sha256(config) not in (None, recorded):
        differ = [f"{config.weights} held other weights then (sha256 {recorded[:12]}...)"]
    return "; ".join(differ) or None


def check_recorded_weights(record_path: Path, record: dict[str, Any], config: TrainConfig) -> str | None:
    """``--from-record``: a ValueError when ``config`` starts from the record's weights (the same file name) but
    that file no longer holds what the run started from; a note to say once when the record is older than weight
    hashes (it re-runs from the file as it is now); None when the weights check out or are not the record's."""
    recorded = record.get("config", {}).get("weights", "")
    if not recorded or weights_marker(recorded) != weights_marker(config.weights):
        return None
    now = start_sha256(config)
    if now is None:
        return None
    expected = record.get("env", {}).get("weights_sha256")
    if expected is None:
        return (f"note: {record_path} is older than recorded weight hashes: its run starts from {config.weights} as "
                "that file is now, unchecked")
    if now != expected:
        raise ValueError(f"{record_path} started from {config.weights} when that file held other weights (sha256 "
                         f"{expected[:12]}..., now {now[:12]}...): it would not train what the record did. Put those "
                         "weights back, or start from another file (--set weights=PATH; a file of another name gives "
                         "the run a name of its own)")
    return None
