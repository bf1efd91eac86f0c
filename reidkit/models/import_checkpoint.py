"""Load external or reidkit checkpoints (.pth/.pt) into a ReidModel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from reidkit.core.errors import ModelError
from reidkit.core.log import get_logger

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
