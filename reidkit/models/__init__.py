"""reidkit.models: backbones, necks, classifiers and losses for training ReID models (needs torch).

Typical use: ``model = build_model(ModelConfig(pretrained="osnet_x0_25_msmt17.onnx"), num_classes)``,
``criterion = build_criterion(LossConfig())``, then per batch
``total, parts = criterion(model(images, labels), labels)``.
"""

from reidkit.models import backbones as _backbones  # noqa: F401  (fills BACKBONES)
from reidkit.models import distill as _distill  # noqa: F401  (fills LOSSES with distill_*)
from reidkit.models import heads as _heads  # noqa: F401  (fills POOLINGS / HEADS / CLASSIFIERS)
from reidkit.models.config import LossConfig, ModelConfig
from reidkit.models.losses import build_criterion
from reidkit.models.model import ReidModel, build_model
from reidkit.models.registry import BACKBONES, CLASSIFIERS, HEADS, LOSSES, POOLINGS

__all__ = [
    "BACKBONES",
    "CLASSIFIERS",
    "HEADS",
    "LOSSES",
    "POOLINGS",
    "LossConfig",
    "ModelConfig",
    "ReidModel",
    "build_criterion",
    "build_model",
]
