"""Load external or reidkit checkpoints (.pth/.pt) into a ReidModel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from reidkit.core.errors import ModelError
from reidkit.core.log import get_logger

if TYPE_CHECKING:
    from reidkit.models.model import ReidModel

log = get_logger(__name__)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint file: a bare state dict or one under "model"/"state_dict"."""
    path = Path(path)
    try:
        blob: Any = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelError(f"cannot read checkpoint ({exc.__class__.__name__})", path=path) from exc
    for key in ("model", "state_dict", "model_state"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
            break
    if not isinstance(blob, dict):
        raise ModelError("checkpoint holds no state dict", path=path)
    return {k.removeprefix("module."): v for k, v in blob.items() if isinstance(v, torch.Tensor)}


def load_checkpoint_weights(model: nn.Module, path: str | Path) -> None:
    """Load every tensor whose name and shape match; the classifier is never taken over."""
    state = read_state_dict(path)
    own = model.state_dict()
    matched = {
        k: v
        for k, v in state.items()
        if k in own and own[k].shape == v.shape and not k.startswith("classifier.")
    }
    if not any(k.startswith("backbone.") for k in matched):
        raise ModelError("no backbone weights in the checkpoint match this model", path=path)
    model.load_state_dict(matched, strict=False)
    log.info("loaded %d/%d tensors from %s", len(matched), len(own), path)


def model_from_checkpoint(path: str | Path, **overrides: Any) -> tuple[ReidModel, dict[str, Any]]:
    """Rebuild an eval-mode ReidModel (no classifier) from a reidkit training checkpoint.

    The checkpoint is a dict with "model" (state dict) and "config" (the training config as a dict,
    its "model" entry a ModelConfig dict; "data" may hold the input height/width). Unknown config keys
    are ignored so checkpoints from newer or older versions still load; ``overrides`` (ModelConfig
    fields) win over the file. Returns the model and the config it was built from.
    """
    import dataclasses

    from reidkit.models.config import ModelConfig
    from reidkit.models.model import build_model

    path = Path(path)
    try:
        blob: Any = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelError(f"cannot read checkpoint ({exc.__class__.__name__})", path=path) from exc
    if not isinstance(blob, dict) or not isinstance(blob.get("model"), dict):
        raise ModelError("not a reidkit checkpoint (no 'model' state dict)", path=path)
    config = blob.get("config") or {}
    model_dict = dict(config.get("model") or {})
    data = config.get("data") or {}
    for key in ("height", "width"):
        if key not in model_dict and key in data:
            model_dict[key] = data[key]
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    ignored = sorted(set(model_dict) - fields)
    if ignored:
        log.warning("ignoring unknown model config keys in %s: %s", path, ", ".join(ignored))
    kwargs = {k: v for k, v in model_dict.items() if k in fields}
    kwargs.update(overrides)
    kwargs["pretrained"] = ""  # the checkpoint holds the trained weights
    cfg = ModelConfig(**kwargs)
    model = build_model(cfg, num_classes=0)
    state = {k.removeprefix("module."): v for k, v in blob["model"].items()}
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"checkpoint does not fit {cfg.backbone}: missing {missing[:3]}, unexpected {unexpected[:3]}",
            path=path,
            hint="pass the backbone the checkpoint was trained with",
        )
    model.bn_calibration_pending.fill_(False)
    return model.eval(), dataclasses.asdict(cfg)
