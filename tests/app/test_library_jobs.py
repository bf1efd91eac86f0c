"""Library management through the app: add by path and by upload, live progress, cancel, playback of a raw
.264 stream (transcoded once), watchlist alerts on new media, removal."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import av
import numpy as np
import pytest

from reidkit.media.recorded import iso_utc
from tests.app.conftest import RED, Running, person_jpeg, wait
from tests.index.test_indexer import (
    BACKGROUND,
    BLUE,
    SIZE,
    BlobDetector,
    ColourEmbedder,
    draw,
    stamp,
    write_scene,
)


def write_raw_h264(path: Path, n_frames: int = 40, fps: int = 10) -> Path:
    """A raw H.264 elementary stream (no container, no timestamps) of red and blue walkers."""
    with av.open(str(path), mode="w", format="h264") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for i in range(n_frames):
            canvas = np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)
            draw(canvas, 10 + 6 * i, 20, RED)
            draw(canvas, 280 - 5 * i, 140, BLUE)
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_add_a_raw_stream_by_path_and_play_it(fresh: Running) -> None:
    write_raw_h264(fresh.media / "hall.264")
    with fresh.client() as client:
        assert client.get("/api/status").json()["tracklets"] == 0
        jobs = client.post(
            "/api/library/paths", json={"path": str(fresh.media / "hall.264"), "stride": 1}
        ).json()
        assert [j["name"] for j in jobs["jobs"]] == ["hall.264"] and "path" not in jobs["jobs"][0]
        job = wait(client, jobs["jobs"][0]["id"])
        assert job["status"] == "done", job
        assert any(0 < p < 1 for p in job["seen"]), job["seen"]  # live progress while it ran
        events = client.get("/api/events", params={"once": "true"})
        assert events.headers["content-type"].startswith("text/event-stream") and "event: jobs" in events.text
        media = client.get("/api/library").json()["media"]
        assert len(media) == 1 and media[0]["name"] == "hall.264" and media[0]["tracklets"] >= 2
        # A raw stream carries no frame rate; the library's (the decoder's guess) sets every time.
        assert media[0]["duration"] == pytest.approx(40 / media[0]["fps"], abs=0.05)
        ranged = client.get(media[0]["video_url"], headers={"Range": "bytes=0-1023"})
        assert ranged.status_code == 206 and ranged.headers["content-type"] == "video/mp4"
        assert len(ranged.content) == 1024
        full = client.get(media[0]["video_url"]).content
        tmp = fresh.state.root / "check.mp4"
        tmp.write_bytes(full)
        with av.open(str(tmp)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.frames == 40
            # One tick per source frame at the library's rate: a moment's start is the same instant.
            assert float(stream.average_rate) == pytest.approx(media[0]["fps"])
        # Searches see the new file without a restart.
        doc = client.post("/api/search", files={"photo": ("me.jpg", person_jpeg(RED), "image/jpeg")}).json()
        assert (
            doc["moments"][0]["name"] == "hall.264"
            and doc["moments"][0]["video_url"] == media[0]["video_url"]
        )


def test_a_path_relative_to_an_allowed_folder_is_found_in_it(fresh: Running) -> None:
    write_raw_h264(fresh.media / "hall.264")
    with fresh.client() as client:
        # The page shows the folders as paths one can type, and a path relative to one is read there.
        assert client.get("/api/status").json()["allow_roots"] == [str(fresh.media.resolve())]
        jobs = client.post("/api/library/paths", json={"path": "hall.264", "stride": 1})
        assert jobs.status_code == 200 and [j["name"] for j in jobs.json()["jobs"]] == ["hall.264"]
        assert wait(client, jobs.json()["jobs"][0]["id"])["status"] == "done"
        missing = client.post("/api/library/paths", json={"path": "nowhere/clip.mp4"})
        assert missing.status_code == 404 and "clip.mp4 does not exist" in missing.json()["error"]


def test_upload_media_and_alert_the_watchlist(fresh: Running, tmp_path: Path) -> None:
    write_scene(tmp_path / "first.mp4", n_frames=30)
    stamp(write_scene(tmp_path / "second.mp4", n_frames=20), "2023-11-14T22:13:20Z")  # a camera's clip
    with fresh.client() as client:
        response = client.post(
            "/api/library/upload",
            files={"file": ("first.mp4", (tmp_path / "first.mp4").read_bytes())},
            data={"stride": "1"},
        )
        assert response.status_code == 200, response.text
        assert wait(client, response.json()["jobs"][0]["id"])["status"] == "done"
        assert (fresh.state.root / "app" / "media" / "first.mp4").is_file()
        doc = client.post("/api/search", files={"photo": ("red.jpg", person_jpeg(RED), "image/jpeg")}).json()
        assert (
            client.post("/api/watchlist", json={"query_id": doc["query_id"], "name": "Red"}).status_code
            == 200
        )
        assert client.get("/api/alerts").json() == []
        response = client.post(
            "/api/library/upload", files={"file": ("second.mp4", (tmp_path / "second.mp4").read_bytes())}
        )
        assert wait(client, response.json()["jobs"][0]["id"])["status"] == "done"
        alerts = client.get("/api/alerts").json()
        assert [(a["person"], a["media"]) for a in alerts] == [("Red", "second.mp4")]
        assert alerts[0]["recorded_start"] == iso_utc(1_700_000_000 + alerts[0]["start"])
        doc = client.post("/api/search", files={"photo": ("red.jpg", person_jpeg(RED), "image/jpeg")}).json()
        assert {m["name"] for m in doc["moments"]} == {"first.mp4", "second.mp4"}
        for m in doc["moments"]:
            stamped = m["name"] == "second.mp4"
            assert m["recorded_start"] == (iso_utc(1_700_000_000 + m["start"]) if stamped else None)
            assert m["recorded_end"] == (iso_utc(1_700_000_000 + m["end"]) if stamped else None)
        rows = list(csv.DictReader(io.StringIO(client.get(f"/api/queries/{doc['query_id']}/export").text)))
        assert [(Path(r["media"]).name, r["recorded_start"], r["recorded_end"]) for r in rows] == [
            (m["name"], m["recorded_start"] or "", m["recorded_end"] or "") for m in doc["moments"]
        ]
        # The annotated video of each file (the other one's moments marked "not this person"): the
        # clock drawn in its corner only where the file says when it was recorded.
        corners = {}
        for name, other in (("first.mp4", "second.mp4"), ("second.mp4", "first.mp4")):
            for m in doc["moments"]:
                verdict = "reject" if m["name"] == other else "clear"
                feedback = {"tracklets": m["tracklets"], "verdict": verdict}
                assert (
                    client.post(f"/api/queries/{doc['query_id']}/feedback", json=feedback).status_code == 200
                )
            video = client.get(f"/api/queries/{doc['query_id']}/annotated")
            assert video.status_code == 200, video.text
            (tmp_path / f"annotated-{name}").write_bytes(video.content)
            with av.open(str(tmp_path / f"annotated-{name}")) as container:
                first_frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
            corners[name] = first_frame[-40:, :160].astype(int)
        assert np.abs(corners["first.mp4"] - BACKGROUND).max() < 30  # the scene's floor: no clock
        assert (corners["second.mp4"].max(axis=2) < 60).mean() > 0.3  # the clock's dark tab
        not_media = client.post("/api/library/upload", files={"file": ("notes.txt", b"hello")})
        assert not_media.status_code == 415 and "notes.txt" in not_media.json()["error"]


def test_cancel_a_running_and_a_queued_job(fresh: Running) -> None:
    write_scene(fresh.media / "long.mp4", n_frames=120)
    write_scene(fresh.media / "next.mp4", n_frames=20)
    with fresh.client() as client:
        first = client.post(
            "/api/library/paths", json={"path": str(fresh.media / "long.mp4"), "stride": 1}
        ).json()["jobs"][0]
        second = client.post("/api/library/paths", json={"path": str(fresh.media / "next.mp4")}).json()[
            "jobs"
        ][0]
        deadline = time.monotonic() + 30
        while client.get(f"/api/jobs/{first['id']}").json()["progress"] <= 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.post(f"/api/jobs/{second['id']}/cancel").json()["status"] == "cancelled"
        client.post(f"/api/jobs/{first['id']}/cancel")
        assert wait(client, first["id"])["status"] == "cancelled"
        assert client.get("/api/library").json()["media"] == []  # nothing of a cancelled file is written
        assert client.post("/api/jobs/99/cancel").status_code == 404


def test_remove_media(fresh: Running, tmp_path: Path) -> None:
    from reidkit.index.library import Library

    write_scene(fresh.media / "walk.mp4", n_frames=20)
    write_scene(tmp_path / "upload.mp4", n_frames=25)
    with fresh.client() as client:
        job = client.post(
            "/api/library/paths", json={"path": str(fresh.media / "walk.mp4"), "stride": 1}
        ).json()["jobs"][0]
        assert wait(client, job["id"])["status"] == "done"
        files = {"file": ("upload.mp4", (tmp_path / "upload.mp4").read_bytes())}
        job = client.post("/api/library/upload", files=files, data={"stride": "1"}).json()["jobs"][0]
        assert wait(client, job["id"])["status"] == "done"
        media = {m["name"]: m["id"] for m in client.get("/api/library").json()["media"]}
        with Library.open(fresh.state.root) as library:
            walker = library.tracklet_ids(media["walk.mp4"])[0]
        from_walker = client.post("/api/queries", json={"tracklet_id": walker}).json()["query_id"]
        response = client.delete(f"/api/library/media/{media['walk.mp4']}")
        assert wait(client, response.json()["jobs"][0]["id"])["status"] == "done"
        # A search started from someone in the removed file says so, not "add a photo".
        stale = client.get(f"/api/queries/{from_walker}/results")
        assert stale.status_code == 410 and "no longer in the library" in stale.json()["error"]
        assert [m["name"] for m in client.get("/api/library").json()["media"]] == ["upload.mp4"]
        assert (fresh.media / "walk.mp4").is_file()  # added by its path: the user's file stays
        files = {"photo": ("me.jpg", person_jpeg(RED), "image/jpeg")}
        assert {m["name"] for m in client.post("/api/search", files=files).json()["moments"]} == {
            "upload.mp4"
        }
        response = client.delete(f"/api/library/media/{media['upload.mp4']}")
        assert wait(client, response.json()["jobs"][0]["id"])["status"] == "done"
        assert not (fresh.state.root / "app" / "media" / "upload.mp4").exists()  # the app's copy goes
        assert client.get("/api/library").json()["media"] == []
        assert client.delete(f"/api/library/media/{media['walk.mp4']}").status_code == 404


def test_searches_see_files_indexed_by_another_process(fresh: Running, tmp_path: Path) -> None:
    from reidkit.index.indexer import index_media

    write_scene(fresh.media / "first.mp4", n_frames=20)
    write_scene(tmp_path / "later.mp4", n_frames=25)  # other content: not a duplicate
    with fresh.client() as client:
        job = client.post(
            "/api/library/paths", json={"path": str(fresh.media / "first.mp4"), "stride": 1}
        ).json()
        assert wait(client, job["jobs"][0]["id"])["status"] == "done"
        files = {"photo": ("me.jpg", person_jpeg(RED), "image/jpeg")}
        assert {m["name"] for m in client.post("/api/search", files=files).json()["moments"]} == {"first.mp4"}
        # `reidkit index` in another process, while the server runs: the next search sees the file.
        index_media(
            [tmp_path / "later.mp4"],
            fresh.state.root,
            detector=BlobDetector(),
            model=ColourEmbedder(),
            stride=1,
        )
        names = {m["name"] for m in client.post("/api/search", files=files).json()["moments"]}
        assert names == {"first.mp4", "later.mp4"}


def test_a_corrupt_upload_fails_in_plain_words(fresh: Running) -> None:
    with fresh.client() as client:
        files = {"file": ("holiday.mp4", b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)}
        job = client.post("/api/library/upload", files=files).json()["jobs"][0]
        done = wait(client, job["id"])
        assert done["status"] == "failed"
        message = done["message"]
        assert message.startswith("holiday.mp4: ") and str(fresh.state.root) not in message, message
        assert "Error" not in message and "Traceback" not in message, message
        assert client.get("/api/status").status_code == 200


def test_an_upload_the_library_does_not_keep_is_not_left_on_disk(fresh: Running, tmp_path: Path) -> None:
    write_scene(tmp_path / "walk.mp4", n_frames=20)
    media = fresh.state.root / "app" / "media"
    with fresh.client() as client:

        def upload(name: str, data: bytes) -> dict:  # type: ignore[type-arg]
            job = client.post("/api/library/upload", files={"file": (name, data)}, data={"stride": "1"})
            return wait(client, job.json()["jobs"][0]["id"])

        assert upload("broken.jpg", b"not a picture")["status"] == "failed"
        video = (tmp_path / "walk.mp4").read_bytes()
        assert upload("walk.mp4", video)["message"].endswith("tracklets")
        assert upload("walk.mp4", video)["message"] == "already in the library"  # stored as walk-1.mp4
        assert sorted(p.name for p in media.iterdir()) == ["walk.mp4"]  # only the copy the library holds
        names = [m["name"] for m in client.get("/api/library").json()["media"]]
        assert names == ["walk.mp4"]


def test_an_upload_of_a_file_whose_copy_was_lost_is_kept_and_followed(fresh: Running, tmp_path: Path) -> None:
    write_scene(tmp_path / "walk.mp4", n_frames=20)
    video = (tmp_path / "walk.mp4").read_bytes()
    media = fresh.state.root / "app" / "media"
    with fresh.client() as client:
        for _ in range(2):
            job = client.post(
                "/api/library/upload", files={"file": ("walk.mp4", video)}, data={"stride": "1"}
            )
            assert wait(client, job.json()["jobs"][0]["id"])["status"] == "done"
            if _ == 0:
                (media / "walk.mp4").unlink()  # the library's copy lost (a disk cleaned up by hand)
        assert [p.name for p in media.iterdir()] == ["walk.mp4"]  # the new upload, kept
        (row,) = client.get("/api/library").json()["media"]
        assert row["available"] and row["status"] == "indexed"
