"""Synthetic identities, a tiny stand-in ReID model and loss for the training tests.

The identities themselves are ``reidkit train --smoke``'s (:mod:`reidkit.train.smoke`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from reidkit.train.smoke import write_synthetic_cuhk03
from reidkit.zoo.registry import IMAGENET_MEAN, IMAGENET_STD, InputSpec

__all__ = ["write_synthetic_cuhk03"]


class TinyReid(nn.Module):
    """The ReidModel contract in miniature: train -> dict of features/embeddings/logits, eval -> embeddings."""

    def __init__(self, num_classes: int, dim: int = 16, dropout: float = 0.1):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, dim, 3, stride=2, padding=1),
            nn.BatchNorm2d(dim),
            nn.ReLU(),
            nn.Dropout(dropout),  # exercises the torch RNG, which an exact resume must restore
        )
        self.feature_dim = dim
        self.neck = nn.BatchNorm1d(dim)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        self.input_spec = InputSpec(64, 32, mean=IMAGENET_MEAN, std=IMAGENET_STD)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> Any:
        features = self.backbone(x).mean(dim=(2, 3))
        embeddings = self.neck(features)
        if not self.training:
            return embeddings
        return {"features": features, "embeddings": embeddings, "logits": self.classifier(embeddings)}


def tiny_model_factory(model_cfg: Any, num_classes: int) -> nn.Module:
    return TinyReid(num_classes)


def tiny_criterion_factory(loss_cfg: Any) -> Any:
    def criterion(
        outputs: dict[str, torch.Tensor], targets: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        ce = F.cross_entropy(outputs["logits"], targets, label_smoothing=0.1)
        return ce, {"ce": float(ce.detach())}

    return criterion


class NhwcTeacherNet(nn.Module):
    """A tiny teacher fed like the OpenVINO ReID models: (B, H, W, 3) BGR floats 0-255, no normalisation."""

    def __init__(self, dim: int = 24):
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Sequential(
            nn.Conv2d(3, 12, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(12, dim, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(0, 3, 1, 2) / 64.0 - 2.0)


def write_nhwc_teacher(path: Path, height: int = 64, width: int = 32) -> tuple[Path, nn.Module]:
    """Export :class:`NhwcTeacherNet` to ONNX without a sidecar (the embedder infers NHWC BGR 0-255)."""
    net = NhwcTeacherNet().eval()
    torch.onnx.export(
        net,
        (torch.zeros(1, height, width, 3),),
        str(path),
        input_names=["inputs"],
        output_names=["embeddings"],
        dynamic_axes={"inputs": {0: "batch"}, "embeddings": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    return path, net
