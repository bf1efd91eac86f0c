"""Blend a fine-tuned model with the weights its training started from (weight-space ensembling).

Fine-tuning a pretrained ReID model on one dataset teaches it that dataset's people and cameras, and
costs some of what the pretrained weights knew about everything else. Averaging the two sets of
weights, ``w * trained + (1 - w) * initial``, keeps most of the gain on the fine-tuning data and
gives back robustness elsewhere (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR
2022: WiSE-FT). It works because a fine-tuned model stays in the same basin as its initialisation,
so the straight line between them is made of good models; between two independently trained models
it would not be.

The initial weights are rebuilt from the checkpoint's own model config (its ONNX graph or
``pretrained`` file), so they must be a fixed function of that config. Two cases are refused rather
than blended with a guess: BatchNorm statistics re-estimated on the first training batch (they were
never stored), and layers initialised at random (building the model twice gives two different
initial weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from reidkit.core.errors import ModelError
from reidkit.models.config import ModelConfig

if TYPE_CHECKING:
    from reidkit.models.model import ReidModel


def build_initial_model(cfg: ModelConfig, *, where: str | Path) -> ReidModel:
    """The model ``cfg`` builds before any training step, checked to be the same on every build."""
    from reidkit.models.model import build_model

    builds = []
    for seed in (0, 1):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            builds.append(build_model(cfg, num_classes=0))
    first, second = builds
    if bool(first.bn_calibration_pending):
        raise ModelError(
            "cannot blend: the initial BatchNorm statistics were re-estimated on the first training "
            "batch and are not stored",
            path=where,
            hint="blend models whose pretrained weights carry their own statistics (e.g. backbone: onnx)",
        )
    other = second.state_dict()
    random = [k for k, v in first.state_dict().items() if not torch.equal(v, other[k])]
    if random:
        raise ModelError(
            f"cannot blend: {', '.join(random[:3])} start from random weights, so there are no "
            "initial weights to blend with",
            path=where,
            hint="blend models whose every layer starts from pretrained or fixed weights",
        )
    return first.eval()


def blend_weights(trained: torch.nn.Module, initial: torch.nn.Module, trained_weight: float) -> None:
    """Set every floating-point weight and statistic of ``trained`` to ``w * trained + (1 - w) *
    initial`` in place (integer buffers, such as BatchNorm's batch counter, stay the trained ones)."""
    if not 0.0 <= trained_weight <= 1.0:
        raise ModelError(f"the trained weights' share of a blend must be in [0, 1], not {trained_weight}")
    start = initial.state_dict()
    state = trained.state_dict()
    if set(start) != set(state):
        extra = sorted(set(start) ^ set(state))
        raise ModelError(f"cannot blend models of different layers: {', '.join(extra[:3])}")
    with torch.no_grad():
        for key, value in state.items():
            if value.is_floating_point():
                if value.shape != start[key].shape:
                    raise ModelError(
                        f"cannot blend: {key} is {tuple(value.shape)} and {tuple(start[key].shape)}"
                    )
                value.mul_(trained_weight).add_(start[key].to(value.dtype), alpha=1.0 - trained_weight)


def blend_checkpoint(checkpoint: str | Path, trained_weight: float) -> tuple[ReidModel, dict[str, Any]]:
    """The checkpoint's model (eval mode) blended with its initial weights, and its model config."""
    from reidkit.models.import_checkpoint import checkpoint_model_config, model_from_checkpoint

    model, cfg = model_from_checkpoint(checkpoint)
    initial = build_initial_model(checkpoint_model_config(checkpoint), where=checkpoint)
    blend_weights(model, initial, trained_weight)
    return model, cfg


__all__ = ["blend_checkpoint", "blend_weights", "build_initial_model"]
