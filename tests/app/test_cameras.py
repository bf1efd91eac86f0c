"""Cameras in the app: recorded into segments, each indexed and searchable, kept across restarts."""

from __future__ import annotations

import json
import os
import threading
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


def serve(tmp_path: Path, realtime: bool = False) -> tuple[Running, object]:
    """The app over ``tmp_path/lib``; its file cameras unpaced (as fast as read) unless ``realtime``."""
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    config = ServeConfig(library=tmp_path / "lib", allow_roots=(media,), upload_dir=tmp_path / "uploads")
    state, url, handle = start(
        config, detector=BlobDetector(), embedder=ColourEmbedder(), index_detector=BlobDetector()
    )
    state.cameras.realtime = realtime  # no file camera was started yet: a restart never plays one
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


def save_old_camera(tmp_path: Path, source: Path) -> None:
    """A cameras.json as servers before camera statuses wrote it: one camera "Old" playing ``source``."""
    saved = tmp_path / "lib" / "app" / "cameras.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps([{"name": "Old", "source": str(source), "segment_seconds": 60}]))


def test_a_saved_camera_outside_todays_allowed_folders_is_not_started(tmp_path: Path) -> None:
    outside = write_scene(tmp_path / "elsewhere.mp4", n_frames=5)
    save_old_camera(tmp_path, outside)
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
            library = client.get("/api/library")  # busy or not yet created while a job starts: ask again
            return library.json()["media"] if library.status_code == 200 else []

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


# ------------------------------------------------------------------------------------ the fixes
def test_a_file_camera_is_played_once_not_again_on_every_restart(tmp_path: Path) -> None:
    running, handle = serve(tmp_path)
    folder = tmp_path / "lib" / "cameras" / "yard"
    try:
        write_scene(running.media / "yard.mp4", n_frames=20, fps=10.0)
        with running.client() as client:
            client.post("/api/cameras", json={"name": "Yard", "source": "yard.mp4", "segment_seconds": 1})
            wait_for(lambda: client.get("/api/cameras").json()[0]["status"] == "finished")
        recorded = sorted(folder.glob("*.mp4"))
        assert len(recorded) == 2
    finally:
        stop(handle)
        running.state.close()
    saved = json.loads((tmp_path / "lib" / "app" / "cameras.json").read_text())
    assert [(c["status"], c["segments"], c["frames"]) for c in saved] == [("finished", 2, 20)]
    for _ in range(2):  # two restarts: nothing recorded again, the camera listed as it ended
        running, handle = serve(tmp_path)
        try:
            time.sleep(0.5)  # what a replay would need to start writing its first segment
            (camera,) = running.state.cameras.all()
            assert camera.thread is None and camera.to_dict()["status"] == "finished"
            assert camera.to_dict()["segments"] == 2 and camera.to_dict()["frames"] == 20
            assert sorted(folder.glob("*.mp4")) == recorded and running.state.worker.jobs() == []
        finally:
            stop(handle)
            running.state.close()


