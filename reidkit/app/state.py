"""The app's state over one library: the reader, the models, query photos, queries with feedback, the writer.

Routes (reidkit.app.server) are thin: they check parameters and call :class:`AppState`. Everything kept
in memory is bounded (uploads, queries, results), and uploaded query photos live in a temporary folder
removed when the app stops.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reidkit.app.cameras import Cameras
from reidkit.app.jobs import Job, LibraryWorker
from reidkit.app.video import MAX_CLIP_SECONDS, Overlay, VideoCache, is_browser_playable, write_mp4
from reidkit.app.watchlist import WatchedPerson, Watchlist, clean_name
from reidkit.core.errors import LibraryError, MediaError, ReidkitError
from reidkit.core.log import get_logger
from reidkit.core.vectors import l2_normalise
from reidkit.media.camera import is_stream
from reidkit.media.recorded import iso_utc_or_none, local_text

if TYPE_CHECKING:
    from reidkit.app.live import LiveBox, Watched
    from reidkit.core.types import Detector, Embedder
    from reidkit.index.library import Library, MediaRecord, TrackletRecord
    from reidkit.search import Moment

log = get_logger(__name__)

APP_DIR = "app"  # inside the library folder: watchlist, alerts, playable-video cache, uploaded media
MAX_UPLOADS = 64  # query photos kept (oldest dropped)
MAX_QUERIES = 64
MAX_RESULTS = 32
MAX_PHOTOS_PER_QUERY = 8
MAX_FEEDBACK = 500
MAX_TOP = 200
# Query photos larger than this on their long side are shrunk on arrival: detection and the crop need no
# more, and a huge photo must not hold hundreds of megabytes per search.
MAX_PHOTO_SIDE = 2048


class UserError(Exception):
    """A problem with what the user sent, in plain words for the page; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class Busy(Exception):
    """More heavy requests waiting than the app queues: answered 503 with Retry-After."""


@dataclass
class ServeConfig:
    library: Path
    host: str = "127.0.0.1"
    port: int = 8000
    allow_roots: tuple[Path, ...] = ()
    model: str | None = None  # the .onnx file, when the library's model is not a registry name
    token: str | None = None  # required from clients when set (always set off loopback)
    max_photo_bytes: int = 25 << 20
    max_media_bytes: int = 4 << 30
    max_waiting: int = 64  # heavy requests (search, detection, export) queued before 503
    max_connections: int = 256
    cache_bytes: int = 4 << 30
    upload_dir: Path | None = None
    detector: str = "yolox-nano"


@dataclass
class Upload:
    id: str
    name: str  # the file's own name, as the user sent it
    path: Path
    width: int
    height: int
    people: list[tuple[float, float, float, float]]  # detected people boxes
    crop_like: bool


@dataclass
class QueryPhoto:
    name: str
    vector: np.ndarray
    crop_jpeg: bytes
    box: tuple[float, float, float, float]


@dataclass
class Query:
    id: str
    photos: list[QueryPhoto] = field(default_factory=list)
    seed_tracklets: list[int] = field(default_factory=list)  # a library person used as the query
    confirmed: set[int] = field(default_factory=set)  # tracklet ids
    rejected: set[int] = field(default_factory=set)
    name: str = ""
    created: float = field(default_factory=time.time)

    @property
    def feedback_key(self) -> tuple[Any, ...]:
        return (len(self.photos), tuple(sorted(self.confirmed)), tuple(sorted(self.rejected)))


def plain_error(exc: ReidkitError, name: str) -> str:
    """A reidkit error in the page's words: the user's own file name, no server paths, no CLI flags."""
    message = exc.message
    if "no person found" in message:
        return f"No person found in {name}. Upload a photo that shows the person whole, or a crop of them."
    if "too small to recognise" in message:
        return f"The person in {name} is too small to recognise. Upload a larger photo of them."
    if "outside" in message and "box" in message:
        return f"The box is outside {name}. Pick a person inside the photo."
    if "megapixels" in message:
        return f"{name} is too large ({message.split('(')[-1].rstrip(')')}). Upload a smaller copy."
    if "cannot decode image" in message or "cannot read" in message:
        return f"{name} is not an image this app can read (corrupt or unsupported). Upload a JPEG or PNG."
    return f"{name}: {message}"


