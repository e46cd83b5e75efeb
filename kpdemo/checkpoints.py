"""Checkpoint files: a state_dict plus the metadata needed to use it (schema, input prep, point normalisation).

Saved as plain dicts/tensors so ``torch.load(path, weights_only=True)`` reads them. A checkpoint carries its
keypoint schema, so the app can refuse one that does not fit what the user asked for with a clear message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from kpdemo.files import write_by_rename

FORMAT = "kpdemo-checkpoint/1"
#: :attr:`CheckpointMeta.own_box`: rows of weights, see there.
OwnBox = tuple[tuple[float, ...], ...]
#: The ``own_box`` of a model trained on crops cut around its own points: none to estimate.
OWN_POINTS_BOX: OwnBox = ()


class CheckpointError(ValueError):
    """A checkpoint cannot be used: wrong file, wrong format, or a schema that does not fit."""


@dataclass
class CheckpointMeta:
    """How to rebuild the model and prepare its input.

    ``input_size`` is (height, width) of the network input crop; ``in_channels`` 1 for grayscale, 3 for RGB;
    pixels go in as ``(value / 255 - pixel_mean) / pixel_std``; the network predicts points as
    ``(p - centre) / half_size`` per axis (so [-1, 1] spans the crop), recovered by ``points_from_network``.
    ``crop_scale`` is how the face crop was cut around the landmarks' box in training (side = crop_scale x box).
    ``refine`` says a crop cut around a first prediction is a training crop, so the model can refine its answer and
    follow a face from frame to frame: the box was the box of the model's own points, or ``own_box`` estimates it
    from them (False for whole-image models, and for ``kaggle15`` checkpoints made before ``own_box``).
    ``own_box`` is that estimate: three rows of weights, linear in where the model's own points lie in their own box
    (:func:`kpdemo.geometry.own_box_features`), giving the training crops' landmark box as its centre's
    shift (x, y) in sides of the own box and the log of its side over the own box's side. Empty where crops were cut
    around the model's own points; ``kaggle15``'s were cut around 68 points it does not predict
    (see :func:`kpdemo.datasets.kaggle15.own_box`).
    """

    model: str
    schema: str
    input_size: tuple[int, int]
    in_channels: int
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pixel_mean: float = 0.5
    pixel_std: float = 0.5
    crop_scale: float = 1.2
    dataset: str = ""
    run: str = ""
    refine: bool = False
    own_box: OwnBox = OWN_POINTS_BOX
    metrics: dict[str, float] = field(default_factory=dict)


def save_checkpoint(path: Path, state_dict: dict[str, torch.Tensor], meta: CheckpointMeta) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu() for k, v in state_dict.items()}
    payload = {"format": FORMAT, "meta": asdict(meta), "state_dict": weights}
    payload["meta"]["input_size"] = list(meta.input_size)
    write_by_rename(path, lambda out: torch.save(payload, out))


def load_checkpoint(path: Path, expect_schema: str | None = None) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """Read a checkpoint safely (``weights_only=True``); refuse a foreign file or a schema other than expected."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # torch raises many types for a non-checkpoint file
        raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not a kpdemo checkpoint (expected format {FORMAT})")
    raw = dict(payload["meta"])
    raw["input_size"] = tuple(raw["input_size"])
    if "own_box" in raw:
        raw["own_box"] = tuple(tuple(row) for row in raw["own_box"])
    meta = CheckpointMeta(**raw)
    if expect_schema is not None and meta.schema != expect_schema:
        raise CheckpointError(
            f"{path.name} predicts the {meta.schema!r} keypoint schema, but {expect_schema!r} was expected"
        )
    return payload["state_dict"], meta
