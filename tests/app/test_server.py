"""The app's routes on a running server over a small real library (model-free detector and embedder)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import pytest

from tests.app.conftest import BLUE, RED, Running, person_jpeg
from tests.synthetic import decompression_bomb_png


def search(client, colour=RED, **fields):  # type: ignore[no-untyped-def]
    files = {"photo": ("me.jpg", person_jpeg(colour), "image/jpeg")}
    return client.post("/api/search", files=files, data={k: str(v) for k, v in fields.items()})


def test_home_page_and_assets_need_no_cdn(running: Running) -> None:
    with running.client() as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for asset in ("/static/app.js", "/static/app.css", "/static/icon.svg"):
            assert client.get(asset).status_code == 200, asset
        # No asset from anywhere else: every src/href is local.
        for text in (page.text, client.get("/static/app.js").text, client.get("/static/app.css").text):
            assert "http://" not in text and "https://" not in text and "//cdn" not in text
        assert client.get("/static/../server.py").status_code == 404
        schema = client.get("/openapi.json").json()
        assert "/api/search" in schema["paths"] and "/api/media/{media_id}/video" in schema["paths"]


def test_search_document_matches_the_cli_with_video_urls(running: Running) -> None:
    with running.client() as client:
        response = search(client, RED, top=5)
        assert response.status_code == 200, response.text
        doc = response.json()
        assert {"query", "model", "found", "verdict", "moments"} <= set(doc)
        assert doc["query"] == "me.jpg" and doc["model"] == "colour-test"
        assert {m["name"] for m in doc["moments"][:2]} == {"walk.mp4", "still.png"}
        best = next(m for m in doc["moments"] if m["kind"] == "video")
        assert best["name"] == "walk.mp4" and best["start"] == 0.0  # red walks the whole clip
        assert best["video_url"] == f"/api/media/{best['media_id']}/video"
        assert len(doc["moments"]) <= 5
        ranged = client.get(best["video_url"], headers={"Range": "bytes=0-1023"})
        assert ranged.status_code == 206 and ranged.headers["content-type"] == "video/mp4"
        assert len(ranged.content) == 1024 and ranged.headers["content-range"].startswith("bytes 0-1023/")
        assert ranged.content[4:8] == b"ftyp"
        # The source was MPEG-4 part 2 (mp4v): the app serves an H.264 transcode instead, made once.
        import av

        cached = list((running.state.app_dir / "playable").glob("*.mp4"))
        assert len(cached) == 1
        with av.open(str(cached[0])) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        photo = next(m for m in doc["moments"] if m["kind"] == "image")
        assert photo["video_url"] is None
        image = client.get(photo["image_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert client.get(best["video_url"].replace("video", "image")).status_code == 404  # a video
        # The boxes of the moment are the stored tracklet boxes, with their times.
        boxes = client.get("/api/boxes", params={"tracklets": ",".join(map(str, best["tracklets"]))}).json()
        assert boxes[0]["boxes"] and len(boxes[0]["times"]) == len(boxes[0]["boxes"])


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"top": "-1"}, "top"),
        ({"top": "abc"}, "top"),
        ({"box": "1e400,0,10,10"}, "four finite numbers"),
        ({"box": "1,2,3"}, "four finite numbers"),
        ({"min_score": "nan"}, "min_score"),
    ],
)
def test_bad_parameters_get_a_4xx_with_a_message(running: Running, fields: dict, words: str) -> None:
    with running.client() as client:
        response = search(client, **fields)
        assert 400 <= response.status_code < 500, response.text
        assert words in response.json()["error"]


def test_bad_uploads_name_the_file_and_keep_the_server_up(running: Running) -> None:
    with running.client() as client:
        cases = [
            (b"not an image at all", "notes.jpg", "not an image this app can read"),
            (decompression_bomb_png(40000, 40000), "huge.png", "too large"),
            (b"", "empty.jpg", "empty"),
        ]
        for data, name, words in cases:
            response = client.post("/api/photos", files={"photo": (name, data, "image/jpeg")})
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert name in error and words in error and "/tmp" not in error and "Error" not in error
        too_big = b"\xff" * (running.state.config.max_photo_bytes + 10)
        response = client.post("/api/photos", files={"photo": ("big.jpg", too_big, "image/jpeg")})
        assert response.status_code == 413 and "MB" in response.json()["error"]
        far_too_big = b"\xff" * (running.state.config.max_photo_bytes + (2 << 20))
        response = client.post("/api/photos", files={"photo": ("big.jpg", far_too_big, "image/jpeg")})
        limit = running.state.config.max_photo_bytes >> 20
        assert response.status_code == 413
        assert response.json()["error"] == f"the file is larger than this server's limit of {limit} MB"
        assert client.get("/api/status").status_code == 200


def test_results_say_when_more_moments_than_shown_are_likely(running: Running) -> None:
    with running.client() as client:
        whole = search(client, RED).json()
        likely = sum(m["likely"] for m in whole["moments"])
        assert likely >= 2 and whole["more_likely"] is False  # red walks the clip and stands in the photo
        cut = client.get(f"/api/queries/{whole['query_id']}/results?top={likely - 1}").json()
        assert len(cut["moments"]) == likely - 1 and cut["more_likely"] is True


def test_bad_form_fields_are_answered_in_the_pages_words(running: Running) -> None:
    with running.client() as client:
        doc = search(client, BLUE).json()
        saved = client.post("/api/watchlist", json={"query_id": doc["query_id"], "name": "Bea"}).json()
        cases = [
            (client.patch(f"/api/watchlist/{saved['id']}", json={"name": ""}), "The name is empty"),
            (client.patch(f"/api/watchlist/{saved['id']}", json={"name": "x" * 500}), "The name is too long"),
            (client.get("/api/queries/doesnotexist/results"), "The search link is not valid"),
            (client.get(f"/api/queries/{doc['query_id']}/results?top=0"), "top must be at least 1"),
        ]
        for response, words in cases:
            assert response.status_code in (400, 422), response.text
            assert response.json()["error"].startswith(words), response.json()
            assert "String should" not in response.json()["error"]
        twin = client.post("/api/watchlist", json={"query_id": doc["query_id"], "name": " bea "})
        assert twin.status_code == 400 and "already has 'Bea'" in twin.json()["error"]
        assert client.delete(f"/api/watchlist/{saved['id']}").status_code == 200


def test_scene_photo_lists_people_to_click(running: Running) -> None:
    scene = cv2.imread(str(running.media / "still.png"))
    jpeg = cv2.imencode(".png", scene)[1].tobytes()
    with running.client() as client:
        photo = client.post("/api/photos", files={"photo": ("scene.png", jpeg, "image/png")}).json()
        assert len(photo["people"]) == 2 and not photo["crop_like"]
        red_box = max(photo["people"], key=lambda b: b[0])  # the red one stands on the right
        query = client.post("/api/queries", json={"upload_id": photo["upload_id"], "box": red_box}).json()
        doc = client.get(f"/api/queries/{query['query_id']}/results").json()
        assert {m["name"] for m in doc["moments"][:2]} == {"walk.mp4", "still.png"}
        # A box outside the photo is refused in plain words.
        bad = client.post("/api/queries", json={"upload_id": photo["upload_id"], "box": [900, 900, 990, 990]})
        assert bad.status_code == 400 and "scene.png" in bad.json()["error"]


def test_feedback_pushes_rejected_down_and_confirmed_refine(running: Running) -> None:
    with running.client() as client:
        doc = search(client, RED).json()
        query_id = doc["query_id"]
        first = doc["moments"][0]
        response = client.post(
            f"/api/queries/{query_id}/feedback", json={"tracklets": first["tracklets"], "verdict": "reject"}
        )
        assert response.status_code == 200 and response.json()["rejected"] == sorted(first["tracklets"])
        again = client.get(f"/api/queries/{query_id}/results").json()
        assert again["moments"][-1]["tracklets"] == first["tracklets"]
        assert again["moments"][-1]["feedback"] == "rejected"
        assert any("listed last" in n for n in again["order_notes"])
        bad = client.post(
            f"/api/queries/{query_id}/feedback", json={"tracklets": [999999], "verdict": "confirm"}
        )
        assert bad.status_code == 404


def test_several_photos_combine_into_one_query(running: Running) -> None:
    with running.client() as client:
        ids = []
        for colour in (RED, (60, 60, 200)):
            files = {"photo": ("p.jpg", person_jpeg(colour), "image/jpeg")}
            ids.append(client.post("/api/photos", files=files).json()["upload_id"])
        query = client.post("/api/queries", json={"upload_id": ids[0]}).json()["query_id"]
        added = client.post(f"/api/queries/{query}/photos", json={"upload_id": ids[1]}).json()
        assert added["photos"] == 2
        doc = client.get(f"/api/queries/{query}/results").json()
        assert len(doc["photos"]) == 2 and {m["name"] for m in doc["moments"][:2]} == {
            "walk.mp4",
            "still.png",
        }


def test_exports(running: Running) -> None:
    with running.client() as client:
        doc = search(client, RED).json()
        query_id = doc["query_id"]
        csv_text = client.get(f"/api/queries/{query_id}/export", params={"format": "csv"})
        assert csv_text.status_code == 200 and "attachment" in csv_text.headers["content-disposition"]
        lines = csv_text.text.strip().splitlines()
        assert lines[0].startswith("rank,media,kind,start,end") and len(lines) == 1 + len(doc["moments"])
        as_json = json.loads(client.get(f"/api/queries/{query_id}/export", params={"format": "json"}).text)
        assert as_json["moments"] == doc["moments"]
        best = next(m for m in doc["moments"] if m["kind"] == "video")
        clip = client.get(best["clip_url"])
        assert (
            clip.status_code == 200
            and clip.headers["content-type"] == "video/mp4"
            and clip.content[4:8] == b"ftyp"
        )
        assert (
            client.get(f"/api/media/{best['media_id']}/clip", params={"start": 5, "end": 1}).status_code
            == 400
        )
        client.post(
            f"/api/queries/{query_id}/feedback", json={"tracklets": best["tracklets"], "verdict": "confirm"}
        )
        video = client.get(f"/api/queries/{query_id}/annotated")
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"


def test_watchlist_and_people(running: Running) -> None:
    with running.client() as client:
        doc = search(client, BLUE).json()
        saved = client.post("/api/watchlist", json={"query_id": doc["query_id"], "name": "  Blue   Walker "})
        assert saved.status_code == 200, saved.text
        person = saved.json()
        assert person["name"] == "Blue Walker"
        assert client.get(person["photos"][0]).content[:2] == b"\xff\xd8"
        assert client.patch(f"/api/watchlist/{person['id']}", json={"name": "Bea"}).json()["name"] == "Bea"
        assert [p["name"] for p in client.get("/api/watchlist").json()] == ["Bea"]
        named = [p for p in client.get("/api/people").json() if p["name"] == "Bea"]
        assert len(named) == 1  # the home page's tile of that person carries the watchlist name
        from_person = client.post("/api/queries", json={"person_id": person["id"]}).json()
        assert client.get(f"/api/queries/{from_person['query_id']}/results").json()["query"] == "Bea"
        assert client.delete(f"/api/watchlist/{person['id']}").status_code == 200
        assert client.get("/api/watchlist").json() == []
        people = client.get("/api/people").json()
        assert people and all(p["thumbnail_url"].startswith("/api/tracklets/") for p in people)
        assert client.get(people[0]["thumbnail_url"]).content[:2] == b"\xff\xd8"


def test_thumbnail_paths_stay_inside_the_library(running: Running) -> None:
    import sqlite3

    db = running.state.root / "library.sqlite"
    with sqlite3.connect(db) as conn:
        (original,) = conn.execute("SELECT thumbnail FROM tracklets WHERE id = 1").fetchone()
        conn.execute("UPDATE tracklets SET thumbnail = '../../../../etc/passwd' WHERE id = 1")
    try:
        with running.client() as client:
            time.sleep(0.05)
            assert client.get("/api/tracklets/1/thumbnail").status_code == 404
            assert client.get("/api/tracklets/2/thumbnail").status_code == 200
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE tracklets SET thumbnail = ? WHERE id = 1", (original,))


def test_host_origin_and_csrf_checks(running: Running) -> None:
    with running.client() as client:
        assert client.get("/api/status", headers={"Host": "evil.example:80"}).status_code == 421
        assert client.get("/api/status", headers={"Origin": "http://evil.example"}).status_code == 403
        cross = client.post(
            "/api/watchlist", json={"query_id": "ab", "name": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
        same = client.post(
            "/api/watchlist",
            json={"query_id": "ab", "name": "x"},
            headers={"Origin": running.url, "Sec-Fetch-Site": "same-origin"},
        )
        assert same.status_code == 404  # passed the guard; that query does not exist
    assert (
        raw_status(
            running.url, b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n"
        )
        == 400
    )


def raw_status(url: str, request: bytes) -> int:
    """Send ``request`` bytes as they are (clients refuse to send malformed headers); the status code."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        reply = sock.recv(4096)
    return int(reply.split(b" ")[1])


