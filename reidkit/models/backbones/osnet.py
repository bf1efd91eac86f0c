"""OSNet: omni-scale feature learning for person re-identification (Zhou et al., ICCV 2019).

Each bottleneck (:class:`OSBlock`) runs four streams of 1, 2, 3 and 4 stacked lightweight 3x3
convolutions (receptive fields 3, 5, 7, 9) and mixes them with one channel gate shared by all streams,
so every block sees several spatial scales at once. The network is

    conv1 7x7/2 -> maxpool/2 -> conv2 (2 blocks + transition /2) -> conv3 (2 blocks + transition /2)
    -> conv4 (2 blocks) -> conv5 1x1 -> pool -> fc (Linear + BN + ReLU, 512-d)

Module names follow the torchreid model zoo (``conv2.0.conv2a.conv2``, ``fc.1`` ...) so its state
dicts load without renaming, and the forward pass computes in the same order as torchreid's, so the
ONNX exports of those weights map onto this module by graph order (see ``reidkit.models.import_onnx``).

``last_stride=1`` drops the average pooling of the conv3 transition (2x finer conv4/conv5 maps, about
4x their compute). Pretrained OSNet weights were learned with stride 2, the default here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reidkit.models.registry import BACKBONES

OSNET_WIDTHS: dict[str, tuple[int, int, int, int]] = {
    "osnet_x1_0": (64, 256, 384, 512),
    "osnet_x0_75": (48, 192, 288, 384),
    "osnet_x0_5": (32, 128, 192, 256),
    "osnet_x0_25": (16, 64, 96, 128),
}


class ConvLayer(nn.Module):
    """conv + BN + ReLU (the 7x7 stem)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Conv1x1(nn.Module):
    """1x1 conv + BN + ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Conv1x1Linear(nn.Module):
    """1x1 conv + BN, no activation (block output and shortcut projections)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class LightConv3x3(nn.Module):
    """Pointwise 1x1 then depthwise 3x3 (+ BN + ReLU): a 3x3 conv at a fraction of the cost."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, groups=cout, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


class ChannelGate(nn.Module):
    """Squeeze-excitation style gate; one instance is shared by the four streams of a block."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)
        self.gate_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.gate_activation(self.fc2(self.relu(self.fc1(self.global_avgpool(x)))))
        return x * weights


class OSBlock(nn.Module):
    """Omni-scale residual bottleneck: four streams of 1-4 light convs, unified by a shared gate."""

    def __init__(self, cin: int, cout: int, bottleneck_reduction: int = 4) -> None:
        super().__init__()
        mid = cout // bottleneck_reduction
        self.conv1 = Conv1x1(cin, mid)
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(2)))
        self.conv2c = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(3)))
        self.conv2d = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(4)))
        self.gate = ChannelGate(mid)
        self.conv3 = Conv1x1Linear(mid, cout)
        self.downsample = Conv1x1Linear(cin, cout) if cin != cout else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        streams = (self.conv2a(x1), self.conv2b(x1), self.conv2c(x1), self.conv2d(x1))
        mixed = self.gate(streams[0]) + self.gate(streams[1]) + self.gate(streams[2]) + self.gate(streams[3])
        out = self.conv3(mixed)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _transition(channels: int, downsample: bool) -> nn.Sequential:
    # Index 1 stays a module (Identity) when not down-sampling so state-dict keys never shift.
    pool: nn.Module = nn.AvgPool2d(2, stride=2) if downsample else nn.Identity()
    return nn.Sequential(Conv1x1(channels, channels), pool)


class OSNet(nn.Module):
    """OSNet backbone. ``forward(x)`` -> (B, feature_dim) pooled and projected features."""

    def __init__(
        self,
        channels: Sequence[int] = OSNET_WIDTHS["osnet_x1_0"],
        blocks_per_stage: Sequence[int] = (2, 2, 2),
        feature_dim: int = 512,
        last_stride: int = 2,
        pooling: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if last_stride not in (1, 2):
            raise ValueError(f"OSNet last_stride must be 1 or 2, got {last_stride}")
        c0, c1, c2, c3 = channels
        self.conv1 = ConvLayer(3, c0, 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = self._stage(c0, c1, blocks_per_stage[0], transition=True, downsample=True)
        self.conv3 = self._stage(c1, c2, blocks_per_stage[1], transition=True, downsample=last_stride == 2)
        self.conv4 = self._stage(c2, c3, blocks_per_stage[2], transition=False, downsample=False)
        self.conv5 = Conv1x1(c3, c3)
        self.global_avgpool = pooling if pooling is not None else nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(c3, feature_dim), nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True)
        )
        self.feature_dim = feature_dim
        self.map_channels = c3
        self._init_weights()

    @staticmethod
    def _stage(cin: int, cout: int, n_blocks: int, *, transition: bool, downsample: bool) -> nn.Sequential:
        layers: list[nn.Module] = [OSBlock(cin, cout)]
        layers += [OSBlock(cout, cout) for _ in range(n_blocks - 1)]
        if transition:
            layers.append(_transition(cout, downsample))
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H/16, W/16) (H/8 with last_stride=1)."""
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.conv4(self.conv3(self.conv2(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.global_avgpool(self.forward_map(x)).flatten(1)
        return self.fc(pooled)


def _register(name: str, widths: tuple[int, int, int, int]) -> None:
    def build(
        last_stride: int = 0,
        pooling: nn.Module | None = None,
        input_size: tuple[int, int] | None = None,
        **overrides: object,
    ) -> OSNet:
        kwargs: dict = {"channels": widths, "last_stride": last_stride or 2, "pooling": pooling}
        kwargs.update(overrides)  # tests shrink channels / feature_dim
        return OSNet(**kwargs)

    build.__doc__ = f"OSNet with stage widths {widths} and 512-d features."
    BACKBONES.register(name)(build)


for _name, _widths in OSNET_WIDTHS.items():
    _register(_name, _widths)
