"""Pooling, embedding necks and identity classifiers.

Poolings map a (B, C, H, W) feature map to (B, C). Necks map the pooled feature to the embedding used
for retrieval; classifiers map the embedding to identity logits (training only). Margin classifiers
(``arc``, ``circle``) need the labels: pass ``targets`` to ``ReidModel.forward``; without them they
return plain scaled cosine logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reidkit.models.registry import CLASSIFIERS, HEADS, POOLINGS

# ---------------------------------------------------------------------------------------------- pooling


class GeneralizedMeanPooling(nn.Module):
    """GeM: (mean x^p)^(1/p) with a learnable p; p=1 is average pooling, p->inf max pooling."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1)
        return pooled.pow(1.0 / self.p)


POOLINGS.register("avg")(lambda: nn.AdaptiveAvgPool2d(1))
POOLINGS.register("max")(lambda: nn.AdaptiveMaxPool2d(1))
POOLINGS.register("gem")(GeneralizedMeanPooling)

# ------------------------------------------------------------------------------------------------ necks


class BNNeck(nn.Module):
    """BatchNorm on the pooled feature, its shift frozen at zero (Luo et al., "Bag of Tricks", 2019).

    Triplet-type losses see the feature before the BN, the classifier the one after; retrieval uses
    the one after. An optional bias-free linear layer first reduces the dimension.
    """

    def __init__(self, in_dim: int, embedding_dim: int = 0) -> None:
        super().__init__()
        self.out_dim = embedding_dim or in_dim
        self.reduce = nn.Linear(in_dim, self.out_dim, bias=False) if self.out_dim != in_dim else None
        self.bn = nn.BatchNorm1d(self.out_dim)
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)
        self.bn.bias.requires_grad_(False)
        if self.reduce is not None:
            nn.init.kaiming_normal_(self.reduce.weight, mode="fan_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reduce is not None:
            x = self.reduce(x)
        return self.bn(x)


class PlainNeck(nn.Module):
    """No normalisation: the embedding is the pooled feature (optionally linearly reduced)."""

    def __init__(self, in_dim: int, embedding_dim: int = 0) -> None:
        super().__init__()
        self.out_dim = embedding_dim or in_dim
        self.reduce = nn.Linear(in_dim, self.out_dim, bias=False) if self.out_dim != in_dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.reduce is None else self.reduce(x)


HEADS.register("bnneck")(BNNeck)
HEADS.register("none")(PlainNeck)

# ------------------------------------------------------------------------------------------ classifiers


class LinearClassifier(nn.Module):
    """Bias-free linear layer (the BNNeck baseline's classifier)."""

    def __init__(self, in_dim: int, num_classes: int, scale: float = 30.0, margin: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, num_classes, bias=False)
        nn.init.normal_(self.fc.weight, std=0.001)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(x)


class CosineClassifier(nn.Module):
    """``scale * cos(x, w_c)``: normalised features and class weights (NormFace)."""

    def __init__(self, in_dim: int, num_classes: int, scale: float = 30.0, margin: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_dim))
        nn.init.normal_(self.weight, std=0.01)
        self.scale = scale
        self.margin = margin

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        return self.scale * self.cosine(x)


class ArcFaceClassifier(CosineClassifier):
    """ArcFace: the target logit becomes ``scale * cos(theta + margin)`` (Deng et al., 2019)."""

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.cosine(x)
        if targets is None:
            return self.scale * cos
        cos_t = cos.gather(1, targets[:, None]).clamp(-1 + 1e-7, 1 - 1e-7)
        with_margin = cos_t * math.cos(self.margin) - torch.sqrt(1 - cos_t**2) * math.sin(self.margin)
        # Past theta = pi - m, cos(theta + m) stops decreasing; fall back to a linear penalty there.
        threshold = math.cos(math.pi - self.margin)
        with_margin = torch.where(
            cos_t > threshold, with_margin, cos_t - math.sin(math.pi - self.margin) * self.margin
        )
        return self.scale * cos.scatter(1, targets[:, None], with_margin)


class CircleClassifier(CosineClassifier):
    """Circle loss in its classification form (Sun et al., 2020): self-paced weights per logit."""

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.cosine(x)
        if targets is None:
            return self.scale * cos
        m = self.margin
        alpha_p = (1 + m - cos.detach()).clamp(min=0)
        alpha_n = (cos.detach() + m).clamp(min=0)
        positive = alpha_p * (cos - (1 - m))
        negative = alpha_n * (cos - m)
        is_target = F.one_hot(targets, cos.shape[1]).bool()
        return self.scale * torch.where(is_target, positive, negative)


CLASSIFIERS.register("linear")(LinearClassifier)
CLASSIFIERS.register("cosine")(CosineClassifier)
CLASSIFIERS.register("arc")(ArcFaceClassifier)
CLASSIFIERS.register("circle")(CircleClassifier)