def test_a_file_camera_saved_before_statuses_were_kept_is_not_played_again(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    clip = write_scene(media / "old.mp4", n_frames=10)
    save_old_camera(tmp_path, clip)
    running, handle = serve(tmp_path)
    try:
        (camera,) = running.state.cameras.all()
        assert camera.thread is None and camera.status == "stopped"
        assert not (tmp_path / "lib" / "cameras").exists()
    finally:
        stop(handle)
        running.state.close()


def test_a_file_camera_is_fed_at_its_frame_rate(tmp_path: Path) -> None:
    from reidkit.media.camera import CameraRecorder, CameraSegment

    clip = write_scene(tmp_path / "clip.mp4", n_frames=30, fps=10.0)  # 3 s of video
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # a fake clock: the test takes no 3 s
        slept.append(seconds)
        now[0] += seconds

    segments: list[CameraSegment] = []
    recorder = CameraRecorder(
        str(clip),
        tmp_path / "segments",
        segment_seconds=1.0,
        on_segment=segments.append,
        realtime=True,
        clock=lambda: now[0],
        sleep=sleep,
    )
    recorder.run(threading.Event())
    assert sum(slept) == pytest.approx(2.9)  # frame 29 is fed 2.9 s after frame 0
    assert [s.frames for s in segments] == [10, 10, 10]
    # Stamped by the video's own time: one segment length apart, however fast it was read.
    starts = [s.started for s in segments]
    assert np.diff(starts) == pytest.approx([1.0, 1.0])
    # The app's cameras are paced unless told otherwise.
    from reidkit.app.cameras import Cameras

    assert Cameras(tmp_path, tmp_path / "app", submit=print, on_change=lambda: None).realtime


def test_stop_keeps_the_camera_and_start_records_it_again(tmp_path: Path) -> None:
    from tests.media.test_media_camera import MjpegCamera

    live = MjpegCamera(fps=10.0, seconds=600.0)
    cameras_json = tmp_path / "lib" / "app" / "cameras.json"
    running, handle = serve(tmp_path)
    try:
        with running.client() as client:
            added = client.post(
                "/api/cameras", json={"name": "Gate", "source": live.url, "segment_seconds": 60}
            ).json()
            wait_for(lambda: client.get("/api/cameras").json()[0]["frames"] >= 3)
            stopped = client.post(f"/api/cameras/{added['id']}/stop")
            assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
            # The segment in progress was finished and queued for indexing; the camera is still listed.
            assert stopped.json()["segments"] == 1
            (listed,) = client.get("/api/cameras").json()
            assert listed["status"] == "stopped" and listed["frames"] == stopped.json()["frames"]
            assert client.get(f"/api/cameras/{added['id']}/preview").status_code == 200  # its last frame
            assert [c["status"] for c in json.loads(cameras_json.read_text())] == ["stopped"]
            assert client.post("/api/cameras/99/stop").status_code == 404
            assert client.post("/api/cameras/99/start").status_code == 404
    finally:
        stop(handle)
        running.state.close()
    running, handle = serve(tmp_path)  # a stopped camera is not started with the server
    try:
        with running.client() as client:
            (camera,) = client.get("/api/cameras").json()
            assert camera["status"] == "stopped" and camera["segments"] == 1
            assert running.state.cameras.all()[0].thread is None
            started = client.post(f"/api/cameras/{camera['id']}/start")
            assert started.status_code == 200 and started.json()["status"] == "recording"
            wait_for(lambda: client.get("/api/cameras").json()[0]["frames"] > camera["frames"] + 2)
            assert [c["status"] for c in json.loads(cameras_json.read_text())] == ["recording"]
        # A camera left recording is started with the next server (stopped by this one's end).
    finally:
        stop(handle)
        running.state.close()
    running, handle = serve(tmp_path)
    try:
        with running.client() as client:
            assert [c["status"] for c in client.get("/api/cameras").json()] == ["recording"]
            camera_id = client.get("/api/cameras").json()[0]["id"]
            assert client.delete(f"/api/cameras/{camera_id}").status_code == 200  # removed for good
            assert client.get("/api/cameras").json() == []
        assert json.loads(cameras_json.read_text()) == []
        assert len(list((tmp_path / "lib" / "cameras" / "gate").glob("*.mp4"))) >= 2  # what it recorded stays
    finally:
        stop(handle)
        running.state.close()
        live.close()


def test_a_finished_file_camera_plays_again_when_started(fresh: Running) -> None:
    write_scene(fresh.media / "door.mp4", n_frames=10, fps=10.0)
    with fresh.client() as client:
        camera = client.post(
            "/api/cameras", json={"name": "Door", "source": "door.mp4", "segment_seconds": 1}
        ).json()
        assert camera["file"] is True
        wait_for(lambda: client.get("/api/cameras").json()[0]["status"] == "finished")
        assert client.post(f"/api/cameras/{camera['id']}/start").json()["status"] in ("recording", "finished")
        wait_for(lambda: client.get("/api/cameras").json()[0]["status"] == "finished")
        assert client.get("/api/cameras").json()[0]["segments"] == 2
        assert len(list((fresh.state.root / "cameras" / "door").glob("*.mp4"))) == 2


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("rtsp://admin:pw@127.0.0.1:9/stream", "user name and password"),
        ("http://127.0.0.1:9/video.mjpg", "user name and password"),
        ("3", "plugged in"),
    ],
)
def test_a_camera_that_cannot_be_opened_is_refused_and_not_saved(
    fresh: Running, source: str, hint: str
) -> None:
    with fresh.client() as client:
        response = client.post("/api/cameras", json={"name": "Gate", "source": source})
        assert response.status_code == 400
        error = response.json()["error"]
        assert "cannot open the camera" in error and hint in error and "\n" not in error
        assert "pw" not in error and (not source.startswith("rtsp") or "admin:***@" in error)
        assert client.get("/api/cameras").json() == []
    assert not (fresh.state.root / "app" / "cameras.json").exists()


@pytest.mark.parametrize("seconds", [0, -5, 0.5, 1e9])
def test_a_segment_length_out_of_range_is_refused(fresh: Running, seconds: float) -> None:
    write_scene(fresh.media / "door.mp4", n_frames=5)
    with fresh.client() as client:
        response = client.post(
            "/api/cameras", json={"name": "Door", "source": "door.mp4", "segment_seconds": seconds}
        )
        assert response.status_code == 400
        assert "segment length must be 1 to 3600 seconds" in response.json()["error"]
        assert client.get("/api/cameras").json() == []
