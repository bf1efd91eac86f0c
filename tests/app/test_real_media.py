"""Requirement 4 on the shared footage, with the real models: POST /api/search (multipart) returns the
`reidkit search --json` document with a video_url per moment, and that URL answers a Range request with
206 and video/mp4, for the mp4 video and the raw .264 stream alike."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest

from reidkit.app.state import ServeConfig
from tests.app.conftest import start, stop
from tests.conftest import shared_path

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def test_search_and_range_on_mp4_and_264(tmp_path: Path) -> None:
    import httpx

    mp4 = shared_path("data", "videos", "one-by-one-person-detection.mp4")
    stream = shared_path("data", "videos", "people-detection.264")
    shared_path("models", "yolox_nano_416x416.onnx")
    _state, url, handle = start(ServeConfig(library=tmp_path / "lib", allow_roots=(mp4.parent,)))
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            # Sparse strides keep this quick: a few visits per video are all it needs.
            jobs = [
                client.post("/api/library/paths", json={"path": str(path), "stride": stride}).json()["jobs"][
                    0
                ]
                for path, stride in ((mp4, 20), (stream, 10))
            ]
            deadline = time.monotonic() + 300
            for job in jobs:
                while (status := client.get(f"/api/jobs/{job['id']}").json())["status"] in (
                    "queued",
                    "running",
                ):
                    assert time.monotonic() < deadline, status
                    time.sleep(0.5)
                assert status["status"] == "done", status
            # A scene photo (a whole frame of the mp4: its largest person is the query); with top 30 every
            # visit of both videos comes back, so each has a video_url to check.
            from reidkit.media import open_media

            frame = next(f for f in open_media(mp4).frames() if f.index == 1050)
            photo = cv2.imencode(".jpg", frame.image)[1].tobytes()
            response = client.post(
                "/api/search", files={"photo": ("hall.jpg", photo, "image/jpeg")}, data={"top": "30"}
            )
            assert response.status_code == 200, response.text
            doc = response.json()
            assert {"query", "model", "found", "verdict", "moments"} <= set(doc)
            names = {m["name"] for m in doc["moments"]}
            assert names == {mp4.name, stream.name}, names
            for name in names:
                moment = next(m for m in doc["moments"] if m["name"] == name)
                ranged = client.get(moment["video_url"], headers={"Range": "bytes=0-1023"})
                assert ranged.status_code == 206, (name, ranged.status_code)
                assert ranged.headers["content-type"] == "video/mp4" and len(ranged.content) == 1024
    finally:
        stop(handle)
