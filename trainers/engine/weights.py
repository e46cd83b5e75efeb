"""Where a run's starting weights come from (``config.weights``): a file, or an earlier run of the same experiment.

* ``path/to/file.pt``: a kpdemo checkpoint, or a plain torchvision ``state_dict`` such as a locally kept ImageNet
  ``resnet18-*.pth`` (nothing is ever downloaded);
* ``run:TAG``: the best checkpoint of the newest finished run (done, or stopped early by a time budget: its best
  checkpoint is as good a start) with ``config.tag == TAG`` in the same experiment folder, so "pre-train on
  YouTube-Faces, then fine-tune on 300-W" is two configs of one grid (and still works under ``--quick``, whose run
  names differ).

Tensors are copied where name and shape match; a first conv that differs only in input channels (RGB weights into
a grayscale net) gets the RGB kernels summed. Heads of another size are left as built. A file none of whose weights
fits (another architecture's checkpoint, which once started a run silently from scratch) is refused, naming the model
a kpdemo checkpoint says it is for; so is a file that holds anything but tensors. A PIP ResNet18 checkpoint
wider than the model (``model_kwargs.width``) seeds it with its most used channels (:mod:`trainers.engine.slim`).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from torch import nn

from kpdemo.checkpoints import FORMAT, CheckpointError, CheckpointMeta, load_checkpoint
from kpdemo.files import file_sha256
from kpdemo.models import load_model
from kpdemo.models.pip import PIPNet
from kpdemo.runs import FINISHED, RECORD, read_record
from trainers.engine.config import QUICK_SUFFIX
from trainers.engine.slim import slim_into
from trainers.errors import UsageError

RUN_PREFIX = "run:"


class MissingStartRun(UsageError, FileNotFoundError):
    """``run:TAG`` names no finished run: the grid's earlier run (a pre-training) has not been trained here."""


def run_reference(spec: str, experiment: str) -> tuple[str, str] | None:
    """(experiment folder, tag) of a ``run:TAG`` or ``run:EXPERIMENT/TAG`` weights value given to a run of
    ``experiment``; None for a file path. Another experiment's run is looked for in that experiment's folder, a
    ``--quick`` run's in its quick folder."""
    if not spec.startswith(RUN_PREFIX):
        return None
    tag = spec[len(RUN_PREFIX):]
    if "/" in tag:
        other, tag = tag.split("/", 1)
        experiment = other + (QUICK_SUFFIX if experiment.endswith(QUICK_SUFFIX) else "")
    return experiment, tag


def resolve_weights(spec: str, runs_root: Path, experiment: str) -> Path:
    """The weights file ``spec`` names (see the module docstring), or a clear error."""
    reference = run_reference(spec, experiment)
    if reference is None:
        path = Path(spec).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"weights file not found: {path}")
        if path.is_dir():
            raise UsageError(f"weights: {path} is a folder, not a weights file (a run keeps its own in best.pt)")
        return path
    experiment, tag = reference
    found = []
    for record_path in (Path(runs_root) / experiment).glob(f"*/{RECORD}"):
        record = read_record(record_path.parent)
        if record.get("config", {}).get("tag") == tag and record.get("status") in FINISHED and record.get("checkpoint"):
            found.append((record.get("finished") or "", record_path.parent / record["checkpoint"]))
    if found and not max(found)[1].is_file():  # read as "not a PyTorch file, or truncated" further on
        raise MissingStartRun(f"the run tagged {tag!r} to start from, {max(found)[1].parent}, has lost its "
                              f"checkpoint {max(found)[1].name}: train it again, or start from a file with "
                              "--set weights=PATH")
    if not found:
        grid, quick = experiment.removesuffix(QUICK_SUFFIX), experiment.endswith(QUICK_SUFFIX)
        raise MissingStartRun(f"no finished run tagged {tag!r} under {Path(runs_root) / experiment} to start from: "
                              f"train it first (python -m trainers {grid} --only {tag}{' --quick' if quick else ''}, "
                              "into the same runs root), or start from a file with --set weights=PATH")
    return max(found)[1]


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], CheckpointMeta | None]:
    """The tensors of a weights file and, for a kpdemo checkpoint, its meta (which model it is for).

    Only tensors are read (``weights_only``); a file that is something else gets a :class:`CheckpointError` saying
    what, never torch's own message, whose advice for a pickle of other objects is to load it unsafely."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is no PyTorch file, or one cut short
        if isinstance(exc, pickle.UnpicklingError) and is_pickle(path):  # objects the tensor-only reader refuses
            raise CheckpointError(f"{path} holds Python objects besides tensors (a whole pickled model, or another "
                                  "program's training state), which are not read: save the model's state_dict() "
                                  "and start from that") from None
        raise CheckpointError(f"{path} is not a PyTorch weights file, or it is truncated ({type(exc).__name__})") \
            from None
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        state, meta = load_checkpoint(path)
        return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, meta
    if isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return payload, None
    raise CheckpointError(f"{path} is neither a kpdemo checkpoint nor a state_dict (a dict of tensors); it holds "
                          f"{describe(payload)}")


def is_pickle(path: Path) -> bool:
    """Whether ``path`` is a whole pickle: torch's zip format (its central directory, at the end, is there), or a
    plain pickle (protocol 2 and up start with 0x80). Bytes that are neither (an image, a cut-off file) also fail
    the tensor-only reader as an UnpicklingError, but hold no objects to speak of."""
    with open(path, "rb") as file:
        return file.read(1) == b"\x80" or zipfile.is_zipfile(file)


def describe(payload: object) -> str:
    """What a weights file that is not one holds, for the error: a dict's first keys (a training state such as
    ``last.pt`` names ``model`` and ``optimizer``), else the type."""
    if isinstance(payload, dict):
        keys = ", ".join(repr(k) for k in list(payload)[:5])
        return f"a dict of {len(payload)} entries ({keys}{', ...' if len(payload) > 5 else ''})" if payload \
            else "an empty dict"
    return f"a {type(payload).__name__}"


def copy_matching(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load what fits from ``state`` into ``model``; returns the model's keys left as initialised."""
    own = model.state_dict()
    copied: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            continue
        target = own[key]
        if target.shape == value.shape:
            copied[key] = value
        elif value.ndim == 4 and target.shape[0] == value.shape[0] and target.shape[2:] == value.shape[2:] \
                and target.shape[1] == 1:
            copied[key] = value.sum(1, keepdim=True)
    model.load_state_dict(copied, strict=False)
    return sorted(set(own) - set(copied))