def test_add_by_path_is_limited_to_allowed_roots(running: Running, tmp_path: Path) -> None:
    with running.client() as client:
        outside = client.post("/api/library/paths", json={"path": "/etc/passwd"})
        assert outside.status_code == 403 and "outside" in outside.json()["error"]
        sneaky = client.post("/api/library/paths", json={"path": str(running.media / ".." / "..")})
        assert sneaky.status_code == 403
        missing = client.post("/api/library/paths", json={"path": str(running.media / "nope.mp4")})
        assert missing.status_code == 404


def test_uploads_are_deleted_when_the_app_stops(library_dir: tuple[Path, Path], tmp_path: Path) -> None:
    from reidkit.app.state import AppState, ServeConfig
    from tests.index.test_indexer import BlobDetector, ColourEmbedder

    state = AppState(ServeConfig(library=library_dir[0]), detector=BlobDetector(), embedder=ColourEmbedder())
    upload = state.add_upload("me.jpg", person_jpeg(RED))
    assert upload.path.is_file()
    folder = state.upload_dir
    state.close()
    assert not upload.path.exists() and not folder.exists()


def test_search_on_an_empty_library_says_how_to_add_media(tmp_path: Path) -> None:
    from reidkit.app.state import ServeConfig
    from tests.app.conftest import start, stop
    from tests.index.test_indexer import BlobDetector, ColourEmbedder

    _state, url, handle = start(
        ServeConfig(library=tmp_path / "new-lib"), detector=BlobDetector(), embedder=ColourEmbedder()
    )
    try:
        import httpx

        with httpx.Client(base_url=url) as client:
            status = client.get("/api/status").json()
            assert status["media"] == 0 and status["tracklets"] == 0 and status["add_by_path"] is False
            response = client.post("/api/search", files={"photo": ("me.jpg", person_jpeg(RED), "image/jpeg")})
            assert response.status_code == 409 and "Add a video or photos" in response.json()["error"]
            assert client.get("/api/people").json() == []
            assert client.get("/api/library").json()["media"] == []
    finally:
        stop(handle)


