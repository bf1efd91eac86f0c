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
