"""The model registry: named detector and ReID models, where their files live, and how to feed them."""

from reidkit.zoo.registry import MODELS, InputSpec, ModelSpec, get_spec, register_model, resolve_model

__all__ = ["MODELS", "InputSpec", "ModelSpec", "get_spec", "register_model", "resolve_model"]
