"""``ReidModel`` (backbone -> neck -> classifier) and ``build_model``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from reidkit.core.errors import ModelError
from reidkit.core.log import get_logger
from reidkit.models.config import ModelConfig
from reidkit.models.registry import BACKBONES, CLASSIFIERS, HEADS, POOLINGS
from reidkit.zoo.registry import IMAGENET_MEAN, IMAGENET_STD, InputSpec

log = get_logger(__name__)


class ReidModel(nn.Module):
    """A ReID network.

    train mode: ``forward(x, targets=None)`` -> ``{"features": (B, D) pre-neck, "embeddings": (B, E)
    post-neck, "logits": (B, C)}`` (no "logits" when built with ``num_classes=0``). Pass ``targets``
    so margin classifiers (arc, circle) can apply their margin.
    eval mode: ``forward(x)`` -> embeddings (B, E), not normalised.
    """

    bn_calibration_pending: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        neck: nn.Module,
        classifier: nn.Module | None,
        input_spec: InputSpec,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.classifier = classifier
        self.input_spec = input_spec
        self.feature_dim = int(backbone.feature_dim)  # type: ignore[arg-type]
        self.embedding_dim = int(neck.out_dim)  # type: ignore[arg-type]
        # Set when weights came with folded BatchNorms: the first training batch re-estimates them.
        self.register_buffer("bn_calibration_pending", torch.tensor(False))

    def forward(
        self, x: torch.Tensor, targets: torch.Tensor | None = None
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        if self.training and bool(self.bn_calibration_pending):
            self.calibrate_batchnorm(x)
        features = self.backbone(x)
        embeddings = self.neck(features)
        if not self.training:
            return embeddings
        out = {"features": features, "embeddings": embeddings}
        if self.classifier is not None:
            out["logits"] = self.classifier(embeddings, targets)
        return out

    def calibrate_batchnorm(self, images: torch.Tensor) -> None:
        """Fit the backbone's BatchNorm statistics to ``images`` keeping its eval output (see
        ``import_onnx.recalibrate_batchnorm``). Call it before wrapping the model in DDP."""
        from reidkit.models.import_onnx import recalibrate_batchnorm

        n = recalibrate_batchnorm(self.backbone, images)
        self.bn_calibration_pending.fill_(False)
        log.info("re-estimated %d backbone BatchNorms on a batch of %d images", n, len(images))


def build_model(cfg: ModelConfig, num_classes: int) -> ReidModel:
    """Build the model ``cfg`` describes; ``num_classes=0`` builds it without a classifier."""
    pooling = POOLINGS.build(cfg.pooling)
    graph = {"graph": cfg.graph} if cfg.backbone == "onnx" else {}
    if cfg.graph and not graph:
        raise ModelError(f"model.graph is only used by backbone 'onnx', not {cfg.backbone!r}")
    backbone = BACKBONES.build(
        cfg.backbone,
        last_stride=cfg.last_stride,
        pooling=pooling,
        input_size=(cfg.height, cfg.width),
        **graph,
    )
    neck = HEADS.build(cfg.neck, backbone.feature_dim, cfg.embedding_dim)
    classifier = None
    if num_classes > 0:
        classifier = CLASSIFIERS.build(
            cfg.classifier, neck.out_dim, num_classes, scale=cfg.scale, margin=cfg.margin
        )
    mean = getattr(backbone, "input_mean", IMAGENET_MEAN)
    std = getattr(backbone, "input_std", IMAGENET_STD)
    spec = InputSpec(cfg.height, cfg.width, mean=mean, std=std)
    model = ReidModel(backbone, neck, classifier, spec)
    if cfg.pretrained:
        load_pretrained(model, cfg.pretrained)
    return model


def load_pretrained(model: ReidModel, path: str | Path) -> None:
    """Load backbone weights from an ONNX export or a checkpoint (.pth/.pt/.pth.tar)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError("pretrained weights not found", path=path, hint="fix ModelConfig.pretrained")
    spec = model.input_spec
    example = torch.zeros(2, 3, spec.height, spec.width)
    if path.suffix == ".onnx":
        from reidkit.models.import_onnx import load_onnx_weights

        folded = load_onnx_weights(model.backbone, path, example)
        if folded:
            model.bn_calibration_pending.fill_(True)
    else:
        from reidkit.models.import_checkpoint import load_checkpoint_weights

        load_checkpoint_weights(model, path)
