"""The distillation terms: what they measure, their registry entries, and DistilledCriterion."""

from __future__ import annotations

import pytest
import torch

from reidkit.models import LOSSES, LossConfig, build_criterion
from reidkit.models.distill import DistilledCriterion, similarity_distillation


def test_similarity_term_ignores_dimension_and_rotation_but_not_structure() -> None:
    torch.manual_seed(0)
    student = torch.randn(8, 16)
    rotation, _ = torch.linalg.qr(torch.randn(32, 32))
    teacher = torch.cat([student, torch.zeros(8, 16)], dim=1) @ rotation * 3.0  # 32-d, same geometry
    assert similarity_distillation(student, teacher) < 1e-10
    assert similarity_distillation(student, torch.randn(8, 32)) > 0.05


def test_similarity_term_can_be_minimised_through_a_student() -> None:
    torch.manual_seed(0)
    inputs, teacher = torch.randn(16, 10), torch.randn(16, 6)
    student = torch.nn.Linear(10, 4)
    optimiser = torch.optim.Adam(student.parameters(), lr=0.05)
    first = float(similarity_distillation(student(inputs), teacher).detach())
    for _ in range(200):
        loss = similarity_distillation(student(inputs), teacher)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert float(loss.detach()) < 0.5 * first


def test_distilled_criterion_adds_the_weighted_term_and_logs_it() -> None:
    torch.manual_seed(0)
    outputs = {
        "features": torch.randn(8, 16, requires_grad=True),
        "embeddings": torch.randn(8, 16),
        "logits": torch.randn(8, 4),
        "teacher": torch.randn(8, 24),
    }
    targets = torch.arange(4).repeat_interleave(2)
    base = build_criterion(LossConfig())
    base_total, _ = base(outputs, targets)
    criterion = DistilledCriterion(base, "similarity", 2.0)
    total, parts = criterion(outputs, targets)
    expected = 2.0 * float(similarity_distillation(outputs["features"], outputs["teacher"]).detach())
    assert parts["distill_similarity"] == pytest.approx(expected, rel=1e-5)
    assert float(total.detach()) == pytest.approx(float(base_total.detach()) + expected, rel=1e-5)
    assert not list(criterion.parameters())

    cosine = DistilledCriterion(base, "cosine", 1.0, student_dim=16, teacher_dim=24)
    assert [p.shape for p in cosine.parameters()] == [(24, 16)]
    cosine(outputs, targets)[0].backward()
    assert outputs["features"].grad is not None


def test_registry_entries_and_errors() -> None:
    assert {"distill_similarity", "distill_cosine"} <= set(LOSSES.names())
    with pytest.raises(ValueError, match=r"unknown distill\.kind"):
        DistilledCriterion(build_criterion(LossConfig()), "kl", 1.0)
    with pytest.raises(ValueError, match="student_dim"):
        LOSSES.build("distill_cosine", LossConfig())
    listed = build_criterion(LossConfig(names=["distill_similarity"], weights=[1.0]))
    with pytest.raises(KeyError, match=r"distill\.teacher"):
        listed({"features": torch.randn(4, 8)}, torch.zeros(4, dtype=torch.long))
