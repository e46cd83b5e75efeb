"""Where a run's starting weights come from (``config.weights``): a file, or an earlier run of the same experiment.

* ``path/to/file.pt``: a kpdemo checkpoint, or a plain torchvision ``state_dict`` such as a locally kept ImageNet
  ``resnet18-*.pth`` (nothing is ever downloaded);
* ``run:TAG``: the best checkpoint of the newest finished run (done, or stopped early by a time budget: its best
  checkpoint is as good a start) with ``config.tag == TAG`` in the same experiment folder, so "pre-train on
  YouTube-Faces, then fine-tune on 300-W" is two configs of one grid (and still works under ``--quick``, whose run
  names differ).

Tensors are copied where name and shape match; a first conv that differs only in input channels (RGB weights into
a grayscale net) gets the RGB kernels summed. Heads of another size are left as built. A PIP ResNet18 checkpoint
wider than the model (``model_kwargs.width``) seeds it with its most used channels (:mod:`trainers.engine.slim`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from kpdemo.checkpoints import FORMAT, CheckpointError, load_checkpoint
from kpdemo.files import file_sha256
from kpdemo.models import load_model
from kpdemo.models.pip import PIPNet
from kpdemo.runs import FINISHED, RECORD, read_record
from trainers.engine.slim import slim_into

RUN_PREFIX = "run:"


def run_reference(spec: str, experiment: str) -> tuple[str, str] | None:
    """(experiment folder, tag) of a ``run:TAG`` or ``run:EXPERIMENT/TAG`` weights value given to a run of
    ``experiment``; None for a file path. Another experiment's run is looked for in that experiment's folder, a
    ``--quick`` run's in its quick folder."""
    if not spec.startswith(RUN_PREFIX):
        return None
    tag = spec[len(RUN_PREFIX):]
    if "/" in tag:
        other, tag = tag.split("/", 1)
        experiment = other + ("-quick" if experiment.endswith("-quick") else "")
    return experiment, tag


def resolve_weights(spec: str, runs_root: Path, experiment: str) -> Path:
    """The weights file ``spec`` names (see the module docstring), or a clear error."""
    reference = run_reference(spec, experiment)
    if reference is None:
        path = Path(spec).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"weights file not found: {path}")
        return path
    experiment, tag = reference
    found = []
    for record_path in (Path(runs_root) / experiment).glob(f"*/{RECORD}"):
        record = read_record(record_path.parent)
        if record.get("config", {}).get("tag") == tag and record.get("status") in FINISHED and record.get("checkpoint"):
            found.append((record.get("finished") or "", record_path.parent / record["checkpoint"]))
    if not found:
        raise FileNotFoundError(f"no finished run tagged {tag!r} under {Path(runs_root) / experiment} to start from")
    return max(found)[1]


def read_state(path: Path) -> dict[str, torch.Tensor]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        return {k: v.float() if v.is_floating_point() else v for k, v in load_checkpoint(path)[0].items()}
    if isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return payload
    raise CheckpointError(f"{path.name} is neither a kpdemo checkpoint nor a state_dict")


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
    return source | {"weights_not_copied": copy_matching(model, read_state(path))}
