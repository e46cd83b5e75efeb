"""The model registry: every landmark network kpdemo can build, by name, with one calling convention.

Every model maps a float batch ``(N, C, H, W)`` to ``(N, K * 2)`` points in normalised crop coordinates
(``[-1, 1]`` spans the crop, see :mod:`kpdemo.checkpoints`). Builders take the same keyword arguments
(``num_points``, ``in_channels``, ``input_size``, ``dropout``) plus model-specific ones, so trainers, the app and
checkpoint loading never special-case a model. A new family registers with :func:`register_model` in a module
of this package that ``kpdemo/models/__init__.py`` imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kpdemo.checkpoints import CheckpointMeta, load_checkpoint
from kpdemo.models.init import INITS, init_weights

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    builder: Builder


MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, title: str) -> Callable[[Builder], Builder]:
    """Decorator adding a builder ``f(num_points, in_channels, input_size, dropout, **kw) -> nn.Module``."""

    def add(builder: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model {name!r} registered twice")
        MODELS[name] = ModelSpec(name, title, builder)
        return builder

    return add


def input_hw(input_size: int | tuple[int, int]) -> tuple[int, int]:
    """(height, width) from an int (square) or a pair."""
    return (input_size, input_size) if isinstance(input_size, int) else (int(input_size[0]), int(input_size[1]))


def build_model(
    name: str,
    num_points: int = 15,
    in_channels: int = 1,
    input_size: int | tuple[int, int] = 96,
    init: str = "default",
    dropout: float = 0.0,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model and initialise its weights (``zeros`` | ``xavier`` | ``he`` | ``default``)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; known: {', '.join(INITS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    model = MODELS[name].builder(
        num_points=num_points, in_channels=in_channels, input_size=input_hw(input_size), dropout=dropout, **kwargs
    )
    init_weights(model, init)
    return model


def model_from_meta(meta: CheckpointMeta) -> nn.Module:
    """An (uninitialised-weights) model shaped as a checkpoint describes it."""
    from kpdemo.schemas import get_schema

    return build_model(
        meta.model, num_points=get_schema(meta.schema).num_points, in_channels=meta.in_channels,
        input_size=tuple(meta.input_size), **meta.model_kwargs,
    )


def load_model(
    path: Path, expect_schema: str | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild a checkpoint's model in eval mode; fp16-stored weights are widened back to float32."""
    state, meta = load_checkpoint(path, expect_schema=expect_schema)
    model = model_from_meta(meta)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.to(device).eval(), meta
