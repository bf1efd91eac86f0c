"""Safety of the server: token off loopback, 503 on overload, a one-line error for a port in use."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import pytest

from reidkit.app.server import allowed_hosts, bind, is_loopback
from reidkit.app.state import ServeConfig
from reidkit.core.errors import ReidkitError
from tests.app.conftest import RED, person_jpeg, start, stop
from tests.index.test_indexer import BlobDetector, ColourEmbedder


def test_a_token_is_required_when_set(library_dir: tuple[Path, Path], tmp_path: Path) -> None:
    config = ServeConfig(library=library_dir[0], token="s3cret", upload_dir=tmp_path / "up")
    _state, url, handle = start(config, detector=BlobDetector(), embedder=ColourEmbedder())
    try:
        with httpx.Client(base_url=url) as client:
            denied = client.get("/api/status")
            assert denied.status_code == 401 and "access token" in denied.json()["error"]
            assert client.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.get("/api/status", headers={"Authorization": "Bearer s3cret"}).status_code == 200
            page = client.get("/", params={"token": "s3cret"})  # the printed link: sets a cookie
            assert page.status_code == 200 and "reidkit_token=s3cret" in page.headers["set-cookie"]
            assert (
                "HttpOnly" in page.headers["set-cookie"] and "SameSite=Strict" in page.headers["set-cookie"]
            )
            assert client.get("/api/status").status_code == 200  # the cookie from now on
    finally:
        stop(handle)


def test_overload_answers_503_with_retry_after(library_dir: tuple[Path, Path], tmp_path: Path) -> None:
    config = ServeConfig(library=library_dir[0], upload_dir=tmp_path / "up", max_waiting=1)
    state, url, handle = start(config, detector=BlobDetector(), embedder=ColourEmbedder())
    statuses: list[int] = []
    try:
        with state.read_lock:  # a long search holds the reader: the next requests must wait or be refused
            threads = []
            for _ in range(6):

                def one() -> None:
                    with httpx.Client(base_url=url, timeout=30) as client:
                        files = {"photo": ("me.jpg", person_jpeg(RED), "image/jpeg")}
                        response = client.post("/api/search", files=files)
                        statuses.append(response.status_code)
                        if response.status_code == 503:
                            assert response.headers["retry-after"] == "2"
                            assert "busy" in response.json()["error"]

                threads.append(threading.Thread(target=one))
                threads[-1].start()
            deadline = threading.Event()
            deadline.wait(2.0)
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop(handle)
    assert len(statuses) == 6 and 503 in statuses and 200 in statuses, statuses


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ReidkitError) as err:
            bind("127.0.0.1", port)
    message = str(err.value)
    assert "\n" not in message and f"127.0.0.1:{port}" in message and "--port 0" in message


@pytest.mark.parametrize("host", ["999.1.1.1", "not a host", ""])
def test_a_host_that_is_not_one_says_so_not_the_port(host: str) -> None:
    with pytest.raises(ReidkitError) as err:
        bind(host, 0)
    message = str(err.value)
    assert "\n" not in message and "--host" in message and "--port" not in message


def test_hosts_accepted_by_bind_address() -> None:
    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("192.168.1.5") == {"192.168.1.5"}
    assert allowed_hosts("0.0.0.0") is None  # any name: the token guards it
    assert is_loopback("::1") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


def test_serve_off_loopback_generates_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    from reidkit.app import server

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: seen.update(sockets=sockets))
    config = ServeConfig(library=tmp_path / "lib", host="0.0.0.0", port=0)
    server.serve(config, on_ready=lambda url, token: seen.update(url=url, token=token))
    assert isinstance(seen["token"], str) and len(seen["token"]) >= 24  # type: ignore[arg-type]
    assert str(seen["url"]).startswith("http://0.0.0.0:")


def test_stalled_connections_do_not_block_others(library_dir: tuple[Path, Path], tmp_path: Path) -> None:
    """Connections that never finish their request hold no thread; past the limit, requests get 503."""
    config = ServeConfig(library=library_dir[0], upload_dir=tmp_path / "up", max_connections=20)
    _state, url, handle = start(config, detector=BlobDetector(), embedder=ColourEmbedder())
    host, port = url.removeprefix("http://").split(":")
    stalled = []
    try:
        for _ in range(30):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends its headers
            stalled.append(sock)
        with httpx.Client(base_url=url, timeout=10) as client:
            status = client.get("/api/status").status_code
        assert status == 503  # past the connection limit: answered at once, not left hanging
    finally:
        for sock in stalled:
            sock.close()
        stop(handle)
