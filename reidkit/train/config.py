"""The training configuration: one typed dataclass tree, loaded from YAML with ``_BASE_`` and overrides.

    cfg = load_train_config("configs/cuhk03_osnet_x0_25.yaml", ["optim.lr=1e-4", "data.p=8"])

Dataset *locations* are not part of the config: they come from ``--root name=DIR`` or the environment
at run time (see :func:`reidkit.train.data.resolve_root`), so one YAML works on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reidkit.core.config import ConfigKeyError, load_config
from reidkit.core.errors import ReidkitError
from reidkit.models.config import LossConfig, ModelConfig


def check_at_least(key: str, value: float, low: float, *, inclusive: bool = True) -> None:
    """ReidkitError naming config ``key`` unless ``value >= low`` (``> low`` when not ``inclusive``)."""
    if value >= low if inclusive else value > low:
        return
    bound = f">= {low}" if inclusive else f"> {low}"
    raise ConfigKeyError(f"config key {key!r} must be {bound}, got {value!r}", key=key)


def check_within(key: str, value: float, low: float, high: float) -> None:
    """ReidkitError naming config ``key`` unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise ConfigKeyError(f"config key {key!r} must be in [{low}, {high}], got {value!r}", key=key)


@dataclass
class DataConfig:
    # Dataset names from the reidkit.data registry. Several train sets are concatenated (identities kept
    # apart by pid offsets); every test set is evaluated on its own.
    train: list[str] = field(default_factory=lambda: ["cuhk03"])
    test: list[str] = field(default_factory=lambda: ["cuhk03"])
    # Extra keyword options per dataset, e.g. {cuhk03: {protocol: b2a}}.
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    height: int = 256
    width: int = 128
    p: int = 16  # identities per batch
    k: int = 4  # images per identity
    workers: int = 2
    test_batch_size: int = 128

    def __post_init__(self) -> None:
        # Checked when the config is built: a zero-sized batch or input otherwise fails deep in a
        # DataLoader (or trains nothing) long after the run started.
        for key in ("height", "width", "p", "k", "test_batch_size"):
            check_at_least(f"data.{key}", getattr(self, key), 1)
        check_at_least("data.workers", self.workers, 0)


@dataclass
class AugmentConfig:
    """Probabilities (0 = off) and strengths of the train-time augmentations, applied in this order."""

    # What a video detector's crop does to a person that a dataset's crop does not (0 = off): its box
    # sits elsewhere on the body, the camera sees them smaller, the codec smears them, the lens blurs.
    box_jitter: float = 0.0  # chance of moving each box edge by up to box_jitter_extent of the box
    box_jitter_extent: float = 0.1
    downscale: float = 0.0  # chance of shrinking by a factor in [downscale_min, 1] and back
    downscale_min: float = 0.4
    compress: float = 0.0  # chance of a JPEG round trip at a quality in compress_quality
    compress_quality: tuple[int, int] = (20, 70)
    blur: float = 0.0  # chance of a Gaussian blur with sigma in blur_sigma (pixels at the input size)
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    autoaugment: float = 0.0  # chance of applying a random 2-op policy (AutoAugment/RandAugment-style)
    autoaugment_magnitude: float = 0.5  # 0-1 strength of each policy op
    flip: float = 0.5
    pad: int = 10  # pixels of zero padding before the random crop back to the input size
    crop: float = 1.0  # chance of the pad + random crop
    # Another camera's light (0 = off): each colour channel scaled by its own gain (white balance),
    # gains drawn log-uniformly in [1 / (1 + lighting_tint), 1 + lighting_tint], then a gamma curve.
    lighting: float = 0.0
    lighting_tint: float = 0.3
    lighting_gamma: tuple[float, float] = (0.7, 1.4)
    color_jitter: float = 0.0
    brightness: float = 0.2
    contrast: float = 0.15
    saturation: float = 0.0
    hue: float = 0.0
    random_patch: float = 0.0  # paste a patch of the image over another place (occlusion)
    erasing: float = 0.5  # random erasing, filled with the ImageNet mean colour
    erasing_area: tuple[float, float] = (0.02, 0.4)
    erasing_aspect: float = 0.3  # aspect ratios drawn log-uniformly in [a, 1/a]

    def __post_init__(self) -> None:
        if not 0.0 <= self.box_jitter_extent < 0.5:  # at 0.5 two edges may meet: nothing left to crop
            raise ReidkitError(f"augment.box_jitter_extent must be in [0, 0.5), not {self.box_jitter_extent}")
        low, high = self.lighting_gamma
        if not (self.lighting_tint >= 0 and 0 < low <= high):
            raise ReidkitError(
                "augment.lighting_tint must be >= 0 and augment.lighting_gamma a range of positive "
                f"numbers, not {self.lighting_tint} and {self.lighting_gamma}"
            )


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 3.5e-4
    weight_decay: float = 5e-4
    weight_decay_bias: float = 5e-4
    bias_lr_factor: float = 1.0
    momentum: float = 0.9  # sgd only
    epochs: int = 60
    warmup_epochs: float = 5.0  # linear warm-up from warmup_factor * lr, per iteration
    warmup_factor: float = 0.01
    cosine: bool = True  # cosine decay per iteration after warm-up (else constant lr)
    min_lr_factor: float = 0.01  # cosine ends at min_lr_factor * lr
    freeze_backbone_epochs: int = 0  # train only the neck/head for the first N epochs
    grad_clip: float = 0.0  # max gradient L2 norm; 0 = off

    def __post_init__(self) -> None:
        # epochs < 1 trains nothing and writes no checkpoint, yet the run used to end as "done".
        check_at_least("optim.epochs", self.epochs, 1)
        check_at_least("optim.lr", self.lr, 0, inclusive=False)
        check_at_least("optim.bias_lr_factor", self.bias_lr_factor, 0, inclusive=False)
        for key in (
            "weight_decay",
            "weight_decay_bias",
            "warmup_epochs",
            "freeze_backbone_epochs",
            "grad_clip",
        ):
            check_at_least(f"optim.{key}", getattr(self, key), 0)
        check_within("optim.momentum", self.momentum, 0, 1)
        check_within("optim.min_lr_factor", self.min_lr_factor, 0, 1)
        check_within("optim.warmup_factor", self.warmup_factor, 0, 1)


@dataclass
class DistillConfig:
    """Knowledge distillation from a frozen teacher (see ``reidkit.models.distill``); off while empty."""

    teacher: str = ""  # registry name (person-reidentification-retail-0287), .onnx file or .pth checkpoint
    kind: str = "similarity"  # similarity (batch similarity matrices) | cosine (learned projection)
    weight: float = 1.0  # the term is added to the losses in `loss` with this weight
    threads: int = 0  # onnxruntime threads for an ONNX teacher; 0 = $REIDKIT_THREADS or all cores


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    amp: bool = True  # float16 autocast + grad scaling on CUDA; ignored on CPU
    cpu_bf16: bool = False  # bfloat16 autocast on CPU (fast only on CPUs with AVX512-BF16/AMX)
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = $REIDKIT_THREADS or torch's default
    eval_period: int = 10  # evaluate every N epochs (and after the last); 0 = only after the last
    checkpoint_period: int = 1  # write last.pth every N epochs (and after the last)
    log_period: int = 20  # iterations between log lines / TensorBoard points
    output: str = "runs/default"

    def __post_init__(self) -> None:
        for key in ("threads", "eval_period", "checkpoint_period", "log_period"):
            check_at_least(key, getattr(self, key), 0)


def load_train_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    return load_config(TrainConfig, path, overrides)
