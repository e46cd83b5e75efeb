"""Landmark models: a registry (:func:`build_model`) and checkpoint loading (:func:`load_model`)."""

# imported for the models they register: immnet, nosenet (seeds 002/003), pip (heatmap + offsets), resnet18,
# simplenet and convnet (seed 001)
from kpdemo.models import imm, pip, resnet, seed001  # noqa: F401
from kpdemo.models.init import INITS, init_weights
from kpdemo.models.registry import MODELS, ModelSpec, build_model, load_model, model_from_meta, register_model

__all__ = ["INITS", "MODELS", "ModelSpec", "build_model", "init_weights", "load_model", "model_from_meta",
           "register_model"]
