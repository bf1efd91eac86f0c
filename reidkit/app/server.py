"""A small local web app over one library: upload a photo (or pick a person) -> a timeline of moments.

Standard library only (``http.server``), bound to 127.0.0.1: it serves the user's own footage to the
user's own browser and is not meant to face a network.

Routes::

    GET  /                      upload form and the people in the library (reidkit.search.people)
    POST /upload                raw image bytes in the body -> {"url": "/search?upload=<id>"}
    GET  /search?upload=<id>    results for an uploaded photo   (&top=20&min_score=0.5&box=x1,y1,x2,y2)
    GET  /search?tracklet=<id>  results for a person already in the library
    GET  /api/search?...        the same results as the `reidkit search --json` document
    GET  /thumb/<tracklet id>   a library thumbnail;  GET /query/<key>  a query crop
"""

from __future__ import annotations

import hashlib
import html
import json
import tempfile
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from reidkit.core.errors import ReidkitError
from reidkit.core.log import get_logger
from reidkit.core.types import Detector, Embedder
from reidkit.search import SearchResult, find_person, find_tracklet, open_library, parse_box
from reidkit.search.engine import embedder_for
from reidkit.search.people import people
from reidkit.search.report import page, render_results

if TYPE_CHECKING:
    from reidkit.index.library import Library

log = get_logger(__name__)

MAX_UPLOAD = 25 * 1024 * 1024
GALLERY_SIZE = 120

APP_CSS = """
.upload { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:20px 22px; }
.upload h1 { margin:0 0 6px; font-size:22px; }
.upload p { margin:0 0 14px; color:var(--muted); }
.drop { display:block; border:2px dashed var(--line); border-radius:10px; padding:26px; text-align:center;
        cursor:pointer; color:var(--muted); }
.drop:hover, .drop.over { border-color:var(--accent); color:var(--accent); }
.drop input { display:none; }
.status { margin-top:10px; min-height:20px; font-size:14px; }
.status.error { color:#cf222e; }
.people { display:grid; grid-template-columns:repeat(auto-fill,minmax(84px,1fr)); gap:10px; }
.people a { display:block; background:#0d1117; border-radius:8px; overflow:hidden; color:var(--muted);
            text-decoration:none; font-size:12px; text-align:center; }
.people a:hover { outline:3px solid var(--accent); }
.people img { width:100%; height:130px; object-fit:contain; display:block; }
nav { margin-bottom:16px; font-size:14px; } nav a { color:var(--accent); text-decoration:none; }
"""

UPLOAD_JS = """
const input = document.getElementById('photo'), drop = document.querySelector('.drop'),
      status = document.querySelector('.status');
async function send(file) {
  status.className = 'status'; status.textContent = 'Searching…';
  const box = document.getElementById('box').value.trim();
  const r = await fetch('/upload' + (box ? '?box=' + encodeURIComponent(box) : ''),
                        {method: 'POST', body: file, headers: {'Content-Type': file.type || 'application/octet-stream'}});
  const data = await r.json();
  if (r.ok) { location.href = data.url; } else { status.className = 'status error'; status.textContent = data.error; }
}
input.addEventListener('change', () => input.files[0] && send(input.files[0]));
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => { e.preventDefault(); drop.classList.remove('over');
  e.dataTransfer.files[0] && send(e.dataTransfer.files[0]); });
"""


