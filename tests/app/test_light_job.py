"""The app's adapt job where torch is not installed: the cameras' light alone (``reidkit adapt --light-only``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.index.library import Library
from tests.adapt.test_camera_light import lit_library
from tests.app.test_adapt_job import until_finished, worker_for


def test_without_torch_the_job_removes_the_cameras_light(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reidkit.app.jobs

    # As where torch is not installed (tests/adapt/test_camera_light.py runs the light's removal in a
    # process that never imports torch).
    monkeypatch.setattr(reidkit.app.jobs, "torch_installed", lambda: False)
    monkeypatch.setenv("REIDKIT_ADAPTED_DIR", str(tmp_path / "adapted"))
    root = lit_library(tmp_path)
    worker = worker_for(root, [])
    try:
        job = worker.submit("adapt", "adapt to this footage", path=str(root))
        until_finished(worker, job)
    finally:
        worker.stop()
    assert job.status == "done", job.message
    assert "the cameras' light removed" in job.message and "pip install 'reidkit[train]'" in job.message
    with Library.open(root) as lib:
        assert job.message.split()[2] == lib.model != "base" and lib.verdict_head is None


def test_photos_and_files_after_the_light_is_removed_use_the_librarys_new_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removing the cameras' light re-embeds the library with its own model: the running server's
    search and indexing follow it, without a restart (they refused every photo and file until one)."""
    from reidkit.adapt import AdaptConfig, remove_camera_light
    from reidkit.app.state import AppState, ServeConfig
    from reidkit.embed.factory import build_embedder

    monkeypatch.setenv("REIDKIT_ADAPTED_DIR", str(tmp_path / "adapted"))
    root = lit_library(tmp_path)
    state = AppState(ServeConfig(library=root), embedder=build_embedder(tmp_path / "base.onnx"))
    try:
        assert state.embedder().name == "base"
        light = remove_camera_light(root, config=AdaptConfig())
        assert light.model_name and light.model_name != "base"
        assert state.embedder().name == light.model_name  # searches and new files embed with it
    finally:
        state.close()
