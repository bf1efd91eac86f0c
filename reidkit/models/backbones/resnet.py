"""ResNet-50 and ResNet-50-IBN-a for ReID (last stride 1 by default, as in the BNNeck baseline).

Module names follow torchvision / the IBN-Net release (``layer3.2.bn1.IN.weight``), so torchreid,
FastReID and IBN-Net ImageNet checkpoints map onto them with at most a prefix change.

IBN-a (Pan et al., ECCV 2018): in stages 1-3 the first normalisation of every bottleneck normalises
half of the channels per instance (InstanceNorm, appearance-invariant) and half per batch (BatchNorm,
discriminative), which helps across cameras and domains at no cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reidkit.models.registry import BACKBONES


class IBN(nn.Module):
    """Half InstanceNorm, half BatchNorm over the channels."""

    def __init__(self, channels: int, in_ratio: float = 0.5) -> None:
        super().__init__()
        self.in_channels = int(channels * in_ratio)
        self.IN = nn.InstanceNorm2d(self.in_channels, affine=True)
        self.BN = nn.BatchNorm2d(channels - self.in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = torch.split(x, [self.in_channels, x.shape[1] - self.in_channels], dim=1)
        return torch.cat([self.IN(first.contiguous()), self.BN(second.contiguous())], dim=1)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, ibn: bool = False) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1: nn.Module = IBN(planes) if ibn else nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Bottleneck ResNet; ``forward(x)`` -> (B, 32 * width) pooled features (2048 for ResNet-50)."""

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        width: int = 64,
        last_stride: int = 1,
        ibn: bool = False,
        pooling: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.cin = width
        self.layer1 = self._stage(width, layers[0], 1, ibn)
        self.layer2 = self._stage(width * 2, layers[1], 2, ibn)
        self.layer3 = self._stage(width * 4, layers[2], 2, ibn)
        self.layer4 = self._stage(width * 8, layers[3], last_stride, False)  # IBN-a: none in stage 4
        self.global_pool = pooling if pooling is not None else nn.AdaptiveAvgPool2d(1)
        self.feature_dim = self.cin
        self._init_weights()

    def _stage(self, planes: int, n_blocks: int, stride: int, ibn: bool) -> nn.Sequential:
        blocks = [Bottleneck(self.cin, planes, stride, ibn)]
        self.cin = planes * Bottleneck.expansion
        blocks += [Bottleneck(self.cin, planes, 1, ibn) for _ in range(n_blocks - 1)]
        return nn.Sequential(*blocks)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_pool(self.forward_map(x)).flatten(1)


@BACKBONES.register("resnet50")
def resnet50(
    last_stride: int = 0,
    pooling: nn.Module | None = None,
    input_size: tuple[int, int] | None = None,
    **overrides: object,
) -> ResNet:
    kwargs: dict = {"last_stride": last_stride or 1, "pooling": pooling, **overrides}
    return ResNet(**kwargs)


@BACKBONES.register("resnet50_ibn_a")
def resnet50_ibn_a(
    last_stride: int = 0,
    pooling: nn.Module | None = None,
    input_size: tuple[int, int] | None = None,
    **overrides: object,
) -> ResNet:
    kwargs: dict = {"last_stride": last_stride or 1, "pooling": pooling, "ibn": True, **overrides}
    return ResNet(**kwargs)