class AppState:
    def __init__(
        self,
        config: ServeConfig,
        *,
        detector: Detector | None = None,
        embedder: Embedder | None = None,
        index_detector: Detector | None = None,
    ):
        """``detector`` finds people in query photos and ``embedder`` makes vectors (built from the
        library's model when None); ``index_detector`` indexes new media (None: ``config.detector`` built
        with the indexer's own options)."""
        self.config = config
        self.root = Path(config.library).expanduser().resolve()
        self.app_dir = self.root / APP_DIR
        self._detector = detector
        self._embedder = embedder
        self._tmp = (
            tempfile.TemporaryDirectory(prefix="reidkit-serve-") if config.upload_dir is None else None
        )
        self.upload_dir = Path(config.upload_dir or self._tmp.name)  # type: ignore[union-attr]
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.allow_roots = tuple(Path(r).expanduser().resolve() for r in config.allow_roots)
        self._closed = False
        # One reader at a time: a SQLite connection and the Faiss index are not shared across threads
        # mid-call, and the ONNX sessions already use every core. Heavy requests queue on this lock.
        self.read_lock = threading.RLock()
        self._model_lock = threading.Lock()
        self._reader: Library | None = None
        self._signature: tuple[Any, ...] | None = None
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self.export_lock = threading.Lock()
        self._admitted = threading.local()
        self.uploads: OrderedDict[str, Upload] = OrderedDict()
        self.queries: OrderedDict[str, Query] = OrderedDict()
        self._results: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._verified: dict[tuple[str, int, int], bool] = {}
        self._removing: dict[int, MediaRecord] = {}  # media id -> its record, while a job removes it
        # The live preview: per camera, the last frame looked at (frame, what it was matched against,
        # JPEG, boxes); and the watchlist people's thresholds for the library as it was (files signature
        # -> {(id, vector): threshold}).
        self._live: dict[int, tuple[np.ndarray, tuple[Any, ...], bytes, list[LiveBox]]] = {}
        self._live_lock = threading.Lock()
        self._thresholds: tuple[Any, dict[tuple[int, bytes], float]] = (None, {})
        self.videos = VideoCache(self.app_dir / "playable", config.cache_bytes)
        self.watchlist = Watchlist(self.app_dir)
        self.worker = LibraryWorker(
            self.root,
            embedder=self._index_embedder,
            on_done=self._after_job,
            detector=index_detector or config.detector,
        )
        self.cameras = Cameras(
            self.root,
            self.app_dir,
            submit=lambda name, path: self.worker.submit("index", name, path=str(path)),
            on_change=self.worker.changed,
            check_source=self.camera_source,
            expire=self._expire_segments,
        )
        self.cameras.restore()

    def close(self) -> None:
        """Stop the writer (a running job is cancelled) and delete the uploaded query photos."""
        if self._closed:
            return
        self._closed = True
        self.cameras.stop_all()  # their last segments are queued before the writer stops
        self.worker.stop()
        with self.read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        if self._tmp is not None:
            self._tmp.cleanup()
        else:
            for upload in self.uploads.values():
                upload.path.unlink(missing_ok=True)
        for partial in (self.app_dir / "media").glob(".upload-*"):
            partial.unlink(missing_ok=True)

    # ------------------------------------------------------------------------------------ admission
    @contextmanager
    def heavy(self, lock: Any = None) -> Iterator[None]:
        """Run heavy work one at a time under ``lock`` (searches and detection: the reader's lock; video
        exports: their own). Busy when ``max_waiting`` requests are already in flight; nested calls in
        one thread count once."""
        outermost = not getattr(self._admitted, "depth", 0)
        if outermost:
            with self._waiting_lock:
                if self._waiting >= self.config.max_waiting:
                    raise Busy()
                self._waiting += 1
        self._admitted.depth = getattr(self._admitted, "depth", 0) + 1
        try:
            with self.read_lock if lock is None else lock:
                yield
        finally:
            self._admitted.depth -= 1
            if outermost:
                with self._waiting_lock:
                    self._waiting -= 1

    # -------------------------------------------------------------------------------------- library
    def _files_signature(self) -> tuple[Any, ...]:
        out: list[tuple[int, int] | None] = []
        for name in ("library.sqlite", "library.sqlite-wal", "tracklets.faiss"):
            try:
                st = (self.root / name).stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def library(self) -> Library | None:
        """The current reader (reopened when the library changed on disk); None while there is none."""
        from reidkit.index.library import Library

        with self.read_lock:
            signature = self._files_signature()
            if signature != self._signature or self._reader is None:
                if signature[0] is None:
                    return None
                try:
                    reader = Library.open(self.root)
                except LibraryError as exc:
                    if "no model recorded" in str(exc):  # a first indexing run is creating it
                        return None
                    raise
                if self._reader is not None:
                    self._reader.close()
                self._reader, self._signature = reader, signature
            return self._reader

    def searchable(self) -> Library:
        library = self.library()
        if library is None or len(library) == 0:
            raise UserError("The library has nobody in it yet. Add a video or photos first.", 409)
        return library

    def detector(self) -> Detector:
        with self._model_lock:
            if self._detector is None:
                from reidkit.detect import build_detector

                self._detector = build_detector(self.config.detector)
            return self._detector

    def embedder(self) -> Embedder:
        """The embedder of the library's model (or the default one for a new library).

        Followed when it changes under a running server: ``reidkit adapt`` that removes the cameras' light
        re-embeds the library with its own model, and photos searched or files added after must be
        embedded by that one (an adapted model is found by name, with its sidecar)."""
        from reidkit.embed.factory import build_embedder

        with self._model_lock:
            library = self.library()
            current = library.model if library is not None and len(library) else None
            if self._embedder is None:
                self._embedder = build_embedder(self.config.model or current)
            elif current is not None and self._embedder.name != current:
                log.info("the library's model is now %s: loading it", current)
                self._embedder = build_embedder(current)
            return self._embedder

    def _index_embedder(self) -> Embedder:
        return self.embedder()

    def media_list(self) -> list[dict[str, Any]]:
        """The indexed files with their duration, tracklets, people found and status."""
        from reidkit.search.people import people

        library = self.library()
        if library is None:
            return []
        with self.heavy():
            media = library.media_list()
            counts: dict[int, int] = {}
            for record in library.tracklets():
                counts[record.media_id] = counts.get(record.media_id, 0) + 1
            found = people(library) if len(library) else []
        by_path: dict[str, set[int]] = {}
        for person in found:
            for moment in person.moments:
                by_path.setdefault(moment.media, set()).add(person.id)
        busy = {  # being removed: not a file being indexed, whose job holds its id only once done
            j.media_id for j in self.worker.jobs() if j.kind == "remove" and j.status in ("queued", "running")
        }
        out = []
        for m in media:
            available = Path(m.path).is_file()
            status = "being removed" if m.id in busy else "indexed" if available else "file missing"
            out.append(
                {
                    "id": m.id,
                    "name": Path(m.path).name,
                    "folder": Path(m.path).parent.name,  # tells apart two 000001.jpg of two cameras
                    "kind": m.kind,
                    "duration": round(m.duration, 3),
                    "fps": m.fps,
                    "width": m.width,
                    "height": m.height,
                    "tracklets": counts.get(m.id, 0),
                    "people": len(by_path.get(str(Path(m.path).resolve()), ())),
                    "status": status,
                    "available": available,
                    "video_url": f"/api/media/{m.id}/video" if m.kind == "video" else None,
                }
            )
        return out

    def media_record(self, media_id: int) -> MediaRecord:
        library = self.library()
        if library is None:
            raise UserError(f"no media {media_id} in the library", 404)
        with self.read_lock:
            try:
                return library.media(media_id)
            except KeyError:
                raise UserError(f"no media {media_id} in the library", 404) from None

    def tracklet(self, tracklet_id: int) -> TrackletRecord:
        library = self.library()
        if library is None:
            raise UserError(f"no tracklet {tracklet_id} in the library", 404)
        with self.read_lock:
            try:
                return library.tracklet(tracklet_id)
            except KeyError:
                raise UserError(f"no tracklet {tracklet_id} in the library", 404) from None

    def thumbnail(self, tracklet_id: int) -> Path:
        """A tracklet's thumbnail file, only when it lies inside the library's thumbs folder."""
        record = self.tracklet(tracklet_id)
        path = (self.root / record.thumbnail).resolve()
        if not path.is_relative_to(self.root / "thumbs") or not path.is_file():
            raise UserError("no such thumbnail", 404)
        return path

    def allowed_path(self, text: str) -> Path:
        """A server-side path the user may index: an existing file or folder under an allowed root."""
        if not self.allow_roots:
            raise UserError(
                "adding files by server path is off; start the server with --allow-root FOLDER", 403
            )
        if "\x00" in text or not text.strip():
            raise UserError("give the path of a video, photo or folder")
        path = Path(text.strip()).expanduser()
        if not path.is_absolute():  # relative to an allowed folder: the first in which it exists
            under = [root / path for root in self.allow_roots]
            path = next((p for p in under if p.exists()), under[0])
        path = path.resolve()
        if not any(path.is_relative_to(root) for root in self.allow_roots):
            raise UserError("that path is outside the folders this server may read", 403)
        if not path.exists():
            raise UserError(f"{path.name or text} does not exist", 404)
        return path

    def readable_media(self, record: MediaRecord) -> Path:
        """The media file, if the server may read it: inside the library or an allowed root, or with the
        content the library indexed (so an edited path in the database cannot serve other files)."""
        path = Path(record.path).resolve()
        if not path.is_file():
            raise UserError(f"{Path(record.path).name} is no longer on disk", 410)
        if path.is_relative_to(self.root) or any(path.is_relative_to(r) for r in self.allow_roots):
            return path
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._verified:
            from reidkit.media import content_hash

            if len(self._verified) > 1024:
                self._verified.clear()
            self._verified[key] = content_hash(path) == record.sha256
        if not self._verified[key]:
            raise UserError(f"{path.name} changed since it was indexed", 409)
        return path

    def photo_file(self, media_id: int) -> Path:
        """An indexed photo's file (same read rules as videos), for the page to show its people."""
        record = self.media_record(media_id)
        if record.kind != "image":
            raise UserError(f"media {media_id} is a video, not a photo", 404)
        return self.readable_media(record)

    def playable(self, media_id: int) -> Path:
        """A browser-playable mp4 of a video: the file itself, or its cached transcode (made once)."""
        record = self.media_record(media_id)
        if record.kind != "video":
            raise UserError(f"media {media_id} is a photo, not a video", 404)
        path = self.readable_media(record)
        if is_browser_playable(path):
            return path
        return self.videos.get(f"play-{record.sha256[:24]}", lambda t: write_mp4(path, t, record.fps))

    # ------------------------------------------------------------------------------------- uploads
    def add_upload(self, name: str, data: bytes) -> Upload:
        """Store and check a query photo, and detect the people in it."""
        import cv2

        from reidkit.media import read_image
        from reidkit.search.query import looks_like_person_crop

        name = Path(name or "photo").name[:120] or "photo"
        if not data:
            raise UserError(f"{name} is empty")
        if len(data) > self.config.max_photo_bytes:
            raise UserError(f"{name} is larger than {self.config.max_photo_bytes >> 20} MB", 413)
        upload_id = secrets.token_hex(8)
        path = self.upload_dir / f"{upload_id}.img"
        path.write_bytes(data)
        try:
            try:
                image = read_image(path)
            except MediaError as exc:
                raise UserError(plain_error(exc, name)) from None
            height, width = image.shape[:2]
            if max(height, width) > MAX_PHOTO_SIDE:
                scale = MAX_PHOTO_SIDE / max(height, width)
                image = cv2.resize(
                    image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
                )
                height, width = image.shape[:2]
            cv2.imwrite(str(path.with_suffix(".png")), image)
            path.unlink()
            path = path.with_suffix(".png")
            with self.heavy():
                boxes = self.detector().detect(image).boxes
            people = [tuple(round(float(v), 1) for v in b) for b in np.asarray(boxes).reshape(-1, 4)]
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        upload = Upload(upload_id, name, path, width, height, people, looks_like_person_crop(image))  # type: ignore[arg-type]
        self.uploads[upload_id] = upload
        while len(self.uploads) > MAX_UPLOADS:
            _, old = self.uploads.popitem(last=False)
            old.path.unlink(missing_ok=True)
        return upload

    def upload(self, upload_id: str) -> Upload:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise UserError(
                "that photo is gone (the server restarted or many were uploaded); upload it again", 404
            )
        return upload

    # ------------------------------------------------------------------------------------- queries
    def new_query(self) -> Query:
        query = Query(secrets.token_hex(8))
        self.queries[query.id] = query
        while len(self.queries) > MAX_QUERIES:
            self.queries.popitem(last=False)
        return query

    def query(self, query_id: str) -> Query:
        query = self.queries.get(query_id)
        if query is None:
            raise UserError("that search is gone (the server restarted); search again", 404)
        self.queries.move_to_end(query_id)
        return query

    def add_photo(self, query: Query, upload: Upload, box: tuple[float, float, float, float] | None) -> None:
        import cv2

        from reidkit.media import read_image
        from reidkit.search.query import select_person

        if len(query.photos) >= MAX_PHOTOS_PER_QUERY:
            raise UserError(f"a search combines at most {MAX_PHOTOS_PER_QUERY} photos")
        with self.heavy():
            library = self.searchable()
            image = read_image(upload.path)
            try:
                crop, chosen = select_person(image, self.detector(), box, name=upload.name)
            except MediaError as exc:
                raise UserError(plain_error(exc, upload.name)) from None
            embedder = self.embedder()
            if embedder.name != library.model:
                raise UserError(
                    f"the library was built with {library.model}, and this server loaded {embedder.name}", 409
                )
            vector = embedder.embed([crop])[0]
        jpeg = cv2.imencode(".jpg", crop)[1].tobytes()
        box_out = tuple(round(float(v), 1) for v in np.asarray(chosen).reshape(4))
        query.photos.append(QueryPhoto(upload.name, np.asarray(vector, np.float32), jpeg, box_out))  # type: ignore[arg-type]
        query.name = query.name or upload.name

    def seed_from_tracklet(self, query: Query, tracklet_id: int) -> None:
        record = self.tracklet(tracklet_id)
        query.seed_tracklets.append(record.id)
        query.name = query.name or f"person in {Path(self.media_record(record.media_id).path).name}"

    def seed_from_person(self, query: Query, person_id: int) -> None:
        person = self.watchlist.get(person_id)
        if person is None:
            raise UserError(f"no person {person_id} on the watchlist", 404)
        jpeg = self.watchlist.photo(person_id, 0) or b""
        query.photos.append(
            QueryPhoto(person.name, np.asarray(person.vector, np.float32), jpeg, (0, 0, 0, 0))
        )
        query.confirmed.update(person.confirmed)
        query.name = person.name

    def query_vector(self, query: Query, library: Library) -> np.ndarray:
        """The photos' vectors together with the confirmed moments' tracklets: the mean direction of
        their unit vectors (each tracklet's from its crop vectors), one unit vector."""
        vectors = [p.vector for p in query.photos]
        for tracklet_id in sorted(query.confirmed | set(query.seed_tracklets)):
            crops = library.crop_vectors(tracklet_id)
            if len(crops):
                vectors.append(_mean_direction(crops))
        if not vectors and query.seed_tracklets:
            raise UserError(
                "the person this search started from is no longer in the library (their file was "
                "removed); start a new search",
                410,
            )
        if not vectors:
            raise UserError("this search has no photo yet; add one")
        return _mean_direction(np.stack(vectors))

    def search(self, query: Query, top: int = 20, min_score: float | None = None) -> dict[str, Any]:
        """The `reidkit search --json` document for ``query``, with the page's extras per moment."""
        from reidkit.search import find_moments

        with self.heavy():
            library = self.searchable()
            key = (query.id, query.feedback_key, top, min_score, self._signature)
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
            vector = self.query_vector(query, library)
            moments, verdict, more_likely = find_moments(library, vector, top=top, min_score=min_score)
            doc = self._document(query, library, moments, verdict)
            doc["more_likely"] = more_likely
        self._results[key] = doc
        while len(self._results) > MAX_RESULTS:
            self._results.popitem(last=False)
        return doc

    def _document(
        self, query: Query, library: Library, moments: list[Moment], verdict: Any
    ) -> dict[str, Any]:
        root = self.root
        media_ids = {str(Path(m.path).resolve()): m.id for m in library.media_list()}
        ranked = [m for m in moments if not set(m.tracklet_ids) & query.rejected]
        ranked += [m for m in moments if set(m.tracklet_ids) & query.rejected]  # pushed down
        by_score = [m.score for m in ranked if not set(m.tracklet_ids) & query.rejected]
        out = []
        for m in ranked:
            entry = m.to_dict()
            media_id = media_ids.get(m.media)
            entry.update(
                media_id=media_id,
                name=Path(m.media).name,
                folder=m.folder,
                kind=m.kind,
                fps=m.fps,
                media_duration=round(m.media_duration, 3),
                best_tracklet=m.best_tracklet,
                thumbnail_url=f"/api/tracklets/{m.best_tracklet}/thumbnail",
                video_url=f"/api/media/{media_id}/video" if m.kind == "video" and media_id else None,
                image_url=f"/api/media/{media_id}/image" if m.kind == "image" and media_id else None,
                clip_url=(
                    f"/api/media/{media_id}/clip?start={m.start:.3f}&end={m.end:.3f}"
                    if m.kind == "video" and media_id
                    else None
                ),
                feedback=(
                    "confirmed"
                    if set(m.tracklet_ids) & query.confirmed
                    else "rejected"
                    if set(m.tracklet_ids) & query.rejected
                    else None
                ),
            )
            out.append(entry)
        notes = []
        if by_score != sorted(by_score, reverse=True):
            notes.append(
                f"Ranked by the library's own vectors (the photo with its best match), so a lower score can "
                f"rank higher; the score and verdict are {verdict.scored_by}'s, the model adapted to this library."
                if verdict.scored_by
                else "Ranked by the photo together with its best match (query expansion), so a lower score "
                "can rank higher; the score is the similarity to the photo."
            )
        if query.rejected and any(e["feedback"] == "rejected" for e in out):
            notes.append("Moments you marked “not this person” are listed last.")
        found = any(e["likely"] for e in out if e["feedback"] != "rejected")
        return {
            "query": query.name or "query",
            "model": library.model,
            "found": found,
            "verdict": verdict.to_dict(),
            "moments": out,
            "query_id": query.id,
            "order_notes": notes,
            "photos": [
                {"name": p.name, "url": f"/api/queries/{query.id}/photos/{i}", "box": list(p.box)}
                for i, p in enumerate(query.photos)
            ],
            "seed_tracklets": query.seed_tracklets,
            "confirmed": sorted(query.confirmed),
            "rejected": sorted(query.rejected),
            "library": str(root.name),
        }

    def feedback(self, query: Query, tracklets: list[int], verdict: str) -> None:
        ids = set(tracklets)
        if not ids:
            raise UserError("say which moment (its tracklets)")
        if len(query.confirmed | query.rejected | ids) > MAX_FEEDBACK:
            raise UserError(f"at most {MAX_FEEDBACK} moments can be marked in one search")
        for tracklet_id in sorted(ids):
            self.tracklet(tracklet_id)  # 404 for one the library does not hold
        query.confirmed -= ids
        query.rejected -= ids
        if verdict == "confirm":
            query.confirmed |= ids
        elif verdict == "reject":
            query.rejected |= ids

    # -------------------------------------------------------------------------------------- boxes
    def boxes(self, tracklet_ids: list[int]) -> list[dict[str, Any]]:
        out = []
        for tracklet_id in tracklet_ids[:64]:
            record = self.tracklet(tracklet_id)
            media = self.media_record(record.media_id)
            fps = media.fps or 1.0
            out.append(
                {
                    "tracklet": record.id,
                    "media_id": record.media_id,
                    "fps": fps,
                    "width": media.width,
                    "height": media.height,
                    "times": [round(int(f) / fps, 4) for f in record.frames],
                    "boxes": [[round(float(v), 1) for v in b] for b in record.boxes],
                }
            )
        return out

    # ------------------------------------------------------------------------------------- exports
    def export_csv(self, doc: dict[str, Any]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            ["rank", "media", "kind", "start", "end", "start_frame", "end_frame", "recorded_start",
             "recorded_end", "score", "likely", "probability", "feedback", "box"]
        )  # fmt: skip
        for rank, m in enumerate(doc["moments"], 1):
            writer.writerow(
                [rank, m["name"], m["kind"], m["start"], m["end"], m["start_frame"], m["end_frame"],
                 m["recorded_start"] or "", m["recorded_end"] or "", m["score"], m["likely"],
                 m["probability"], m["feedback"] or "", " ".join(map(str, m["box"]))]
            )  # fmt: skip
        return buffer.getvalue()

    def export_json(self, doc: dict[str, Any]) -> str:
        return json.dumps(doc, indent=2)

    def clip(self, media_id: int, start: float, end: float) -> Path:
        record = self.media_record(media_id)
        if record.kind != "video":
            raise UserError(f"media {media_id} is a photo, not a video", 404)
        if not (0 <= start < end) or end - start > MAX_CLIP_SECONDS:
            raise UserError(f"a clip needs 0 <= start < end and at most {MAX_CLIP_SECONDS:.0f} seconds")
        fps = record.fps or 25.0
        first, last = int(start * fps), min(int(np.ceil(end * fps)), max(0, record.frame_count - 1))
        if first > last:
            raise UserError("the clip starts after the end of the video")
        path = self.readable_media(record)
        key = f"clip-{record.sha256[:16]}-{first}-{last}"
        with self.heavy(self.export_lock):
            return self.videos.get(key, lambda t: write_mp4(path, t, fps, spans=[(first, last)]))

    def annotated(self, doc: dict[str, Any], label: str) -> Path:
        """One mp4 of the result's likely or confirmed moments, each person's box drawn (per video), and
        each frame's clock time in this computer's time zone where the video says when it was recorded."""
        chosen = [
            m for m in doc["moments"]
            if m["kind"] == "video" and m["media_id"] and m["feedback"] != "rejected"
            and (m["likely"] or m["feedback"] == "confirmed")
        ]  # fmt: skip
        if not chosen:
            photos = any(m["kind"] == "image" and m["likely"] for m in doc["moments"])
            raise UserError(
                "no video to export: the likely moments are all photos (export the CSV instead)"
                if photos
                else "nothing to export: no video moment is likely or confirmed (mark one ✓ yes first)",
                409,
            )
        media_id = chosen[0]["media_id"]
        moments = [m for m in chosen if m["media_id"] == media_id][:50]
        record = self.media_record(media_id)
        path = self.readable_media(record)
        fps = record.fps or 25.0
        spans = sorted((m["start_frame"], m["end_frame"]) for m in moments)
        tracks = []
        for m in moments:
            for tracklet_id in m["tracklets"]:
                t = self.tracklet(tracklet_id)
                tracks.append((t.frames, t.boxes, label[:40]))
        recorded = record.recorded_at
        caption = None if recorded is None else (lambda index: local_text(recorded + index / fps))
        digest = hashlib.sha1(
            json.dumps([spans, [m["tracklets"] for m in moments], label, recorded, time.tzname]).encode()
        ).hexdigest()
        key = f"annotated-{record.sha256[:12]}-{digest[:16]}"
        overlay = Overlay.from_tracks(tracks)
        with self.heavy(self.export_lock):
            return self.videos.get(
                key, lambda t: write_mp4(path, t, fps, spans=spans, overlay=overlay, caption=caption)
            )

    # -------------------------------------------------------------------------------- library changes
    def add_media_path(self, path: Path, stride: int | None) -> list[Job]:
        from reidkit.index.library import is_library_folder
        from reidkit.media import scan_media

        if path.is_dir():
            scan = scan_media([path], skip_folder=is_library_folder)
            files = [f for f in scan.files if f.resolve().is_relative_to(path)]
            if not files:
                raise UserError(f"no videos or photos in {path.name}")
        else:
            from reidkit.media import is_media

            if not is_media(path):
                raise UserError(f"{path.name} is not a video or photo file")
            files = [path]
        return [self.worker.submit("index", f.name, path=str(f), stride=stride) for f in files[:1000]]

    def camera_source(self, source: str) -> str:
        """A camera the user may add: a URL or a device number, or a video file under an allowed root."""
        text = source.strip()
        if is_stream(text):
            return text
        path = self.allowed_path(text)
        if not path.is_file():
            raise UserError(f"{path.name} is not a video file")
        return str(path)

    def camera_preview(self, camera_id: int, people: bool = True) -> tuple[bytes, list[LiveBox]]:
        """The camera's newest frame as a JPEG and, with ``people``, who is in it, boxed and drawn
        (:mod:`reidkit.app.live`); UserError 404 before its first frame. A frame is looked at once,
        however many pages ask; when searches keep the app busy the frame comes without boxes."""
        from reidkit.app.live import look, preview_jpeg

        frame = self.cameras.latest_frame(camera_id)
        if frame is None:
            raise UserError(f"no frame from camera {camera_id} yet", 404)
        if not people:
            return preview_jpeg(frame), []
        # The same frame, watchlist and library give the same boxes (a stopped camera's last frame).
        key = (self._signature, tuple((p.id, p.name, hash(tuple(p.vector))) for p in self.watchlist.people()))
        with self._live_lock:
            seen = self._live.get(camera_id)
        if seen is not None and seen[0] is frame and seen[1] == key:
            return seen[2], seen[3]
        try:
            with self.heavy():
                watched = self._watched()
                library = self.library()
                head = library.verdict_head if library is not None else None
                boxes = look(frame, self.detector(), self.embedder() if watched else None, watched, head)
        except Busy:
            return preview_jpeg(frame), []
        data = preview_jpeg(frame, boxes)
        with self._live_lock:
            self._live[camera_id] = (frame, key, data, boxes)
        return data, boxes

    def _watched(self, people: Sequence[WatchedPerson] | None = None) -> list[Watched]:
        """The watchlist (or ``people`` of it) as live frames and people tiles are matched against it:
        each person's vector and threshold, in the same order."""
        from reidkit.app.live import Watched
        from reidkit.search.engine import verdict_for
        from reidkit.search.verdict_space import VerdictSpace

        people = self.watchlist.people() if people is None else people
        library = self.library()
        if not people or library is None or len(library) == 0:
            return []
        if self._thresholds[0] != self._signature:  # the library changed: so did its impostors
            self._thresholds = (self._signature, {})
        thresholds, out = self._thresholds[1], []
        space = VerdictSpace.of(library)
        for person in people:
            vector = l2_normalise(np.asarray(person.vector, np.float32))
            key = (person.id, vector.tobytes())
            if key not in thresholds:
                thresholds[key] = verdict_for(library, vector).threshold
            out.append(Watched(person.name, space.query(vector), thresholds[key]))
        return out

    def _expire_segments(self, folder: Path, keep_hours: float) -> None:
        """Queue the removal of a camera's segments older than ``keep_hours`` (the removal deletes the
        file too). A segment the library does not hold yet (still queued, or unreadable) is left."""
        from reidkit.index.camera import expired_segments

        library = self.library()
        if library is None:
            return
        for path in expired_segments(folder, keep_hours):
            with self.read_lock:
                record = library.media_by_path(path)
            if record is not None and record.id not in self._removing:
                self.remove_media(record.id)

    def media_folder(self) -> Path:
        folder = self.app_dir / "media"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def remove_media(self, media_id: int) -> Job:
        record = self.media_record(media_id)
        # Kept before the job is queued: the writer may finish a quick removal before submit returns.
        self._removing[media_id] = record
        return self.worker.submit("remove", Path(record.path).name, media_id=media_id)

    def adapt(self) -> Job:
        """Queue ``reidkit adapt`` on the library: its verdicts are then judged by a model adapted to
        its own footage, its ranking stays (docs/adapt.md)."""
        library = self.library()
        if library is None or len(library) == 0:
            raise UserError("the library is empty: add footage before adapting to it", 409)
        if any(j.kind == "adapt" and j.status in ("queued", "running") for j in self.worker.jobs()):
            raise UserError("the library is already being adapted", 409)
        return self.worker.submit("adapt", "adapt to this footage", path=str(self.root))

    def _after_job(self, job: Job) -> None:
        """In the writer thread, after a job: reopen the reader, alert the watchlist, prepare playback."""
        if job.kind == "remove":
            if job.media_id is not None:
                self.watchlist.drop_media(job.media_id)
            record = self._removing.pop(job.media_id, None) if job.media_id is not None else None
            if record is not None:
                # A copy the app made (an upload, a camera's segment) and its playable transcode go
                # with it; a file that was added by its own path stays where the user keeps it.
                path = Path(record.path).resolve()
                if path.is_relative_to(self.app_dir / "media") or path.is_relative_to(self.root / "cameras"):
                    path.unlink(missing_ok=True)
                self.videos.path(f"play-{record.sha256[:24]}").unlink(missing_ok=True)
            return
        library = self.library()
        if library is None or job.media_id is None or not job.tracklets:
            return
        job.phase = "checking the watchlist"
        self.worker.changed()
        self._alert(job.media_id)
        record = self.media_record(job.media_id)
        if record.kind == "video":
            job.phase = "preparing playback"
            self.worker.changed()
            try:
                self.playable(job.media_id)
            except (ReidkitError, UserError, OSError, ValueError) as exc:
                log.info("no playable copy of %s: %s", record.path, exc)

    def _alert(self, media_id: int) -> None:
        from reidkit.search import find_moments_in

        people = self.watchlist.people()
        if not people:
            return
        with self.read_lock:
            library = self.searchable()
            record = library.media(media_id)
            for person in people:
                moments = find_moments_in(library, np.asarray(person.vector, np.float32), media_id)
                here = [m for m in moments if m.likely]
                if here:
                    self.watchlist.add_alert(
                        person_id=person.id,
                        person=person.name,
                        media_id=media_id,
                        media=Path(record.path).name,
                        moments=len(here),
                        best_score=round(max(m.score for m in here), 4),
                        start=round(min(m.start for m in here), 3),
                    )

    def alerts(self) -> list[dict[str, Any]]:
        """The watchlist's alerts, newest first, each with when it happened on the clock (``recorded_start``,
        ISO UTC) where its media says when it was recorded."""
        alerts = self.watchlist.alerts()
        library = self.library()
        media: dict[int, MediaRecord] = {}
        if library is not None and alerts:
            with self.read_lock:
                media = {m.id: m for m in library.media_list_for({a.media_id for a in alerts})}
        out = []
        for alert in alerts:
            record = media.get(alert.media_id)
            recorded = (
                None if record is None or record.recorded_at is None else record.recorded_at + alert.start
            )
            out.append({**asdict(alert), "recorded_start": iso_utc_or_none(recorded)})
        return out

    def save_person(self, query: Query, name: str) -> Any:
        clean_name(name)
        library = self.searchable()
        with self.read_lock:
            vector = self.query_vector(query, library)
        photos = [p.crop_jpeg for p in query.photos if p.crop_jpeg]
        if not photos:
            for tracklet_id in query.seed_tracklets[:1]:
                photos.append(self.thumbnail(tracklet_id).read_bytes())
        return self.watchlist.add(
            name, vector, photos, sorted(query.confirmed | set(query.seed_tracklets)), sorted(query.rejected)
        )

    def library_people(self, limit: int = 200) -> list[dict[str, Any]]:
        """The home page's tiles: the library's people (reidkit.search.people), named from the watchlist."""
        from reidkit.search.people import people
        from reidkit.search.verdict_space import VerdictSpace

        library = self.library()
        if library is None or len(library) == 0:
            return []
        with self.heavy():
            found = people(library)[:limit]
        tracklets = [{t for m in person.moments for t in m.tracklet_ids} for person in found]
        names: list[str | None] = [None] * len(found)
        listed = self.watchlist.people()
        watched = self._watched(listed)
        if watched and found:
            space = VerdictSpace.of(library)
            tiles = l2_normalise(space.mapped(np.stack([p.vector for p in found]).astype(np.float32)))
            names = name_tiles(listed, watched, tiles, tracklets)
        out = []
        for person, name in zip(found, names, strict=True):
            first = person.moments[0]
            out.append(
                {
                    "id": person.id,
                    "name": name,
                    "visits": person.visits,
                    "videos": person.videos,
                    "images": person.images,
                    "seconds": round(person.seconds, 1),
                    "best_tracklet": person.best_tracklet,
                    "thumbnail_url": f"/api/tracklets/{person.best_tracklet}/thumbnail",
                    "first_seen": {
                        "media": Path(first.media).name,
                        "kind": first.kind,
                        "start": round(first.start, 1),
                        "recorded_start": iso_utc_or_none(first.recorded_start),
                    },
                }
            )
        return out


