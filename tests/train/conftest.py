"""Fixtures for the training tests; the helpers themselves live in train_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import simple_evaluate_features, write_synthetic_cuhk03


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cuhk03(tmp_path_factory.mktemp("cuhk03"))


@pytest.fixture
def evaluator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use reidkit.evaluate.evaluate_features, or an R1/mAP stand-in until that package lands."""
    import reidkit.evaluate

    if not hasattr(reidkit.evaluate, "evaluate_features"):
        monkeypatch.setattr(reidkit.evaluate, "evaluate_features", simple_evaluate_features, raising=False)