def recorded_path(path: Path, runs_root: Path) -> str:
    """``path`` as a run record keeps it: relative to the runs root when inside it (``w300/<run>/best.pt``), so a
    shipped record names the run it started from rather than one machine's absolute folders."""
    try:
        return Path(path).resolve().relative_to(Path(runs_root).resolve()).as_posix()
    except ValueError:
        return str(path)


def wider_pip(path: Path, model: nn.Module) -> nn.Module | None:
    """The network of ``path`` when it is a PIP ResNet18 checkpoint wider than ``model`` (a slim PIP ResNet18 of
    the same points), else None."""
    if not isinstance(model, PIPNet) or not isinstance(model.trunk[0], nn.Conv2d):
        return None
    try:
        wide, meta = load_model(path)
    except (CheckpointError, KeyError, RuntimeError, TypeError):  # not a kpdemo checkpoint, or not one we can build
        return None
    if not isinstance(wide, PIPNet) or not isinstance(wide.trunk[0], nn.Conv2d) or wide.num_points != model.num_points:
        return None
    return wide.float() if wide.trunk[0].out_channels > model.trunk[0].out_channels else None


def init_weights_from(model: nn.Module, spec: str, runs_root: Path, experiment: str) -> dict[str, object]:
    """Apply ``config.weights`` to a freshly built model; returns what the run record should say about it: the file
    and its SHA-256 (``--from-record`` checks that the file it names still holds those weights)."""
    path = resolve_weights(spec, runs_root, experiment)
    source = {"weights_file": recorded_path(path, runs_root), "weights_sha256": file_sha256(path)}
    wide = wider_pip(path, model)
    if wide is not None:
        slim_into(wide, model)
        return source | {"weights_not_copied": [], "weights_slimmed": True}
    state, meta = read_state(path)
    left = copy_matching(model, state)
    if {name for name, _ in model.named_parameters()} <= set(left):  # a buffer alone (a BatchNorm count) fits any
        raise CheckpointError(f"{path}: none of its weights fits this {type(model).__name__} (no name and shape in "
                              f"common){for_model(meta)}; start from weights of this architecture")
    return source | {"weights_not_copied": left}


def for_model(meta: CheckpointMeta | None) -> str:
    """What the refusal of a weights file says about the model it was for: a kpdemo checkpoint says so in its
    meta; a plain state_dict does not."""
    if meta is None:
        return ""
    run = f", run {meta.run}" if meta.run else ""
    return f": it is the checkpoint of a {meta.model} model for {meta.schema} points{run}"
