from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reidkit.models import LossConfig, build_criterion
from reidkit.models.losses import batch_hard_triplet, pairwise_circle, pairwise_cosface


def test_batch_hard_triplet_by_hand():
    # 1-d features: ids 0 at {0, 1}, id 1 at {3, 10}.
    f = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    y = torch.tensor([0, 0, 1, 1])
    # hardest positive / negative per anchor: (1,3) (1,2) (7,2) (7,9)
    expected = F.relu(torch.tensor([1 - 3, 1 - 2, 7 - 2, 7 - 9]) + 0.3).mean()
    assert torch.isclose(batch_hard_triplet(f, y, 0.3), expected, atol=1e-5)
    soft = F.softplus(torch.tensor([1.0 - 3, 1 - 2, 7 - 2, 7 - 9])).mean()
    assert torch.isclose(batch_hard_triplet(f, y, 0.0), soft, atol=1e-5)


def test_triplet_without_positives_is_zero_and_differentiable():
    f = torch.randn(3, 4, requires_grad=True)
    loss = batch_hard_triplet(f, torch.tensor([0, 1, 2]), 0.3)
    loss.backward()
    assert loss.item() == 0.0


@pytest.mark.parametrize(
    "fn", [lambda f, y: pairwise_circle(f, y, 0.25, 64), lambda f, y: pairwise_cosface(f, y, 0.25, 64)]
)
def test_pair_losses_prefer_separated_classes(fn):
    y = torch.tensor([0, 0, 1, 1])
    separated = torch.tensor([[1.0, 0], [0.99, 0.1], [0, 1.0], [0.1, 0.99]])
    mixed = torch.tensor([[1.0, 0], [0, 1.0], [0.99, 0.1], [0.1, 0.99]])
    assert fn(separated, y) < fn(mixed, y)


def test_criterion_combines_weighted_parts():
    cfg = LossConfig(names=["ce", "triplet"], weights=[1.0, 2.0], label_smoothing=0.0)
    criterion = build_criterion(cfg)
    logits = torch.randn(4, 3, requires_grad=True)
    features = torch.randn(4, 8, requires_grad=True)
    y = torch.tensor([0, 0, 2, 2])
    total, parts = criterion({"logits": logits, "features": features}, y)
    assert set(parts) == {"ce", "triplet"}
    assert parts["ce"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert total.item() == pytest.approx(parts["ce"] + parts["triplet"], rel=1e-5)
    total.backward()
    assert logits.grad is not None and features.grad is not None


def test_label_smoothing_changes_ce():
    out = {"logits": torch.tensor([[5.0, 0.0, 0.0]])}
    y = torch.tensor([0])
    plain = build_criterion(LossConfig(names=["ce"], weights=[1.0], label_smoothing=0.0))(out, y)[0]
    smooth = build_criterion(LossConfig(names=["ce"], weights=[1.0], label_smoothing=0.1))(out, y)[0]
    assert smooth > plain


def test_unknown_loss_fails_at_build():
    with pytest.raises(KeyError, match="triplet"):
        build_criterion(LossConfig(names=["nope"], weights=[1.0]))
