"""A running `reidkit serve` app on loopback over a small real library, with model-free parts.

The library is indexed from a synthetic clip (tests/index/test_indexer.py's coloured walkers) with a
colour-blob detector and a colour embedder, so the app's routes are tested without model files.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

for _module in ("fastapi", "uvicorn", "httpx", "multipart"):
    pytest.importorskip(_module, reason="the web app needs its extra: pip install -e '.[app,dev]'")

import httpx  # noqa: E402

from reidkit.app.server import Guard, allowed_hosts, bind, create_app  # noqa: E402
from reidkit.app.state import AppState, ServeConfig  # noqa: E402
from reidkit.index.indexer import index_media  # noqa: E402
from tests.index.test_indexer import (  # noqa: E402
    BLUE,
    RED,
    BlobDetector,
    ColourEmbedder,
    write_scene,
    write_still,
)


@dataclass
class Running:
    url: str
    state: AppState
    media: Path  # the folder the library was indexed from (an allowed root)

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)


def person_jpeg(colour: tuple[int, int, int]) -> bytes:
    """A person-shaped crop (tall, one colour) on which the colour embedder sees ``colour``."""
    return cv2.imencode(".jpg", np.full((80, 30, 3), colour, np.uint8))[1].tobytes()


def build_library(root: Path, media: Path) -> None:
    media.mkdir(parents=True, exist_ok=True)
    write_scene(media / "walk.mp4", n_frames=60)
    write_still(media / "still.png")
    index_media(media, root, detector=BlobDetector(), model=ColourEmbedder(), stride=1)


def start(config: ServeConfig, **parts: object) -> tuple[AppState, str, object]:
    import uvicorn

    state = AppState(config, **parts)  # type: ignore[arg-type]
    sock = bind(config.host, 0)
    server = uvicorn.Server(
        uvicorn.Config(
            Guard(create_app(state), state, allowed_hosts(config.host)),
            log_level="warning",
            lifespan="on",
            limit_concurrency=config.max_connections,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    return state, f"http://127.0.0.1:{sock.getsockname()[1]}", (server, thread)


def stop(handle: object) -> None:
    server, thread = handle  # type: ignore[misc]
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("app-lib")
    build_library(base / "lib", base / "media")
    return base / "lib", base / "media"


@contextmanager
def serving(library: Path, media: Path, uploads: Path, index_detector: object) -> Iterator[Running]:
    """A server over ``library`` with the blob detector and colour embedder, ``media`` allowed."""
    config = ServeConfig(library=library, allow_roots=(media,), upload_dir=uploads)
    state, url, handle = start(
        config, detector=BlobDetector(), embedder=ColourEmbedder(), index_detector=index_detector
    )
    try:
        yield Running(url, state, media)
    finally:
        stop(handle)


@pytest.fixture
def running(library_dir: tuple[Path, Path], tmp_path: Path) -> Iterator[Running]:
    root, media = library_dir
    with serving(root, media, tmp_path / "uploads", BlobDetector()) as server:
        yield server


class SlowDetector(BlobDetector):
    """The blob detector, slowed down so that a job is still running when the test cancels it."""

    def detect(self, image: np.ndarray):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return super().detect(image)


@pytest.fixture
def fresh(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A new server with an empty library, an allowed media folder, and a slowed indexing detector."""
    media = tmp_path / "media"
    media.mkdir()
    with serving(tmp_path / "lib", media, tmp_path / "uploads", SlowDetector()) as server:
        yield server


def wait(client, job_id: int, timeout: float = 60) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        seen.append(job["progress"])
        if job["status"] not in ("queued", "running"):
            job["seen"] = seen
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


__all__ = ["BLUE", "RED", "Running", "SlowDetector", "person_jpeg", "serving", "start", "stop", "wait"]
