"""Load external or reidkit checkpoints (.pth/.pt) into a ReidModel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from reidkit.core.errors import ModelError
from reidkit.core.log import get_logger

if TYPE_CHECKING:
    from reidkit.models.config import ModelConfig
    from reidkit.models.model import ReidModel

log = get_logger(__name__)


CHECKPOINT_HINT = (
    "pass the .pth file `reidkit train` wrote (OUTPUT/best.pth or last.pth); to quantise an ONNX model, "
    "pass it to `reidkit export --onnx` with --int8"
)


def load_checkpoint_file(path: str | Path) -> Any:
    """``torch.load`` of a checkpoint, or a one-line ModelError: missing, or not something torch saved
    (a photo, an .onnx file, a truncated download)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("no such checkpoint file", path=path, hint=CHECKPOINT_HINT)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for truncated/corrupt/foreign files
        raise ModelError(
            "not a reidkit checkpoint (torch cannot load it)",
            path=path,
            hint=CHECKPOINT_HINT,
        ) from exc


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint file: a bare state dict or one under "model"/"state_dict"."""
    path = Path(path)
    blob = load_checkpoint_file(path)
    for key in ("model", "state_dict", "model_state"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
            break
    if not isinstance(blob, dict):
        raise ModelError("checkpoint holds no state dict", path=path)
    return {k.removeprefix("module."): v for k, v in blob.items() if isinstance(v, torch.Tensor)}


def detect_format(keys: list[str]) -> str:
    """Which training code wrote a state dict, from its key names."""
    if any(k.startswith("image_encoder.") for k in keys):
        return "clipreid"
    if any(k.startswith("visual.") for k in keys):
        return "clip"
    if any(k.startswith("backbone.") for k in keys) and any(k.startswith("heads.") for k in keys):
        return "fastreid"
    if any(k.startswith("backbone.") for k in keys):
        return "reidkit"
    return "torchreid"


def convert_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Rename an external state dict to ReidModel keys; classifiers and text towers are dropped.

    - torchreid (OSNet, ResNet): bare backbone keys (``conv1.conv.weight``, ``layer1.0.conv1.weight``,
      ``fc.0.weight``) -> ``backbone.*``; ``classifier.*`` dropped.
    - FastReID: ``backbone.*`` kept; ``heads.bottleneck.0.*`` (the BNNeck) -> ``neck.bn.*``;
      ``heads.pool_layer.p`` (GeM) -> ``backbone.global_pool.p``; heads' classifier weights dropped.
    - CLIP-ReID: ``image_encoder.*`` -> ``backbone.*``; its two necks ``bottleneck.*`` (768, on the
      class token) and ``bottleneck_proj.*`` (512, on the projection) are concatenated into
      ``neck.bn.*`` in the order the ViT backbone concatenates its outputs; prompt learner, text
      encoder, camera embeddings and classifiers dropped.
    - CLIP: ``visual.*`` -> ``backbone.*``.
    - reidkit: unchanged but for the classifier.
    """
    fmt = detect_format(list(state))
    out: dict[str, torch.Tensor] = {}
    if fmt == "torchreid":
        out = {f"backbone.{k}": v for k, v in state.items() if not k.startswith("classifier.")}
    elif fmt == "reidkit":
        out = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    elif fmt == "clip":
        out = {f"backbone.{k[7:]}": v for k, v in state.items() if k.startswith("visual.")}
    elif fmt == "fastreid":
        for k, v in state.items():
            if k.startswith("backbone."):
                out[k] = v
            elif k.startswith("heads.bottleneck.0."):
                out["neck.bn." + k[len("heads.bottleneck.0.") :]] = v
            elif k == "heads.pool_layer.p":
                out["backbone.global_pool.p"] = v.reshape(())
    else:  # clipreid
        for k, v in state.items():
            if k.startswith("image_encoder."):
                out["backbone." + k[len("image_encoder.") :]] = v
        for field in ("weight", "bias", "running_mean", "running_var"):
            parts = [state.get(f"bottleneck.{field}"), state.get(f"bottleneck_proj.{field}")]
            if all(p is not None for p in parts):
                out[f"neck.bn.{field}"] = torch.cat(parts)  # type: ignore[arg-type]
    return out, fmt


# Loaded even when shapes differ: the module resizes them in its load_state_dict pre-hook.
RESIZED_ON_LOAD = ("backbone.positional_embedding",)


def load_checkpoint_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint from any supported source; returns what was loaded and what was not.

    Tensors that have no counterpart or another shape are skipped and reported; at least one backbone
    tensor must load, else ModelError (wrong backbone or not a ReID checkpoint).
    """
    converted, fmt = convert_state_dict(read_state_dict(path))
    own = model.state_dict()
    loaded = {
        k: v for k, v in converted.items() if k in own and (own[k].shape == v.shape or k in RESIZED_ON_LOAD)
    }
    skipped = sorted(set(converted) - set(loaded))
    missing = sorted(k for k in own if k.startswith("backbone.") and k not in loaded)
    if not any(k.startswith("backbone.") for k in loaded):
        raise ModelError(
            f"no backbone weights in this {fmt}-style checkpoint fit the model",
            path=path,
            hint="pick the backbone the checkpoint was trained with",
        )
    model.load_state_dict(loaded, strict=False)
    log.info(
        "loaded %d tensors from %s (%s); %d skipped, %d backbone tensors left at init",
        len(loaded),
        path,
        fmt,
        len(skipped),
        len(missing),
    )
    return {"format": fmt, "loaded": sorted(loaded), "skipped": skipped, "missing_backbone": missing}


def _read_checkpoint(path: Path) -> dict[str, Any]:
    blob = load_checkpoint_file(path)
    if not isinstance(blob, dict) or not isinstance(blob.get("model"), dict):
        raise ModelError("not a reidkit checkpoint (no 'model' state dict)", path=path, hint=CHECKPOINT_HINT)
    return blob


def _model_config(blob: dict[str, Any], path: Path, overrides: dict[str, Any]) -> ModelConfig:
    import dataclasses

    from reidkit.models.config import ModelConfig

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
    return ModelConfig(**kwargs)


def checkpoint_model_config(path: str | Path) -> ModelConfig:
    """The model config a reidkit checkpoint was trained with, its ``pretrained`` weights included."""
    path = Path(path)
    return _model_config(_read_checkpoint(path), path, {})


def model_from_checkpoint(path: str | Path, **overrides: Any) -> tuple[ReidModel, dict[str, Any]]:
    """Rebuild an eval-mode ReidModel (no classifier) from a reidkit training checkpoint.

    The checkpoint is a dict with "model" (state dict) and "config" (the training config as a dict,
    its "model" entry a ModelConfig dict; "data" may hold the input height/width). Unknown config keys
    are ignored so checkpoints from newer or older versions still load; ``overrides`` (ModelConfig
    fields) win over the file. Returns the model and the config it was built from.
    """
    import dataclasses

    from reidkit.models.model import build_model

    path = Path(path)
    blob = _read_checkpoint(path)
    # the checkpoint holds the trained weights: do not load the pretrained ones under them
    cfg = _model_config(blob, path, {**overrides, "pretrained": ""})
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
