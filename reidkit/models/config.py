"""Model and loss configs (plain dataclasses, no torch: a training config can be read without it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    """What ``build_model`` builds.

    ``last_stride``: stride of the backbone's last down-sampling stage. ``1`` keeps a 2x finer final
    feature map (the usual ReID choice for ResNet); ``0`` (default) means the backbone's own default:
    1 for ResNet, 2 for OSNet (its pretrained weights were learned with 2, and 1 costs 4x in the last
    stages). ViT ignores it.
    ``pretrained``: ``.onnx`` (weights imported by graph order and shape, see ``import_onnx``) or a
    ``.pth``/``.pt`` state dict (torchreid / FastReID / CLIP-ReID / reidkit keys, see
    ``import_checkpoint``). The classifier is always new.
    ``graph``: with ``backbone: onnx``, the ONNX model (zoo name or path) whose graph *is* the backbone,
    weights included (``reidkit.models.backbones.onnx_graph``); checkpoints rebuild it from this file.
    """

    backbone: str = "osnet_x0_25"
    pretrained: str = ""
    graph: str = ""  # backbone "onnx" only
    last_stride: int = 0  # 0 = backbone default (see above)
    pooling: str = "avg"  # avg | max | gem
    neck: str = "bnneck"  # bnneck | none
    embedding_dim: int = 0  # 0 = the backbone's feature dim; otherwise a linear reduction before the neck
    classifier: str = "linear"  # linear | cosine | arc | circle
    scale: float = 30.0  # logit scale of the cosine-type classifiers
    margin: float = 0.35  # margin of arc / circle classifiers
    height: int = 256
    width: int = 128


@dataclass
class LossConfig:
    """What ``build_criterion`` combines: ``sum(w * loss)`` over ``names``."""

    names: list[str] = field(default_factory=lambda: ["ce", "triplet"])
    weights: list[float] = field(default_factory=lambda: [1.0, 1.0])
    label_smoothing: float = 0.1
    triplet_margin: float = 0.3  # 0 = soft margin (softplus)
    circle_m: float = 0.25
    circle_gamma: float = 64.0
    cosface_m: float = 0.25
    cosface_s: float = 64.0