def name_tiles(
    people: Sequence[WatchedPerson],
    watched: Sequence[Watched],
    tiles: np.ndarray,
    tracklets: Sequence[set[int]],
) -> list[str | None]:
    """Each people tile's watchlist name, or None, as a search for that person would answer.

    ``people[i]`` is ``watched[i]`` (vector and threshold in the library's verdict space); ``tiles`` are
    the tiles' unit vectors in that space, ``tracklets`` their members. A tile holding a person's
    confirmed tracklets is theirs. Otherwise a person names at most one tile, the one they score best
    against, when it reaches their own search threshold (what "likely" means for a search of them,
    never below the model's calibration) and holds none of the tracklets marked "not this person": a
    photo shows one person, so a look-alike elsewhere stays unnamed. A tile claimed by several people
    goes to the one it is confirmed for, else to the one it clears by the widest margin."""
    claims: dict[int, tuple[float, str]] = {}  # tile -> (strength, name)

    def claim(tile: int, strength: float, name: str) -> None:
        if tile not in claims or strength > claims[tile][0]:
            claims[tile] = (strength, name)

    margins = tiles @ np.stack([w.vector for w in watched]).T - np.array([w.threshold for w in watched])
    for i, (person, seen) in enumerate(zip(people, watched, strict=True)):
        confirmed, rejected = set(person.confirmed), set(person.rejected)
        for tile, members in enumerate(tracklets):
            if members & confirmed:
                claim(tile, math.inf, seen.name)
        allowed = [t for t in np.argsort(-margins[:, i]) if not tracklets[t] & rejected]
        if allowed and margins[allowed[0], i] >= 0:
            claim(int(allowed[0]), float(margins[allowed[0], i]), seen.name)
    return [claims[t][1] if t in claims else None for t in range(len(tracklets))]


def _mean_direction(vectors: np.ndarray) -> np.ndarray:
    """The mean of unit rows, renormalised (how reidkit makes one vector of several)."""
    rows = l2_normalise(np.asarray(vectors, np.float32).reshape(-1, np.shape(vectors)[-1]))
    return l2_normalise(rows.mean(axis=0))


def copy_stream(source: Any, target: Path, limit: int, name: str) -> int:
    """Copy an uploaded file object to ``target`` (at most ``limit`` bytes); UserError beyond it."""
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(1 << 20):
            size += len(chunk)
            if size > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise UserError(f"{name} is larger than {limit >> 20} MB", 413)
            out.write(chunk)
    return size
