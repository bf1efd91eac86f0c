"""Cameras in the app: recorded into segments, each indexed and searchable, kept across restarts."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.app.state import ServeConfig
from reidkit.app.video import BOX_COLOUR
from tests.app.conftest import RED, Running, person_jpeg, start, stop
from tests.index.test_indexer import BACKGROUND, BLUE, SIZE, BlobDetector, ColourEmbedder, draw, write_scene


def serve(tmp_path: Path) -> tuple[Running, object]:
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    config = ServeConfig(library=tmp_path / "lib", allow_roots=(media,), upload_dir=tmp_path / "uploads")
    state, url, handle = start(
        config, detector=BlobDetector(), embedder=ColourEmbedder(), index_detector=BlobDetector()
    )
    return Running(url, state, media), handle


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Running]:
    running, handle = serve(tmp_path)
    try:
        yield running
    finally:
        stop(handle)


def wait_for(check, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not after {timeout} s")


def test_a_camera_is_recorded_indexed_and_searched(fresh: Running) -> None:
    # A video file under an allowed root stands in for the camera (played once, as if live).
    write_scene(fresh.media / "door.mp4", n_frames=40, fps=10.0)
    with fresh.client() as client:
        response = client.post(
            "/api/cameras", json={"name": "Front door", "source": "door.mp4", "segment_seconds": 2}
        )
        assert response.status_code == 200, response.text
        camera = response.json()
        assert camera["name"] == "Front door" and camera["status"] in ("recording", "finished")

        def finished() -> dict | None:  # type: ignore[type-arg]
            listed = client.get("/api/cameras").json()[0]
            jobs = client.get("/api/jobs").json()
            settled = jobs and all(j["status"] not in ("queued", "running") for j in jobs)
            return listed if listed["status"] == "finished" and settled and len(jobs) == 2 else None

        listed = wait_for(finished)
        assert listed["segments"] == 2 and listed["frames"] == 40
        jobs = client.get("/api/jobs").json()
        assert all(j["status"] == "done" for j in jobs), jobs
        assert all(j["name"].startswith("Front door ") for j in jobs)
        media = client.get("/api/library").json()["media"]
        assert len(media) == 2 and all(m["name"].startswith("front-door-") for m in media)
        segments = sorted((fresh.state.root / "cameras" / "front-door").glob("*.mp4"))
        assert sorted(p.name for p in segments) == sorted(m["name"] for m in media)
        # The red walker crosses both segments: found in each of them.
        doc = client.post("/api/search", files={"photo": ("red.jpg", person_jpeg(RED), "image/jpeg")}).json()
        found = {m["media"] for m in doc["moments"] if m["likely"]}
        assert len(found) == 2, doc["moments"]
        # Saved to the watchlist, the walker is named live on the camera's newest frame (its last:
        # red alone); another person there is boxed, not named.
        assert (
            client.post("/api/watchlist", json={"query_id": doc["query_id"], "name": "Red"}).status_code
            == 200
        )
        live = client.get(f"/api/cameras/{camera['id']}/preview", params={"people": True})
        assert [(p["person"], p["score"] > 0.9) for p in json.loads(live.headers["x-reidkit-people"])] == [
            ("Red", True)
        ]
        shown = cv2.imdecode(np.frombuffer(live.content, np.uint8), cv2.IMREAD_COLOR)
        x1, _, x2, y2 = json.loads(live.headers["x-reidkit-people"])[0]["box"]
        edge = shown[round(y2), round(x1) + 5 : round(x2) - 5]  # the box's bottom line, drawn amber
        assert np.abs(edge.astype(int) - BOX_COLOUR).max(axis=1).mean() < 40
        recorder = fresh.state.cameras.all()[0].recorder
        assert recorder is not None
        scene = np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)
        draw(scene, 100, 120, BLUE)
        recorder.latest_frame = scene
        live = client.get(f"/api/cameras/{camera['id']}/preview", params={"people": True})
        assert [p["person"] for p in json.loads(live.headers["x-reidkit-people"])] == [None]
        # The same frame, looked at again once someone new is on the watchlist.
        blue = client.post("/api/search", files={"photo": ("b.jpg", person_jpeg(BLUE), "image/jpeg")}).json()
        assert (
            client.post("/api/watchlist", json={"query_id": blue["query_id"], "name": "Blue"}).status_code
            == 200
        )
        live = client.get(f"/api/cameras/{camera['id']}/preview", params={"people": True})
        assert [p["person"] for p in json.loads(live.headers["x-reidkit-people"])] == ["Blue"]
        plain = client.get(f"/api/cameras/{camera['id']}/preview")
        assert "x-reidkit-people" not in plain.headers
        # A segment removed from the library goes from the disk too: the app recorded it.
        job = client.delete(f"/api/library/media/{media[0]['id']}").json()["jobs"][0]
        wait_for(lambda: client.get(f"/api/jobs/{job['id']}").json()["status"] == "done")
        assert not (fresh.state.root / "cameras" / "front-door" / media[0]["name"]).exists()
        assert (fresh.state.root / "cameras" / "front-door" / media[1]["name"]).is_file()


def test_cameras_are_kept_across_restarts_and_removed(tmp_path: Path) -> None:
    running, handle = serve(tmp_path)
    try:
        write_scene(running.media / "yard.mp4", n_frames=10, fps=10.0)
        with running.client() as client:
            assert client.post("/api/cameras", json={"name": "Yard", "source": "yard.mp4"}).status_code == 200
        saved = json.loads((tmp_path / "lib" / "app" / "cameras.json").read_text())
        assert [(c["name"], c["segment_seconds"]) for c in saved] == [("Yard", 60.0)]
    finally:
        stop(handle)
        running.state.close()
    running, handle = serve(tmp_path)
    try:
        with running.client() as client:
            cameras = client.get("/api/cameras").json()
            assert [c["name"] for c in cameras] == ["Yard"]
            assert client.delete(f"/api/cameras/{cameras[0]['id']}").status_code == 200
            assert client.get("/api/cameras").json() == []
            assert client.delete(f"/api/cameras/{cameras[0]['id']}").status_code == 404
        assert json.loads((tmp_path / "lib" / "app" / "cameras.json").read_text()) == []
    finally:
        stop(handle)
        running.state.close()


def test_sources_the_server_may_not_record(fresh: Running, tmp_path: Path) -> None:
    outside = write_scene(tmp_path / "elsewhere.mp4", n_frames=5)
    with fresh.client() as client:
        response = client.post("/api/cameras", json={"name": "x", "source": str(outside)})
        assert response.status_code == 403 and "outside the folders" in response.json()["error"]
        response = client.post("/api/cameras", json={"name": "x", "source": "no-such-camera"})
        assert response.status_code == 404 and "does not exist" in response.json()["error"]
        response = client.post("/api/cameras", json={"name": "  ", "source": "0"})
        assert response.status_code == 400 and "name" in response.json()["error"]
        response = client.post("/api/cameras", json={"name": "x", "source": "0", "segment_seconds": 0})
        assert response.status_code == 422
        # An unreachable stream is added, then says why it failed, its password hidden.
        response = client.post(
            "/api/cameras", json={"name": "Gate", "source": "rtsp://admin:pw@127.0.0.1:9/none"}
        )
        assert response.status_code == 200
        failed = wait_for(
            lambda: next((c for c in client.get("/api/cameras").json() if c["status"] == "failed"), None)
        )
        assert (
            "cannot open the camera" in failed["message"]
            and failed["source"] == "rtsp://admin:***@127.0.0.1:9/none"
        )


def test_a_saved_camera_outside_todays_allowed_folders_is_not_started(tmp_path: Path) -> None:
    outside = write_scene(tmp_path / "elsewhere.mp4", n_frames=5)
    saved = tmp_path / "lib" / "app" / "cameras.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps([{"name": "Old", "source": str(outside), "segment_seconds": 60}]))
    running, handle = serve(tmp_path)
    try:
        assert running.state.cameras.all() == []
    finally:
        stop(handle)
        running.state.close()


def test_a_camera_keeps_only_its_last_hours(fresh: Running) -> None:
    write_scene(fresh.media / "day1.mp4", n_frames=20)
    write_scene(fresh.media / "day2.mp4", n_frames=15)  # another clip: not skipped as already indexed
    with fresh.client() as client:

        def indexed() -> list[dict]:  # type: ignore[type-arg]
            jobs = client.get("/api/jobs").json()
            if any(j["status"] in ("queued", "running") for j in jobs):
                return []
            return client.get("/api/library").json()["media"]

        client.post("/api/cameras", json={"name": "Yard", "source": "day1.mp4", "segment_seconds": 2})
        (old,) = wait_for(indexed)
        old_file = fresh.state.root / "cameras" / "yard" / old["name"]
        then = time.time() - 30 * 3600
        os.utime(old_file, (then, then))
        assert client.delete(f"/api/cameras/{client.get('/api/cameras').json()[0]['id']}").status_code == 200
        response = client.post(
            "/api/cameras",
            json={"name": "Yard", "source": "day2.mp4", "segment_seconds": 2, "keep_hours": 24},
        )
        assert response.status_code == 200 and response.json()["keep_hours"] == 24
        wait_for(lambda: [m["name"] for m in indexed()] not in ([], [old["name"]]) and not old_file.exists())
        (new,) = indexed()
        assert new["name"] != old["name"] and (fresh.state.root / "cameras" / "yard" / new["name"]).is_file()


def test_a_camera_s_newest_frame_is_its_live_preview(fresh: Running) -> None:
    write_scene(fresh.media / "door.mp4", n_frames=30, fps=10.0)
    with fresh.client() as client:
        assert client.get("/api/cameras/1/preview").status_code == 404  # no such camera
        camera = client.post("/api/cameras", json={"name": "Door", "source": "door.mp4"}).json()
        wait_for(lambda: client.get("/api/cameras").json()[0]["frames"] == 30)
        response = client.get(f"/api/cameras/{camera['id']}/preview")
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        shown = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        recorder = fresh.state.cameras.all()[0].recorder
        assert recorder is not None and recorder.latest_frame is not None
        assert shown.shape == recorder.latest_frame.shape  # the file's frame size: no larger than 640
        assert np.abs(shown.astype(int) - recorder.latest_frame).mean() < 3  # that frame, as a JPEG
        recorder.latest_frame = np.zeros((1080, 1920, 3), np.uint8)  # a full-HD camera: shown small
        big = client.get(f"/api/cameras/{camera['id']}/preview").content
        assert cv2.imdecode(np.frombuffer(big, np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)
        recorder.latest_frame = None  # a camera that has sent nothing yet
        missing = client.get(f"/api/cameras/{camera['id']}/preview")
        assert missing.status_code == 404 and "no frame" in missing.json()["error"]
