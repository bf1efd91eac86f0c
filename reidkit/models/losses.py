"""ReID losses and ``build_criterion``.

Every loss is built from a :class:`LossConfig` and called as ``loss(outputs, targets) -> Tensor`` on
the dict a training-mode :class:`~reidkit.models.model.ReidModel` returns: identity losses read
``outputs["logits"]``, metric losses read ``outputs["features"]`` (the pre-BNNeck feature, as in the
BNNeck recipe).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from reidkit.models.config import LossConfig
from reidkit.models.registry import LOSSES

Outputs = dict[str, torch.Tensor]
LossFn = Callable[[Outputs, torch.Tensor], torch.Tensor]


def euclidean_distances(x: torch.Tensor) -> torch.Tensor:
    squared = x.pow(2).sum(1, keepdim=True)
    d2 = squared + squared.t() - 2 * x @ x.t()
    return d2.clamp(min=1e-12).sqrt()


def batch_hard_triplet(features: torch.Tensor, targets: torch.Tensor, margin: float) -> torch.Tensor:
    """Hermans et al. 2017: per anchor the farthest positive and the closest negative in the batch.

    ``margin > 0``: hinge ``max(0, d_ap - d_an + margin)``; ``margin == 0``: soft margin
    ``log(1 + exp(d_ap - d_an))``. Anchors without a positive or a negative in the batch are skipped.
    """
    dist = euclidean_distances(features.float())
    same = targets[:, None] == targets[None, :]
    eye = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    positive = same & ~eye
    valid = positive.any(1) & (~same).any(1)
    if not valid.any():
        return features.sum() * 0.0
    hardest_positive = dist.masked_fill(~positive, float("-inf")).amax(1)
    hardest_negative = dist.masked_fill(same, float("inf")).amin(1)
    gap = (hardest_positive - hardest_negative)[valid]
    return F.softplus(gap).mean() if margin == 0 else F.relu(gap + margin).mean()


def pairwise_circle(features: torch.Tensor, targets: torch.Tensor, m: float, gamma: float) -> torch.Tensor:
    """Circle loss on all pairs of the batch (Sun et al., CVPR 2020), cosine similarities."""
    sim, positive, negative = _pair_masks(features, targets)
    alpha_p = (1 + m - sim.detach()).clamp(min=0)
    alpha_n = (sim.detach() + m).clamp(min=0)
    logit_p = -gamma * alpha_p * (sim - (1 - m))
    logit_n = gamma * alpha_n * (sim - m)
    return _pair_softplus(logit_p, logit_n, positive, negative)


def pairwise_cosface(features: torch.Tensor, targets: torch.Tensor, m: float, s: float) -> torch.Tensor:
    """CosFace in pair form: every negative similarity + m should stay below every positive one."""
    sim, positive, negative = _pair_masks(features, targets)
    return _pair_softplus(-s * sim, s * (sim + m), positive, negative)


def _pair_masks(features: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    normed = F.normalize(features.float(), dim=1)
    sim = normed @ normed.t()
    same = targets[:, None] == targets[None, :]
    eye = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    return sim, same & ~eye, ~same


def _pair_softplus(
    logit_p: torch.Tensor, logit_n: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
) -> torch.Tensor:
    # softplus(logsumexp over negatives + logsumexp over positives), per anchor having both.
    valid = positive.any(1) & negative.any(1)
    if not valid.any():
        return logit_p.sum() * 0.0
    lse_p = logit_p.masked_fill(~positive, float("-inf")).logsumexp(1)
    lse_n = logit_n.masked_fill(~negative, float("-inf")).logsumexp(1)
    return F.softplus(lse_p + lse_n)[valid].mean()


@LOSSES.register("ce")
def cross_entropy(cfg: LossConfig) -> LossFn:
    """Identity cross-entropy with label smoothing (``label_smoothing=0`` for plain CE)."""

    def loss(outputs: Outputs, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"].float(), targets, label_smoothing=cfg.label_smoothing)

    return loss


@LOSSES.register("triplet")
def triplet(cfg: LossConfig) -> LossFn:
    def loss(outputs: Outputs, targets: torch.Tensor) -> torch.Tensor:
        return batch_hard_triplet(outputs["features"], targets, cfg.triplet_margin)

    return loss


@LOSSES.register("circle")
def circle(cfg: LossConfig) -> LossFn:
    def loss(outputs: Outputs, targets: torch.Tensor) -> torch.Tensor:
        return pairwise_circle(outputs["features"], targets, cfg.circle_m, cfg.circle_gamma)

    return loss


@LOSSES.register("cosface")
def cosface(cfg: LossConfig) -> LossFn:
    def loss(outputs: Outputs, targets: torch.Tensor) -> torch.Tensor:
        return pairwise_cosface(outputs["features"], targets, cfg.cosface_m, cfg.cosface_s)

    return loss


class Criterion:
    """``sum(w_i * loss_i)``; returns the total and each weighted part as a float for logging."""

    def __init__(self, cfg: LossConfig) -> None:
        if len(cfg.names) != len(cfg.weights):
            raise ValueError(f"loss names {cfg.names} and weights {cfg.weights} differ in length")
        self.terms = [
            (name, weight, LOSSES.build(name, cfg))
            for name, weight in zip(cfg.names, cfg.weights, strict=True)
        ]

    def __call__(self, outputs: Outputs, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        total: torch.Tensor | None = None
        parts: dict[str, float] = {}
        for name, weight, fn in self.terms:
            value = weight * fn(outputs, targets)
            parts[name] = float(value.detach())
            total = value if total is None else total + value
        if total is None:
            raise ValueError("LossConfig.names is empty")
        return total, parts


def build_criterion(cfg: LossConfig) -> Criterion:
    for name in cfg.names:
        LOSSES.get(name)  # unknown names fail here, not at the first batch
    return Criterion(cfg)
