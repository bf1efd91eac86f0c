"""Fixtures for the training tests; the helpers themselves live in train_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import write_synthetic_cuhk03


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cuhk03(tmp_path_factory.mktemp("cuhk03"))
