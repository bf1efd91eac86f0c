"""``reidkit serve``: the web app over one library, on FastAPI and uvicorn (routes: docs/app.md).

The page (``reidkit/app/static``) is plain HTML, JavaScript and CSS served by this app: no build step, no
CDN. The JSON API under ``/api`` is described by the OpenAPI schema at ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import secrets
import socket
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi import Query as QueryParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from reidkit.app.cameras import Camera
from reidkit.app.state import AppState, Busy, ServeConfig, UserError, copy_stream
from reidkit.core.errors import ReidkitError
from reidkit.core.log import get_logger
from reidkit.search.query import parse_box

log = get_logger(__name__)

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
SMALL_BODY = 1 << 20  # JSON bodies


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------ guard
class Guard:
    """ASGI middleware: Host check (DNS rebinding), bearer token off loopback, Origin check (CSRF) for
    state-changing requests, and a body size limit per route, before any route runs."""

    def __init__(self, app: Any, state: AppState, allowed_hosts: set[str] | None):
        self.app = app
        self.state = state
        self.allowed_hosts = allowed_hosts  # None: any Host (a wildcard bind; the token guards it)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        host = headers.get("host", "")
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            await _deny(send, 421, "this server answers only to its own address (Host header refused)")
            return
        origin = headers.get("origin")
        if origin is not None and (origin == "null" or _netloc(origin) != host.lower()):
            await _deny(send, 403, "requests from other web sites are refused")
            return
        site = headers.get("sec-fetch-site")
        if method in STATE_CHANGING and site not in (None, "same-origin", "none"):
            await _deny(send, 403, "requests from other web sites are refused")
            return
        token = self.state.config.token
        set_cookie = False
        if token is not None:
            given = _bearer(headers) or _cookie(headers, "reidkit_token")
            query_token = _query_param(scope, "token")
            if given is None and query_token is not None and method == "GET":
                given, set_cookie = query_token, True
            if given is None or not hmac.compare_digest(given, token):
                await _deny(send, 401, "this server needs its access token (printed when it started)")
                return
        length = headers.get("content-length")
        limit = self._body_limit(scope["path"])
        if length is not None:
            if not length.isdigit():
                await _deny(send, 400, "bad Content-Length header")
                return
            if int(length) > limit:
                await _deny(send, 413, self._too_large(scope["path"]))
                return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        async def send_with_cookie(message: Any) -> None:
            if set_cookie and message["type"] == "http.response.start":
                cookie = f"reidkit_token={token}; HttpOnly; SameSite=Strict; Path=/"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_cookie)
        except _TooLarge:
            await _deny(send, 413, self._too_large(scope["path"]))

    def _too_large(self, path: str) -> str:
        # The limit the user set (--max-upload-mb, --max-media-mb), not the body's, which adds room for
        # the form around the file.
        body = self._body_limit(path)
        limit = body - SMALL_BODY if body > SMALL_BODY else body
        return f"the file is larger than this server's limit of {limit >> 20} MB"

    def _body_limit(self, path: str) -> int:
        config = self.state.config
        if path == "/api/library/upload":
            return config.max_media_bytes + SMALL_BODY
        if path in ("/api/photos", "/api/search"):
            return config.max_photo_bytes + SMALL_BODY
        return SMALL_BODY


class _TooLarge(Exception):
    pass


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _netloc(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else None


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _query_param(scope: dict[str, Any], name: str) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[-1] if values else None


async def _deny(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------- models
class Error(BaseModel):
    error: str


class NewQuery(BaseModel):
    upload_id: str | None = Field(None, max_length=32, pattern=r"^[0-9a-f]+$")
    box: list[float] | None = Field(None, min_length=4, max_length=4)
    tracklet_id: int | None = Field(None, ge=1, le=2**62)
    person_id: int | None = Field(None, ge=1, le=2**62)


class AddPhoto(BaseModel):
    upload_id: str = Field(..., max_length=32, pattern=r"^[0-9a-f]+$")
    box: list[float] | None = Field(None, min_length=4, max_length=4)


class Feedback(BaseModel):
    tracklets: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(..., min_length=1, max_length=200)
    verdict: Literal["confirm", "reject", "clear"]


class AddPath(BaseModel):
    path: str = Field(..., min_length=1, max_length=4096)
    stride: int | None = Field(None, ge=1, le=100)


class AddCamera(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    source: str = Field(
        ...,
        min_length=1,
        max_length=4096,
        description="rtsp:// or http(s):// URL, device number, or video file",
    )
    # The range is checked by the cameras (a 400 saying it), not here (a bare 422).
    segment_seconds: float = Field(60.0, description="1 to 3600 s")
    keep_hours: float | None = Field(
        None, gt=0, le=24 * 366, description="remove older segments (None: keep all)"
    )


class SavePerson(BaseModel):
    query_id: str = Field(..., max_length=32, pattern=r"^[0-9a-f]+$")
    name: str = Field(..., min_length=1, max_length=200)


class Rename(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)


Id = Annotated[int, PathParam(ge=1, le=2**62)]
Key = Annotated[str, PathParam(max_length=32, pattern=r"^[0-9a-f]+$")]
Top = Annotated[int, QueryParam(ge=1, le=200, description="at most this many moments")]
MinScore = Annotated[float | None, QueryParam(ge=-1.0, le=1.0, description="drop moments scoring below")]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error} for code in (400, 401, 403, 404, 409, 410, 413, 421, 422, 501, 503)
}


def _box(values: list[float] | None) -> tuple[float, float, float, float] | None:
    if values is None:
        return None
    try:
        return parse_box(",".join(repr(float(v)) for v in values))
    except ValueError:
        raise UserError("the box needs four finite numbers x1, y1, x2, y2 in photo pixels") from None


def _box_text(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_box(text)
    except ValueError:
        raise UserError("the box needs four finite numbers x1,y1,x2,y2 in photo pixels") from None


def _camera_or_404(camera: Camera | None, camera_id: int) -> Camera:
    if camera is None:
        raise UserError(f"no camera {camera_id}", 404)
    return camera


def _static(name: str) -> bytes:
    return resources.files("reidkit.app").joinpath("static", name).read_bytes()


# How the page's fields are named at the start of a message; others by their own name.
_FIELD_WORDS = {
    "name": "The name",
    "path": "The path",
    "source": "The camera's source",
    "query_id": "The search link",
    "segment_seconds": "The segment length",
}


def _plain_validation(exc: RequestValidationError) -> str:
    """A request's validation errors in the words of the page: "Type the name." rather than pydantic's
    "name: String should have at least 1 character"."""
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "form"))
        field, kind, ctx = (
            _FIELD_WORDS.get(where, where or "The request"),
            error.get("type", ""),
            error.get("ctx") or {},
        )
        if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
            parts.append(f"{field} is empty: type it first")
        elif kind == "string_too_long":
            parts.append(f"{field} is too long: at most {ctx.get('max_length')} characters")
        elif kind == "string_pattern_mismatch":
            parts.append(f"{field} is not valid here (was it copied whole?)")
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            bound = {
                "greater_than_equal": "at least",
                "greater_than": "more than",
                "less_than_equal": "at most",
                "less_than": "less than",
            }[kind]
            limit = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
            parts.append(f"{field} must be {bound} {limit}")
        else:
            message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "bad request"


# ------------------------------------------------------------------------------------------- app
def create_app(state: AppState) -> FastAPI:
    """The FastAPI app over ``state`` (routes are documented in docs/app.md and /openapi.json)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="reidkit",
        version="1",
        description="Find a person in your videos and photos from one photo.",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page loads its assets from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )

    @app.exception_handler(UserError)
    async def user_error(_request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(Busy)
    async def busy(_request: Request, _exc: Busy) -> JSONResponse:
        return JSONResponse(
            {"error": "the server is busy; try again in a moment"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(ReidkitError)
    async def reidkit_error(_request: Request, exc: ReidkitError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _plain_validation(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def server_error(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse({"error": "something went wrong on the server (see its log)"}, status_code=500)

    # ----------------------------------------------------------------------------------- page
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> HTMLResponse:
        return HTMLResponse(_static("index.html"), headers=_page_headers())

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        suffix = Path(name).suffix
        if name not in ("app.js", "app.css", "icon.svg") or suffix not in types:
            raise UserError("no such file", 404)
        return Response(_static(name), media_type=types[suffix], headers={"Cache-Control": "no-cache"})

    # -------------------------------------------------------------------------------- library
    @app.get("/api/status", responses=ERRORS)
    def status() -> dict[str, Any]:
        library = state.library()
        return {
            "library": state.root.name,
            "model": library.model if library is not None else None,
            # the adapted model its verdicts are judged with (reidkit adapt), or None
            "verdict_model": head.model if library is not None and (head := library.verdict_head) else None,
            "media": len(library.media_list()) if library is not None else 0,
            "tracklets": len(library) if library is not None else 0,
            "busy": state.worker.busy(),
            "add_by_path": bool(state.allow_roots),
            "allow_roots": [str(r) for r in state.allow_roots],  # as the user gave them: a path to type
            "max_photo_mb": state.config.max_photo_bytes >> 20,
            "max_media_mb": state.config.max_media_bytes >> 20,
        }

    @app.get("/api/library", responses=ERRORS)
    def library_view() -> dict[str, Any]:
        return {"media": state.media_list(), "jobs": [j.to_dict() for j in state.worker.jobs()]}

    @app.post("/api/library/paths", responses=ERRORS)
    def add_path(body: AddPath) -> dict[str, Any]:
        path = state.allowed_path(body.path)
        jobs = state.add_media_path(path, body.stride)
        return {"jobs": [j.to_dict() for j in jobs]}

    @app.post("/api/library/upload", responses=ERRORS)
    def upload_media(
        file: Annotated[UploadFile, File(description="a video or photo")],
        stride: Annotated[int | None, Form(ge=1, le=100)] = None,
    ) -> dict[str, Any]:
        from reidkit.media import is_media

        name = Path(file.filename or "upload").name[:200] or "upload"
        if not is_media(name):
            raise UserError(f"{name} is not a video or photo file (by its name)", 415)
        folder = state.media_folder()
        partial = folder / f".upload-{secrets.token_hex(6)}"
        copy_stream(file.file, partial, state.config.max_media_bytes, name)
        target = folder / name
        n = 1
        while target.exists():
            target = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
            n += 1
        partial.replace(target)
        job = state.worker.submit("index", name, path=str(target), stride=stride, copied=True)
        return {"jobs": [job.to_dict()]}

    @app.post("/api/library/adapt", responses=ERRORS)
    def adapt() -> dict[str, Any]:
        return {"jobs": [state.adapt().to_dict()]}

    @app.delete("/api/library/media/{media_id}", responses=ERRORS)
    def remove_media(media_id: Id) -> dict[str, Any]:
        return {"jobs": [state.remove_media(media_id).to_dict()]}

    @app.get("/api/cameras", responses=ERRORS)
    def cameras() -> list[dict[str, Any]]:
        return [c.to_dict() for c in state.cameras.all()]

    @app.post("/api/cameras", responses=ERRORS)
    def add_camera(body: AddCamera) -> dict[str, Any]:
        name = " ".join(body.name.split())
        if not name:
            raise UserError("give the camera a name")
        source = state.camera_source(body.source)
        return state.cameras.add(name, source, body.segment_seconds, body.keep_hours).to_dict()

    @app.get("/api/cameras/{camera_id}/preview", responses=ERRORS)
    def camera_preview(camera_id: Id, people: bool = False) -> Response:
        """The camera's newest frame (JPEG), for the page's live preview; with ``people`` the people in
        it are boxed, the watchlist's named, and listed in the ``X-Reidkit-People`` header (JSON)."""
        data, boxes = state.camera_preview(camera_id, people)
        headers = {"Cache-Control": "no-store"}
        if people:
            headers["X-Reidkit-People"] = json.dumps([b.to_dict() for b in boxes])
        return Response(data, media_type="image/jpeg", headers=headers)

    @app.post("/api/cameras/{camera_id}/stop", responses=ERRORS)
    def stop_camera(camera_id: Id) -> dict[str, Any]:
        """Stop recording and keep the camera, stopped (not started again with the server)."""
        return _camera_or_404(state.cameras.stop(camera_id), camera_id).to_dict()

    @app.post("/api/cameras/{camera_id}/start", responses=ERRORS)
    def start_camera(camera_id: Id) -> dict[str, Any]:
        """Start a stopped, finished or failed camera again (a file plays again from its start)."""
        return _camera_or_404(state.cameras.start(camera_id), camera_id).to_dict()

    @app.delete("/api/cameras/{camera_id}", responses=ERRORS)
    def remove_camera(camera_id: Id) -> dict[str, Any]:
        return _camera_or_404(state.cameras.remove(camera_id), camera_id).to_dict()

    @app.get("/api/jobs", responses=ERRORS)
    def jobs() -> list[dict[str, Any]]:
        return [j.to_dict() for j in state.worker.jobs()]

    @app.get("/api/jobs/{job_id}", responses=ERRORS)
    def job(job_id: Id) -> dict[str, Any]:
        found = state.worker.job(job_id)
        if found is None:
            raise UserError(f"no job {job_id}", 404)
        return found.to_dict()

    @app.post("/api/jobs/{job_id}/cancel", responses=ERRORS)
    def cancel(job_id: Id) -> dict[str, Any]:
        found = state.worker.cancel(job_id)
        if found is None:
            raise UserError(f"no job {job_id}", 404)
        return found.to_dict()

    @app.get("/api/events", responses=ERRORS, response_class=StreamingResponse)
    async def events(request: Request, once: bool = False) -> StreamingResponse:
        """Server-sent events: ``jobs`` (every job, on each change) and a comment every 15 s."""

        async def stream() -> Any:
            version = -1
            idle = 0.0
            while True:
                if state.worker.version != version:
                    version = state.worker.version
                    data = json.dumps([j.to_dict() for j in state.worker.jobs()])
                    yield f"event: jobs\ndata: {data}\n\n"
                    idle = 0.0
                    if once:
                        return
                elif idle >= 15:
                    yield ": keep-alive\n\n"
                    idle = 0.0
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)
                idle += 0.25

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    # ---------------------------------------------------------------------------------- media
    @app.get("/api/media/{media_id}/video", responses=ERRORS, response_class=FileResponse)
    def video(media_id: Id) -> FileResponse:
        """The video as browser-playable H.264 mp4; answers Range requests (206)."""
        return FileResponse(state.playable(media_id), media_type="video/mp4")

    @app.get("/api/media/{media_id}/image", responses=ERRORS, response_class=FileResponse)
    def image(media_id: Id) -> FileResponse:
        """An indexed photo, as it is on disk."""
        import mimetypes

        path = state.photo_file(media_id)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if not kind.startswith("image/"):
            kind = "application/octet-stream"
        return FileResponse(path, media_type=kind, headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/api/media/{media_id}/clip", responses=ERRORS, response_class=FileResponse)
    def clip(
        media_id: Id,
        start: Annotated[float, QueryParam(ge=0, le=1e7)],
        end: Annotated[float, QueryParam(ge=0, le=1e7)],
    ) -> FileResponse:
        """An mp4 clip of ``start``..``end`` seconds of the video (a download)."""
        path = state.clip(media_id, start, end)
        name = Path(state.media_record(media_id).path).stem
        return FileResponse(path, media_type="video/mp4", filename=f"{name}-{start:.1f}-{end:.1f}.mp4")

    @app.get("/api/tracklets/{tracklet_id}/thumbnail", responses=ERRORS, response_class=FileResponse)
    def thumbnail(tracklet_id: Id) -> FileResponse:
        return FileResponse(state.thumbnail(tracklet_id), media_type="image/jpeg")

    @app.get("/api/boxes", responses=ERRORS)
    def boxes(
        tracklets: Annotated[str, QueryParam(max_length=2000, pattern=r"^\d{1,18}(,\d{1,18})*$")],
    ) -> list[dict[str, Any]]:
        """The stored boxes of tracklets (comma-separated ids), with their times in seconds."""
        return state.boxes([int(t) for t in tracklets.split(",")])

    @app.get("/api/people", responses=ERRORS)
    def library_people() -> list[dict[str, Any]]:
        """The people found in the library's footage (reidkit.search.people), first appearance first."""
        return state.library_people()

    # ---------------------------------------------------------------------------------- query
    def _photo_info(upload: Any) -> dict[str, Any]:
        return {
            "upload_id": upload.id,
            "name": upload.name,
            "width": upload.width,
            "height": upload.height,
            "people": [list(b) for b in upload.people],
            "crop_like": upload.crop_like,
            "url": f"/api/photos/{upload.id}",
        }

    async def _read_photo(photo: UploadFile) -> tuple[str, bytes]:
        data = await photo.read(state.config.max_photo_bytes + 1)
        return Path(photo.filename or "photo").name, data

    @app.post("/api/photos", responses=ERRORS)
    async def add_photo_upload(
        photo: Annotated[UploadFile, File(description="a photo of a person or scene")],
    ) -> dict[str, Any]:
        """Upload a query photo; answers the people detected in it (boxes) to pick one from."""
        name, data = await _read_photo(photo)
        upload = await asyncio.to_thread(state.add_upload, name, data)
        return _photo_info(upload)

    @app.get("/api/photos/{upload_id}", responses=ERRORS, response_class=FileResponse)
    def photo_image(upload_id: Key) -> FileResponse:
        return FileResponse(state.upload(upload_id).path, media_type="image/png")

    @app.post("/api/queries", responses=ERRORS)
    def new_query(body: NewQuery) -> dict[str, Any]:
        """Start a search from an uploaded photo (and a box), a library tracklet or a watchlist person."""
        if sum(x is not None for x in (body.upload_id, body.tracklet_id, body.person_id)) != 1:
            raise UserError("start a search from one of: upload_id, tracklet_id, person_id")
        query = state.new_query()
        if body.upload_id is not None:
            state.add_photo(query, state.upload(body.upload_id), _box(body.box))
        elif body.tracklet_id is not None:
            state.seed_from_tracklet(query, body.tracklet_id)
        elif body.person_id is not None:
            state.seed_from_person(query, body.person_id)
        return {"query_id": query.id}

    @app.post("/api/queries/{query_id}/photos", responses=ERRORS)
    def query_add_photo(query_id: Key, body: AddPhoto) -> dict[str, Any]:
        """Add another photo of the same person: the photos combine into one query."""
        query = state.query(query_id)
        state.add_photo(query, state.upload(body.upload_id), _box(body.box))
        return {"query_id": query.id, "photos": len(query.photos)}

    @app.get("/api/queries/{query_id}/photos/{index}", responses=ERRORS)
    def query_photo(query_id: Key, index: Annotated[int, PathParam(ge=0, le=100)]) -> Response:
        query = state.query(query_id)
        if index >= len(query.photos) or not query.photos[index].crop_jpeg:
            raise UserError("no such photo", 404)
        return Response(query.photos[index].crop_jpeg, media_type="image/jpeg")

    @app.get("/api/queries/{query_id}/results", responses=ERRORS)
    def results(query_id: Key, top: Top = 20, min_score: MinScore = None) -> dict[str, Any]:
        """The `reidkit search --json` document, with ``video_url`` and the page's fields per moment."""
        return state.search(state.query(query_id), top, min_score)

    @app.post("/api/queries/{query_id}/feedback", responses=ERRORS)
    def feedback(query_id: Key, body: Feedback) -> dict[str, Any]:
        """Confirm or reject a moment (its tracklets): confirmed ones join the query, rejected ones drop."""
        query = state.query(query_id)
        state.feedback(query, body.tracklets, body.verdict)
        return {"confirmed": sorted(query.confirmed), "rejected": sorted(query.rejected)}

    @app.get("/api/queries/{query_id}/export", responses=ERRORS)
    def export(
        query_id: Key, format: Literal["csv", "json"] = "csv", top: Top = 20, min_score: MinScore = None
    ) -> Response:
        """The result as a CSV or JSON download."""
        query = state.query(query_id)
        doc = state.search(query, top, min_score)
        stem = _safe_stem(query.name)
        if format == "json":
            return Response(
                state.export_json(doc),
                media_type="application/json",
                headers={"Content-Disposition": f'attachment; filename="{stem}.json"'},
            )
        return Response(
            state.export_csv(doc),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )

    @app.get("/api/queries/{query_id}/annotated", responses=ERRORS, response_class=FileResponse)
    def annotated(query_id: Key, top: Top = 20, min_score: MinScore = None, label: str = "") -> FileResponse:
        """One mp4 of the likely and confirmed moments (of the best video), the person's box drawn."""
        query = state.query(query_id)
        doc = state.search(query, top, min_score)
        path = state.annotated(doc, (label or query.name)[:40])
        return FileResponse(path, media_type="video/mp4", filename=f"{_safe_stem(query.name)}-annotated.mp4")

    @app.post("/api/search", responses=ERRORS)
    async def search(
        photo: Annotated[UploadFile, File(description="photo of the person: a crop or a scene")],
        top: Annotated[int, Form(ge=1, le=200)] = 20,
        box: Annotated[str | None, Form(max_length=200, description="x1,y1,x2,y2 in photo pixels")] = None,
        min_score: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
    ) -> dict[str, Any]:
        """One call: a photo in, the `reidkit search --json` document out (each moment with video_url)."""
        name, data = await _read_photo(photo)
        chosen = _box_text(box)

        def run() -> dict[str, Any]:
            with state.heavy():  # admitted once, before anything waits on the reader
                state.searchable()
                upload = state.add_upload(name, data)
                query = state.new_query()
                state.add_photo(query, upload, chosen)
                return state.search(query, top, min_score)

        return await asyncio.to_thread(run)

    # ------------------------------------------------------------------------------ watchlist
    @app.get("/api/watchlist", responses=ERRORS)
    def watchlist() -> list[dict[str, Any]]:
        return [p.public() for p in state.watchlist.people()]

    @app.post("/api/watchlist", responses=ERRORS)
    def save_person(body: SavePerson) -> dict[str, Any]:
        """Save a search as a named person, with its photos and confirmed moments."""
        try:
            return state.save_person(state.query(body.query_id), body.name).public()
        except ValueError as exc:
            raise UserError(str(exc)) from None

    @app.patch("/api/watchlist/{person_id}", responses=ERRORS)
    def rename(person_id: Id, body: Rename) -> dict[str, Any]:
        try:
            person = state.watchlist.rename(person_id, body.name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if person is None:
            raise UserError(f"no person {person_id} on the watchlist", 404)
        return person.public()

    @app.delete("/api/watchlist/{person_id}", responses=ERRORS)
    def delete_person(person_id: Id) -> dict[str, Any]:
        if not state.watchlist.delete(person_id):
            raise UserError(f"no person {person_id} on the watchlist", 404)
        return {"deleted": person_id}

    @app.get("/api/watchlist/{person_id}/photos/{index}", responses=ERRORS)
    def person_photo(person_id: Id, index: Annotated[int, PathParam(ge=0, le=100)]) -> Response:
        data = state.watchlist.photo(person_id, index)
        if data is None:
            raise UserError("no such photo", 404)
        return Response(data, media_type="image/jpeg")

    @app.get("/api/alerts", responses=ERRORS)
    def alerts() -> list[dict[str, Any]]:
        """Watchlist people found in media indexed since they were saved, newest first."""
        return state.alerts()

    return app


def _safe_stem(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(name or "result").stem)[:60]
    return stem.strip("-") or "result"


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
            "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


# ------------------------------------------------------------------------------------------ serve
def allowed_hosts(host: str) -> set[str] | None:
    """The Host header names accepted for a server bound to ``host`` (None: any, for 0.0.0.0 / ::)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    names = {"127.0.0.1", "localhost", "::1"} if is_loopback(host) else {host.lower()}
    return names | {host.lower()}


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; ReidkitError (one line) when the port is taken or refused."""
    if not host.strip():  # "" would bind every interface, and its URL would read http://:PORT/
        raise ReidkitError(
            "--host is empty", hint="pass --host 127.0.0.1 (this machine) or 0.0.0.0 (every interface)"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except socket.gaierror as exc:  # the name does not resolve: the host is wrong, not the port
        sock.close()
        raise ReidkitError(
            f"cannot serve on {host} ({exc.strerror or exc})",
            hint="pass --host an address of this machine: 127.0.0.1, 0.0.0.0, or its own IP or name",
        ) from None
    except OSError as exc:
        sock.close()
        raise ReidkitError(
            f"cannot serve on {host}:{port} ({exc.strerror or exc})",
            hint="pass another --port, or --port 0 to pick a free one",
        ) from None
    sock.set_inheritable(True)
    return sock


def _warm_up(state: AppState) -> None:
    """Load the models while the user opens the page, so that the first search does not wait for them."""
    try:
        if state.library() is not None:
            state.detector()
            state.embedder()
    except (ReidkitError, OSError) as exc:  # a missing model file: the first search says so in words
        log.info("models not loaded at start: %s", exc)


def guarded_app(state: AppState) -> Any:
    """The app with its guard (Host, token, Origin, body size) in front."""
    return Guard(create_app(state), state, allowed_hosts(state.config.host))


def serve(config: ServeConfig, on_ready: Callable[[str, str | None], None] | None = None) -> None:
    """Serve the app until interrupted (Ctrl+C or SIGTERM); uploads are deleted on the way out.

    Off loopback a bearer token is required: ``config.token``, or one generated here. ``on_ready`` gets the
    URL and that token.
    """
    import uvicorn

    if not is_loopback(config.host) and config.token is None:
        config.token = secrets.token_urlsafe(24)
    sock = bind(config.host, config.port)
    port = sock.getsockname()[1]
    state = AppState(config)
    app = Guard(create_app(state), state, allowed_hosts(config.host))
    threading.Thread(target=_warm_up, args=(state,), name="reidkit-warm-up", daemon=True).start()
    uv = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        limit_concurrency=config.max_connections,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=3,
        lifespan="on",
    )
    server = uvicorn.Server(uv)
    shown = config.host if ":" not in config.host else f"[{config.host}]"
    if on_ready is not None:
        on_ready(f"http://{shown}:{port}/", config.token)
    try:
        server.run(sockets=[sock])
    finally:
        state.close()  # also when the lifespan never ran (an error before startup)
        sock.close()
