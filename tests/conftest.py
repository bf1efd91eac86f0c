"""Shared fixtures. Real-data tests use ../shared (beside the checkout) and skip when it is absent.

``REIDKIT_SHARED`` points at another folder; to run the suite as a machine without ../shared does::

    REIDKIT_SHARED=/nonexistent REIDKIT_MODEL_DIR=/tmp/empty XDG_CACHE_HOME=/tmp/empty-cache pytest -q
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# reidkit.media quiets OpenCV's FFmpeg logging; that only works before OpenCV first loads FFmpeg, so it
# happens here, before any test (e.g. tests/synthetic.py's write_video) can load it in another order.
import reidkit.media  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared")).resolve()
MODEL_DIR = SHARED / "models"


def shared_path(*parts: str) -> Path:
    """A path inside ../shared, or skip the test with a clear reason when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (real third-party data in ../shared beside the checkout)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _model_dir_env() -> None:
    # Point the model registry at ../shared/models when present, as the Makefile does.
    if MODEL_DIR.is_dir() and "REIDKIT_MODEL_DIR" not in os.environ:
        os.environ["REIDKIT_MODEL_DIR"] = str(MODEL_DIR)


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"needs {SHARED} (real third-party data beside the checkout)")
    return SHARED
