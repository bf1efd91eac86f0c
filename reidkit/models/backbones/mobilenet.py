"""MobileNetV3-Small (Howard et al., ICCV 2019) as a fast CPU ReID backbone.

Inverted residual blocks (1x1 expand -> depthwise kxk -> optional squeeze-excite -> 1x1 project) with
hard-swish in the deeper half. ``width`` scales every stage (rounded to multiples of 8).
``last_stride=1`` keeps the last down-sampling block at stride 1 (2x finer final map).
There are no pretrained weights for it in this project: it trains from scratch or from a checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn

from reidkit.models.registry import BACKBONES

# kernel, expansion channels, output channels, squeeze-excite, hard-swish, stride (the paper's Table 2)
SMALL_BLOCKS = [
    (3, 16, 16, True, False, 2),
    (3, 72, 24, False, False, 2),
    (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2),
    (5, 240, 40, True, True, 1),
    (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1),
    (5, 144, 48, True, True, 1),
    (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1),
    (5, 576, 96, True, True, 1),
]


def divisible(value: float, by: int = 8) -> int:
    rounded = max(by, int(value + by / 2) // by * by)
    return rounded + by if rounded < 0.9 * value else rounded


def conv_bn_act(
    cin: int, cout: int, kernel: int, stride: int, groups: int, act: nn.Module | None
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act)
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = divisible(channels / 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, kernel: int, expand: int, cout: int, se: bool, hswish: bool, stride: int):
        super().__init__()
        act: type[nn.Module] = nn.Hardswish if hswish else nn.ReLU
        layers: list[nn.Module] = []
        if expand != cin:
            layers.append(conv_bn_act(cin, expand, 1, 1, 1, act()))
        layers.append(conv_bn_act(expand, expand, kernel, stride, expand, act()))
        if se:
            layers.append(SqueezeExcite(expand))
        layers.append(conv_bn_act(expand, cout, 1, 1, 1, None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


class MobileNetV3Small(nn.Module):
    """``forward(x)`` -> (B, feature_dim) pooled features (576 at width 1.0)."""

    def __init__(self, width: float = 1.0, last_stride: int = 2, pooling: nn.Module | None = None) -> None:
        super().__init__()
        stem = divisible(16 * width)
        layers: list[nn.Module] = [conv_bn_act(3, stem, 3, 2, 1, nn.Hardswish())]
        cin = stem
        last_down = max(i for i, b in enumerate(SMALL_BLOCKS) if b[5] == 2)
        for i, (kernel, expand, cout, se, hswish, stride) in enumerate(SMALL_BLOCKS):
            if i == last_down:
                stride = last_stride
            expand_c, out_c = divisible(expand * width), divisible(cout * width)
            layers.append(InvertedResidual(cin, kernel, expand_c, out_c, se, hswish, stride))
            cin = out_c
        self.feature_dim = divisible(576 * width)
        layers.append(conv_bn_act(cin, self.feature_dim, 1, 1, 1, nn.Hardswish()))
        self.features = nn.Sequential(*layers)
        self.global_pool = pooling if pooling is not None else nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_pool(self.features(x)).flatten(1)


@BACKBONES.register("mobilenetv3_small")
def mobilenetv3_small(
    last_stride: int = 0,
    pooling: nn.Module | None = None,
    input_size: tuple[int, int] | None = None,
    **overrides: object,
) -> MobileNetV3Small:
    kwargs: dict = {"last_stride": last_stride or 2, "pooling": pooling, **overrides}
    return MobileNetV3Small(**kwargs)
