"""The web app answers on 127.0.0.1: home page, upload -> results, person click, JSON, thumbnails."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.app import SearchApp, make_server
from tests.search.fakes import FakeDetector, FakeEmbedder, FakeLibrary, identity, mix
from tests.synthetic import decompression_bomb_png


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    video = lib.add_video("/videos/hall.mp4", duration=90.0)
    lib.add_tracklet(video, 3.0, 12.5, a)
    lib.add_tracklet(video, 30.0, 41.0, mix(a, identity(2), 0.2))
    app = SearchApp(lib, detector=FakeDetector([]), embedder=FakeEmbedder(a), upload_dir=tmp_path / "up")
    server = make_server(app, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_home_lists_people(base_url: str) -> None:
    status, body = get(base_url + "/")
    assert status == 200
    assert b'href="/search?tracklet=1"' in body and b'src="/thumb/2"' in body
    assert b"2 people in 1 files" in body and body.count(b"1 visit, 1 video</a>") == 2
    status, thumb = get(base_url + "/thumb/1")
    assert status == 200 and thumb[:2] == b"\xff\xd8"
    assert get(base_url + "/thumb/99")[0] == 404
    assert get(base_url + "/../etc/passwd")[0] == 404


def test_click_a_person(base_url: str) -> None:
    status, body = get(base_url + "/search?tracklet=1")
    assert status == 200 and b"00:03.0 \xe2\x80\x93 00:12.5" in body and b'class="bar"' in body
    status, body = get(base_url + "/api/search?tracklet=1&top=1")
    data = json.loads(body)
    assert status == 200 and len(data["moments"]) == 1 and data["moments"][0]["start"] == 3.0


def test_upload_a_photo(base_url: str) -> None:
    jpeg = cv2.imencode(".jpg", np.full((128, 64, 3), 100, np.uint8))[1].tobytes()
    request = urllib.request.Request(base_url + "/upload", data=jpeg, headers={"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=10) as response:
        url = json.loads(response.read())["url"]
    status, body = get(base_url + url)
    assert status == 200 and b"hall.mp4" in body and b"/query/" in body

    bad = urllib.request.Request(base_url + "/upload", data=b"not an image")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, timeout=10)
    assert err.value.code == 400 and "error" in json.loads(err.value.read())


def test_upload_a_decompression_bomb(base_url: str) -> None:
    bomb = urllib.request.Request(base_url + "/upload", data=decompression_bomb_png(40000, 40000))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bomb, timeout=10)
    assert err.value.code == 400 and "40000x40000 pixels" in json.loads(err.value.read())["error"]
    assert get(base_url + "/")[0] == 200  # the server is still up
