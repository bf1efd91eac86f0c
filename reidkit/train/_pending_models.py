"""Stand-ins for the ``reidkit.models`` config contracts until that package lands (see CONVENTIONS.md).

Removed once ``reidkit.models`` exports ``ModelConfig`` and ``LossConfig``; field names and defaults
follow the shared contract exactly so YAML files written today keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    backbone: str = "osnet_x0_25"
    pretrained: str = ""
    last_stride: int = 1
    pooling: str = "avg"
    neck: str = "bnneck"
    embedding_dim: int = 0
    classifier: str = "linear"
    scale: float = 30.0
    margin: float = 0.35


@dataclass
class LossConfig:
    names: list[str] = field(default_factory=lambda: ["ce", "triplet"])
    weights: list[float] = field(default_factory=lambda: [1.0, 1.0])
    label_smoothing: float = 0.1
    triplet_margin: float = 0.3
    circle_m: float = 0.25
    circle_gamma: float = 64.0