class SearchApp:
    """The app's state: one library, the query photos uploaded so far, and the models (loaded once)."""

    def __init__(
        self,
        library: str | Path | Library,
        *,
        detector: Detector | None = None,
        embedder: Embedder | None = None,
        upload_dir: str | Path | None = None,
    ):
        self.library = open_library(library)
        self.detector = detector
        self.embedder = embedder
        self._tmp = None if upload_dir else tempfile.TemporaryDirectory(prefix="reidkit-app-")
        self.upload_dir = Path(upload_dir or self._tmp.name)  # type: ignore[union-attr]
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        # One search at a time: the ONNX sessions already use every core, and the library's SQLite
        # connection belongs to one thread at a time.
        self.lock = threading.Lock()
        self.crops: dict[str, bytes] = {}  # query key -> JPEG of the query crop
        self._recent: dict[tuple[tuple[str, str], ...], tuple[SearchResult, str]] = {}

    # -- actions -------------------------------------------------------------------------------
    def save_upload(self, data: bytes) -> str:
        key = hashlib.sha1(data).hexdigest()[:16]
        (self.upload_dir / f"{key}.img").write_bytes(data)
        return key

    def search(self, params: dict[str, str]) -> tuple[SearchResult, str]:
        """Run the search a query string describes; returns the result and the query image's URL."""
        key = tuple(sorted(params.items()))
        if key not in self._recent:
            if len(self._recent) >= 32:
                self._recent.pop(next(iter(self._recent)))
            self._recent[key] = self._search(params)
        return self._recent[key]

    def _search(self, params: dict[str, str]) -> tuple[SearchResult, str]:
        top = int(params.get("top") or 20)
        min_score = float(params["min_score"]) if params.get("min_score") else None
        with self.lock:
            if "tracklet" in params:
                result = find_tracklet(self.library, int(params["tracklet"]), top, min_score=min_score)
                return result, f"/thumb/{int(params['tracklet'])}"
            key = params.get("upload", "")
            photo = self.upload_dir / f"{key}.img"
            if not key.isalnum() or not photo.is_file():
                raise ReidkitError(
                    "that upload is gone (the app was restarted?)", hint="upload the photo again"
                )
            box = parse_box(params["box"]) if params.get("box") else None
            result = find_person(
                photo,
                self.library,
                top,
                box,
                min_score=min_score,
                detector=self.detector,
                embedder=self.embedder,
            )
            crop_key = f"{key}-{params.get('box', '')}"
            if result.query_crop is not None:
                import cv2

                self.crops[crop_key] = cv2.imencode(".jpg", result.query_crop)[1].tobytes()
            return result, f"/query/{crop_key}"

    def thumbnail(self, tracklet_id: int) -> bytes | None:
        with self.lock:
            try:
                record = self.library.tracklet(tracklet_id)
            except KeyError:
                return None
        path = Path(self.library.root) / record.thumbnail
        return path.read_bytes() if path.is_file() else None

    # -- pages ---------------------------------------------------------------------------------
    def home_page(self) -> str:
        with self.lock:
            found = people(self.library)
            n_media = len(self.library.media_list())
        # A tile searches with the person's best tracklet, the view most like all their visits.
        tiles = "".join(
            f'<a href="/search?tracklet={p.best_tracklet}" title="person {p.id}">'
            f'<img src="/thumb/{p.best_tracklet}" alt="person {p.id}" loading="lazy">'
            f"{p.visits} visit{'s' if p.visits != 1 else ''}, {p.videos} video{'s' if p.videos != 1 else ''}"
            + (f", {p.images} photo{'s' if p.images != 1 else ''}" if p.images else "")
            + "</a>"
            for p in found[:GALLERY_SIZE]
        )
        body = (
            '<section class="upload"><h1>Find a person</h1>'
            f"<p>{len(found)} people in {n_media} files, model "
            f"<code>{html.escape(self.library.model)}</code>. Upload a photo of the person, or click "
            "someone below.</p>"
            '<label class="drop"><input type="file" id="photo" accept="image/*">'
            "Drop a photo here or click to choose one</label>"
            '<p style="margin:10px 0 0"><input id="box" placeholder="optional box x1,y1,x2,y2" size="26"></p>'
            '<div class="status"></div></section>'
            f'<h2>People in the library</h2><div class="people">{tiles}</div>'
            f"<script>{UPLOAD_JS}</script>"
        )
        return page("reidkit", body, f"<style>{APP_CSS}</style>")

    def results_page(self, result: SearchResult, query_src: str) -> str:
        def image_src(_rank: int, m: Any) -> str:
            return f"/thumb/{m.best_tracklet}"

        body = '<nav><a href="/">← new search</a></nav>' + render_results(result, image_src, query_src)
        return page(f"reidkit: {Path(result.query).name}", body, f"<style>{APP_CSS}</style>")

    def error_page(self, message: str) -> str:
        body = f'<nav><a href="/">← back</a></nav><div class="empty">{html.escape(message)}</div>'
        return page("reidkit: error", body, f"<style>{APP_CSS}</style>")


def make_handler(app: SearchApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "reidkit"

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            route = url.path.rstrip("/") or "/"
            if route == "/":
                self._send(HTTPStatus.OK, app.home_page())
            elif route in ("/search", "/api/search"):
                self._search(params, as_json=route == "/api/search")
            elif route.startswith("/thumb/") and route[7:].isdigit():
                self._image(app.thumbnail(int(route[7:])))
            elif route.startswith("/query/"):
                self._image(app.crops.get(route[7:]))
            else:
                self._send(HTTPStatus.NOT_FOUND, app.error_page(f"no page at {url.path}"))

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/upload":
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint at {url.path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_UPLOAD:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "send one image of at most 25 MB"})
                return
            key = app.save_upload(self.rfile.read(length))
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            query = f"upload={key}" + (f"&box={params['box']}" if params.get("box") else "")
            search = {"upload": key, **({"box": params["box"]} if params.get("box") else {})}
            try:  # search now so that a photo without a person is reported on the upload page
                app.search(search)
            except (ReidkitError, ValueError) as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            self._json(HTTPStatus.OK, {"url": f"/search?{query}"})

        def _search(self, params: dict[str, str], as_json: bool) -> None:
            try:
                result, query_src = app.search(params)
            except (ReidkitError, ValueError) as exc:
                if as_json:
                    self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                else:
                    self._send(HTTPStatus.BAD_REQUEST, app.error_page(str(exc)))
                return
            if as_json:
                self._json(HTTPStatus.OK, result.to_dict())
            else:
                self._send(HTTPStatus.OK, app.results_page(result, query_src))

        def _image(self, data: bytes | None) -> None:
            if data is None:
                self._send(HTTPStatus.NOT_FOUND, app.error_page("no such image"))
                return
            self._send(HTTPStatus.OK, data, "image/jpeg")

        def _json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
            self._send(status, json.dumps(data), "application/json")

        def _send(self, status: HTTPStatus, body: str | bytes, content_type: str = "text/html") -> None:
            payload = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(status)
            charset = "; charset=utf-8" if isinstance(body, str) else ""
            self.send_header("Content-Type", content_type + charset)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def make_server(app: SearchApp, port: int = 8000, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server for ``app`` on ``host:port`` (port 0 picks a free one); call ``serve_forever()``."""
    server = ThreadingHTTPServer((host, port), make_handler(app))
    server.daemon_threads = True
    return server


def serve(
    library: str | Path | Library,
    port: int = 8000,
    *,
    model: str | Path | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``library`` on http://127.0.0.1:port until interrupted.

    ``model`` (a .onnx path) is needed only when the library was indexed with an unregistered model file.
    """
    app = SearchApp(library)
    if model is not None:
        app.embedder = embedder_for(app.library, model)
    try:
        server = make_server(app, port)
    except OSError as exc:  # the port is taken (EADDRINUSE) or reserved (EACCES below 1024)
        raise ReidkitError(
            f"cannot serve on 127.0.0.1:{port} ({exc.strerror or exc})",
            hint="pass another --port, or --port 0 to pick a free one",
        ) from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    if on_ready is not None:
        on_ready(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
