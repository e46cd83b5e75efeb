"""Landmark models: a registry (:func:`build_model`) and checkpoint loading (:func:`load_model`)."""

from kpdemo.models import (  # noqa: F401  (registers immnet, nosenet, resnet18: seeds 002/003)
           imm,
           pip,  # noqa: F401  (registers pip: the heatmap + offset family)
           resnet,
           seed001,  # noqa: F401  (registers simplenet, convnet)
)
from kpdemo.models.init import INITS, init_weights
from kpdemo.models.registry import MODELS, ModelSpec, build_model, load_model, model_from_meta, register_model

__all__ = ["INITS", "MODELS", "ModelSpec", "build_model", "init_weights", "load_model", "model_from_meta",
           "register_model"]