def test_confirmed_moments_refine_the_query(running: Running) -> None:
    with running.client() as client:
        doc = search(client, RED).json()
        query_id = doc["query_id"]
        blue = next(m for m in doc["moments"] if m["kind"] == "video" and m["start"] > 0)  # the blue walker
        before = doc["moments"].index(blue)
        client.post(
            f"/api/queries/{query_id}/feedback", json={"tracklets": blue["tracklets"], "verdict": "confirm"}
        )
        again = client.get(f"/api/queries/{query_id}/results").json()
        moved = next(m for m in again["moments"] if m["tracklets"] == blue["tracklets"])
        assert moved["feedback"] == "confirmed" and again["confirmed"] == blue["tracklets"]
        # The query now pools the photo with the confirmed moment's vector: that moment scores higher.
        assert moved["score"] > blue["score"] + 0.2 and again["moments"].index(moved) < before


def test_status_and_searches_say_when_an_adapted_model_judges_the_verdicts(running: Running) -> None:
    import numpy as np

    from reidkit.core.head import VerdictHead
    from reidkit.index.library import Library

    with running.client() as client:
        assert client.get("/api/status").json()["verdict_model"] is None
        before = search(client, RED).json()
        assert before["verdict"]["scored_by"] is None
        with Library.open(running.state.root) as reader:
            dim = reader.dim
        with Library.create_or_open(running.state.root, before["model"], dim) as lib:
            lib.set_verdict_head(
                VerdictHead("colour-test-adapted", {"w": np.zeros((lib.dim, lib.dim), np.float32)})
            )
        assert client.get("/api/status").json()["verdict_model"] == "colour-test-adapted"
        after = search(client, RED).json()
        assert after["verdict"]["scored_by"] == "colour-test-adapted"
        assert "adapted to this library" in after["verdict"]["source"]
        # A zero head is the library model itself: the same moments, scores and verdicts.
        assert [(m["tracklets"], m["likely"]) for m in after["moments"]] == [
            (m["tracklets"], m["likely"]) for m in before["moments"]
        ]
