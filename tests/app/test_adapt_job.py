"""Adapting the model to the library from the app: a job of the library's writer (reidkit adapt), with
progress, cancel, and plain words when the library is too small."""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path

import pytest

from reidkit.app.jobs import Job, LibraryWorker
from reidkit.index.library import Library
from tests.adapt.test_adapted_models import synthetic_library
from tests.app.conftest import Running, wait

pytest.importorskip("torch")


def test_adapting_an_empty_or_small_library_says_what_to_do(fresh: Running, running: Running) -> None:
    with fresh.client() as client:
        refused = client.post("/api/library/adapt")
        assert refused.status_code == 409 and "add footage" in refused.json()["error"]
    with running.client() as client:
        job = client.post("/api/library/adapt").json()["jobs"][0]
        assert job["kind"] == "adapt" and "path" not in job
        done = wait(client, job["id"])
        assert done["status"] == "failed"
        assert "adaptation needs at least 20" in done["message"] and "index more footage" in done["message"]
        assert client.get("/api/status").json()["verdict_model"] is None


@pytest.fixture
def small_adapt_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The synthetic library's 18 tracklets are enough with smaller minimums (and no media to re-read)."""
    import reidkit.adapt

    monkeypatch.setenv("REIDKIT_ADAPTED_DIR", str(tmp_path / "adapted"))
    small = functools.partial(
        reidkit.adapt.AdaptConfig,
        epochs=4,
        epochs_per_round=2,
        crops_per_tracklet=0,
        min_tracklets=10,
        min_impostor_pairs=50,
    )
    monkeypatch.setattr(reidkit.adapt, "AdaptConfig", small)


def worker_for(root: Path, finished: list[Job]) -> LibraryWorker:
    return LibraryWorker(root, embedder=lambda: None, on_done=finished.append)


def until_finished(worker: LibraryWorker, job: Job, timeout: float = 120) -> list[tuple[str, float]]:
    seen, version, deadline = [], worker.version, time.monotonic() + timeout
    while job.finished is None and time.monotonic() < deadline:
        version = worker.wait_change(version, 0.5)
        seen.append((job.phase, job.progress))
    assert job.finished is not None, "the adapt job did not finish"
    return seen


def test_the_writer_adapts_the_library_with_progress(tmp_path: Path, small_adapt_settings: None) -> None:
    root = synthetic_library(tmp_path)
    finished: list[Job] = []
    worker = worker_for(root, finished)
    try:
        job = worker.submit("adapt", "adapt to this footage", path=str(root))
        seen = until_finished(worker, job)
    finally:
        worker.stop()
    assert job.status == "done", job.message
    assert job.message.startswith("verdicts judged by base-adapted-") and finished == [job]
    assert any(phase.startswith("round 1") for phase, _ in seen)
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and job.progress == 1.0
    with Library.open(root) as lib:
        head = lib.verdict_head
        assert head is not None and job.message.split()[3] == head.model and lib.model == "base"


def test_a_cancelled_adapt_leaves_the_library_as_it_was(tmp_path: Path, small_adapt_settings: None) -> None:
    import reidkit.adapt.adapt as adapt_module

    root = synthetic_library(tmp_path)
    training = threading.Event()
    original = adapt_module.pseudo_labels

    def slow_labels(*args, **kwargs):  # type: ignore[no-untyped-def]
        training.set()
        time.sleep(0.3)  # a round long enough to cancel in
        return original(*args, **kwargs)

    adapt_module.pseudo_labels = slow_labels
    worker = worker_for(root, [])
    try:
        job = worker.submit("adapt", "adapt to this footage", path=str(root))
        assert training.wait(60)
        worker.cancel(job.id)
        until_finished(worker, job)
    finally:
        adapt_module.pseudo_labels = original
        worker.stop()
    assert job.status == "cancelled" and job.message == "cancelled; the library is as it was"
    with Library.open(root) as lib:
        assert lib.verdict_head is None and lib.model == "base"
