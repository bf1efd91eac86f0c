"""The library: every indexed media file, its tracklets and their appearance vectors, in one folder.

Layout of a library folder::

    library.sqlite     the source of truth: meta, media, tracklets (+ pooled vectors), crop_vectors
    tracklets.faiss    inner-product index over the pooled tracklet vectors (ids = tracklet ids)
    thumbs/            one JPEG per tracklet (its best crop)
    .lock              held (flock) by the one process allowed to write

Crash safety: one file is added in one SQLite transaction, so a media row exists only with all of its
tracklets and vectors. Thumbnails are written before that commit (an orphan thumbnail is harmless and
is cleaned on the next write); the Faiss file is written to a temporary file and ``os.replace``-d after
it. Faiss is derived data: on open, if its ids differ from the tracklet ids in SQLite (a crash between
the commit and the index write), it is rebuilt from the vectors stored in SQLite.
"""

from __future__ import annotations

import errno
import math
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from reidkit.core.errors import LibraryError
from reidkit.core.files import sha256_file
from reidkit.core.log import get_logger
from reidkit.core.vectors import l2_normalise
from reidkit.index.footage import FootageScores, media_footage_scores

log = get_logger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "library.sqlite"
INDEX_NAME = "tracklets.faiss"
THUMBS_DIR = "thumbs"
LOCK_NAME = ".lock"
DEFAULT_INDEX = "Flat"
# An IVF index needs this many training vectors per list before it is trained; below that, Flat is used.
IVF_TRAIN_PER_LIST = 39
# Search-time speed/recall knobs (bench/gallery_scale.py): IVF lists visited per query, HNSW candidate
# list length. Stored in meta once set; a reader may override them for its own session.
DEFAULT_NPROBE = 16
FOOTAGE_KEY = "footage_scores"  # meta key of the library's FootageScores (JSON)
COHORT_LIMIT = 4096  # tracklet vectors a verdict samples a query's impostor scores from
DEFAULT_EF_SEARCH = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS media (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('video', 'image')),
    fps REAL NOT NULL,
    frame_count INTEGER NOT NULL,
    duration REAL NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tracklets (
    id INTEGER PRIMARY KEY,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    track_id INTEGER NOT NULL,
    start_frame INTEGER NOT NULL,
    end_frame INTEGER NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    frames BLOB NOT NULL,      -- int64 (T,)
    boxes BLOB NOT NULL,       -- float32 (T, 4)
    best_frame INTEGER NOT NULL,
    best_box BLOB NOT NULL,    -- float32 (4,)
    thumbnail TEXT NOT NULL,   -- relative to the library root
    n_crops INTEGER NOT NULL,
    quality REAL NOT NULL,
    vector BLOB NOT NULL       -- float32 (D,), unit length: what Faiss indexes
);
CREATE INDEX IF NOT EXISTS tracklets_media ON tracklets(media_id);
CREATE TABLE IF NOT EXISTS crop_vectors (
    tracklet_id INTEGER NOT NULL REFERENCES tracklets(id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,     -- 0 = best crop
    frame INTEGER NOT NULL,
    quality REAL NOT NULL,
    vector BLOB NOT NULL,      -- float32 (D,)
    PRIMARY KEY (tracklet_id, rank)
);
"""


@dataclass(frozen=True)
class MediaRecord:
    id: int
    path: str
    sha256: str
    kind: Literal["video", "image"]
    fps: float
    frame_count: int
    duration: float
    width: int
    height: int


@dataclass(frozen=True)
class TrackletRecord:
    id: int
    media_id: int
    track_id: int
    start_frame: int
    end_frame: int
    start: float
    end: float
    frames: np.ndarray  # (T,) int64
    boxes: np.ndarray  # (T, 4) float32
    best_frame: int
    best_box: np.ndarray  # (4,) float32
    thumbnail: str  # relative to the library root
    n_crops: int
    quality: float


@dataclass(frozen=True)
class TrackletHit:
    tracklet: TrackletRecord
    media: MediaRecord
    score: float  # cosine similarity of the pooled tracklet vector to the query


@dataclass(frozen=True)
class NewMedia:
    """What :meth:`Library.add_media` needs to know about a file (ids are assigned by the library)."""

    path: str
    sha256: str
    kind: Literal["video", "image"]
    fps: float = 0.0
    frame_count: int = 1
    duration: float = 0.0
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class NewTracklet:
    """One embedded tracklet to add. For a still image: ``frames=[0]``, ``times=[0.0]``, one box."""

    track_id: int
    frames: np.ndarray  # (T,) int
    times: np.ndarray  # (T,) float seconds
    boxes: np.ndarray  # (T, 4) float32
    vector: np.ndarray  # (D,) pooled, unit length
    crop_vectors: np.ndarray  # (k, D), best crop first
    best_frame: int
    best_box: np.ndarray  # (4,)
    thumbnail_jpeg: bytes  # the best crop, JPEG-encoded
    quality: float
    crop_frames: np.ndarray | None = None  # (k,) frame of each crop vector
    crop_qualities: np.ndarray | None = None  # (k,)


def _blob(array: np.ndarray, dtype: type) -> bytes:
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def _unit(vector: np.ndarray) -> np.ndarray:
    return l2_normalise(np.asarray(vector).reshape(-1))


def model_sha256(path: str | Path) -> str:
    """sha256 of a model file: what identifies a model (two files may share a name, not their vectors)."""
    stat = Path(path).stat()
    return _model_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _model_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and mtime too, so a file rewritten in place is hashed again; every search of a
    # session hashes the same model, once.
    return sha256_file(path)


class _WriterLock:
    """An exclusive advisory lock on ``root/.lock``; released by the OS if the process dies."""

    def __init__(self, root: Path):
        self.path = root / LOCK_NAME
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        fh = self.path.open("a+")
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; single-writer is then the user's job
            self._fh = fh
            return
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise LibraryError(
                f"library is being written by {holder}",
                path=self.path.parent,
                hint="wait for that indexing run to finish, or use another --library folder",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the descriptor drops the flock
            self._fh = None


class Library:
    """A folder of indexed media, searchable by appearance::

    lib = Library.create_or_open("lib/", model=embedder.name, dim=embedder.dim)   # writer
    lib.add_media(NewMedia(...), [NewTracklet(...), ...])
    hits = Library.open("lib/").search(query_vector, k=20)                          # reader
    """

    def __init__(self, root: Path, conn: sqlite3.Connection, *, writable: bool, use_gpu: bool | None = None):
        self.root = root
        self._conn = conn
        self._lock: _WriterLock | None = None
        self.writable = writable
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if "model" not in meta or "dim" not in meta:
            conn.close()
            raise LibraryError(
                "library.sqlite has no model recorded (an interrupted first run?)",
                path=root,
                hint="delete the folder and run `reidkit index` again",
            )
        self.model: str = meta["model"]
        # The file the vectors were made with and its content hash; None in libraries made before
        # reidkit recorded them (they open as before, and get them on their next indexing run).
        self.model_file: str | None = meta.get("model_file")
        self.model_sha256: str | None = meta.get("model_sha256")
        self.dim: int = int(meta["dim"])
        self.version: int = int(meta.get("version", SCHEMA_VERSION))
        self.index_spec: str = meta.get("index", DEFAULT_INDEX)
        self._nprobe = int(meta.get("nprobe", DEFAULT_NPROBE))
        self._ef_search = int(meta.get("ef_search", DEFAULT_EF_SEARCH))
        self._use_gpu = use_gpu
        self._index: Any = None
        self._search_index: Any = None
        self._footage: FootageScores | None = None
        self._cohort: tuple[int, np.ndarray] | None = None

    # ----------------------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, root: str | Path, *, use_gpu: bool | None = None) -> Library:
        """Open an existing library for reading (searching); several readers may share it."""
        root = Path(root).expanduser()
        db = root / DB_NAME
        if not db.is_file():
            raise LibraryError(
                "not a library (no library.sqlite)",
                path=root,
                hint="run `reidkit index VIDEO_OR_FOLDER --library " + str(root) + "` first",
            )
        lib = cls(root, _connect(db, root), writable=False, use_gpu=use_gpu)
        lib._load_index()
        return lib

    @classmethod
    def create_or_open(
        cls,
        root: str | Path,
        model: str,
        dim: int,
        *,
        index: str = DEFAULT_INDEX,
        use_gpu: bool | None = None,
        nprobe: int | None = None,
        ef_search: int | None = None,
        model_file: str | Path | None = None,
        model_file_sha256: str | None = None,
    ) -> Library:
        """Open ``root`` for writing (creating it if needed); refuses a library built with another model.

        ``model_file`` is the embedder's model file: its sha256 (``model_file_sha256``, computed when not
        given) is recorded in a new library, and an existing library refuses a file with other content
        (:meth:`check_model_file`).

        ``index`` is a Faiss ``index_factory`` string for a new library: "Flat" (exact, the default),
        "IVF1024,Flat" or "HNSW32" for large galleries (docs/search.md). IVF indexes are trained once
        enough vectors exist. ``nprobe`` / ``ef_search``, when given, are stored as the library's search
        settings (see :meth:`save_search_params`).
        """
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise LibraryError("exists and is not a folder", path=root, hint="pass a folder to --library")
        root.mkdir(parents=True, exist_ok=True)
        (root / THUMBS_DIR).mkdir(exist_ok=True)
        lock = _WriterLock(root)
        lock.acquire()
        try:
            conn = _connect(root / DB_NAME, root)
            conn.executescript(_SCHEMA)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            model_meta = []
            if model_file is not None:
                sha256 = model_file_sha256 or model_sha256(model_file)
                model_meta = [("model_file", str(Path(model_file).resolve())), ("model_sha256", sha256)]
            if not meta:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("model", model),
                        ("dim", str(int(dim))),
                        ("version", str(SCHEMA_VERSION)),
                        ("index", index),
                        ("created_at", str(time.time())),
                        *model_meta,
                    ],
                )
                conn.commit()
            elif meta["model"] != model or int(meta["dim"]) != int(dim):
                conn.close()
                raise LibraryError(
                    f"library was built with model {meta['model']!r} (dim {meta['dim']}), not {model!r} (dim {dim})",
                    path=root,
                    hint=f"pass --model {meta['model']} or index into a new --library folder",
                )
            lib = cls(root, conn, writable=True, use_gpu=use_gpu)
            lib._lock = lock
            if model_meta:
                lib.check_model_file(model_meta[0][1], model_meta[1][1])
                if lib.model_sha256 is None:  # a library from before model hashes: record this one
                    with lib._transaction() as cur:
                        cur.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", model_meta)
                    lib.model_file, lib.model_sha256 = model_meta[0][1], model_meta[1][1]
            if nprobe is not None or ef_search is not None:
                lib.nprobe = lib.nprobe if nprobe is None else nprobe
                lib.ef_search = lib.ef_search if ef_search is None else ef_search
                lib.save_search_params()
            lib._load_index()
            lib._remove_orphan_thumbnails()
        except BaseException:
            lock.release()
            raise
        return lib

    def close(self) -> None:
        self._conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_model_file(self, model_file: str | Path | None, sha256: str | None = None) -> None:
        """Refuse a model file whose content differs from the one the library's vectors were made with.

        Same name is not enough: two ``mine.onnx`` files make incomparable vectors. An embedder without
        a file (``None``) and a library from before model hashes were recorded are not checked.
        """
        if model_file is None or self.model_sha256 is None:
            return
        sha256 = sha256 or model_sha256(model_file)
        if sha256 != self.model_sha256:
            raise LibraryError(
                f"was indexed with {self.model_file} (sha256 {self.model_sha256[:12]}), not with "
                f"{Path(model_file).resolve()} (sha256 {sha256[:12]}): their vectors are not comparable",
                path=self.root,
                hint=f"pass --model {self.model_file}, or index into a new --library folder",
            )

    # ---------------------------------------------------------------------------------- search settings
    @property
    def nprobe(self) -> int:
        """IVF lists searched per query: more = higher recall, slower (ignored by Flat and HNSW)."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f"nprobe must be >= 1, got {value}")
        self._nprobe = int(value)
        self._search_index = None  # re-applied on the next search

    @property
    def ef_search(self) -> int:
        """HNSW candidate list length per query (efSearch; >= k): more = higher recall, slower."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f"ef_search must be >= 1, got {value}")
        self._ef_search = int(value)
        self._search_index = None

    def save_search_params(self) -> None:
        """Store the current ``nprobe`` and ``ef_search`` in the library, for every later reader."""
        if not self.writable:
            raise LibraryError(
                "library was opened read-only", path=self.root, hint="use Library.create_or_open"
            )
        with self._transaction() as cur:
            cur.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [("nprobe", str(self._nprobe)), ("ef_search", str(self._ef_search))],
            )

    # ----------------------------------------------------------------------------------------- reading
    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM tracklets").fetchone()[0])

    def has_media(self, sha256: str) -> bool:
        return self._conn.execute("SELECT 1 FROM media WHERE sha256 = ?", (sha256,)).fetchone() is not None

    def media_id(self, sha256: str) -> int | None:
        row = self._conn.execute("SELECT id FROM media WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else int(row[0])

    def media_list(self) -> list[MediaRecord]:
        rows = self._conn.execute(f"SELECT {_MEDIA_COLUMNS} FROM media ORDER BY id").fetchall()
        return [_media_record(r) for r in rows]

    def media(self, media_id: int) -> MediaRecord:
        row = self._conn.execute(f"SELECT {_MEDIA_COLUMNS} FROM media WHERE id = ?", (media_id,)).fetchone()
        if row is None:
            raise KeyError(f"no media with id {media_id}")
        return _media_record(row)

    def tracklets(self, media_id: int | None = None) -> list[TrackletRecord]:
        if media_id is None:
            rows = self._conn.execute(f"SELECT {_TRACKLET_COLUMNS} FROM tracklets ORDER BY id").fetchall()
        else:
            rows = self._conn.execute(
                f"SELECT {_TRACKLET_COLUMNS} FROM tracklets WHERE media_id = ? ORDER BY id", (media_id,)
            ).fetchall()
        return [_tracklet_record(r) for r in rows]

    def tracklet(self, tracklet_id: int) -> TrackletRecord:
        row = self._conn.execute(
            f"SELECT {_TRACKLET_COLUMNS} FROM tracklets WHERE id = ?", (tracklet_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no tracklet with id {tracklet_id}")
        return _tracklet_record(row)

    def crop_vectors(self, tracklet_id: int) -> np.ndarray:
        rows = self._conn.execute(
            "SELECT vector FROM crop_vectors WHERE tracklet_id = ? ORDER BY rank", (tracklet_id,)
        ).fetchall()
        if not rows:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([np.frombuffer(r[0], np.float32) for r in rows])

    def footage_scores(self) -> FootageScores:
        """What the library's footage says about same- and different-person scores (:mod:`.footage`).

        Kept up to date by :meth:`add_media`; a library written before it existed is measured once
        from its stored tracklets.
        """
        if self._footage is None:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (FOOTAGE_KEY,)).fetchone()
            self._footage = FootageScores.from_json(row[0]) if row else self._measure_footage()
        return FootageScores.from_json(self._footage.to_json())  # a copy: callers may merge into it

    def _measure_footage(self) -> FootageScores:
        footage = FootageScores()
        all_ids, all_vectors = self.tracklet_vectors()
        row_of = {int(i): row for row, i in enumerate(all_ids)}
        for media in self.media_list():
            records = self.tracklets(media.id)
            crops = [self.crop_vectors(r.id) for r in records]
            vectors = all_vectors[[row_of[r.id] for r in records]]
            footage.merge(media_footage_scores(records, vectors, crops))
        return footage

    def cohort_vectors(self, limit: int = COHORT_LIMIT) -> np.ndarray:
        """Up to ``limit`` pooled tracklet vectors, spread evenly over the library (cached per size).

        Almost all of them are somebody other than any one query: the sample a verdict reads a query's
        impostor scores from (:mod:`reidkit.search.verdict`).
        """
        if self._cohort is None or self._cohort[0] != len(self):
            ids, vectors = self.tracklet_vectors()
            step = max(1, math.ceil(len(ids) / limit))
            self._cohort = (len(self), vectors[::step])
        return self._cohort[1]

    def tracklet_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All pooled vectors: ``(ids (N,) int64, vectors (N, D) float32)``."""
        rows = self._conn.execute("SELECT id, vector FROM tracklets ORDER BY id").fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        vectors = (
            np.stack([np.frombuffer(r[1], np.float32) for r in rows])
            if rows
            else np.zeros((0, self.dim), np.float32)
        )
        return ids, vectors

    def search(self, query: np.ndarray, k: int) -> list[TrackletHit]:
        """The ``k`` tracklets whose pooled vector is closest (cosine) to ``query``, best first."""
        query = np.asarray(query, np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise LibraryError(
                f"query vector has dim {query.shape[0]} but the library was built with {self.model!r} (dim {self.dim})",
                path=self.root,
                hint=f"embed the query with --model {self.model}",
            )
        total = int(self._index.ntotal) if self._index is not None else 0
        if total == 0:
            raise LibraryError(
                "library is empty (no tracklets indexed)",
                path=self.root,
                hint=f"run `reidkit index VIDEO_OR_FOLDER --library {self.root}` first",
            )
        k = max(1, min(int(k), total))
        index = self._searchable()
        scores, ids = index.search(_unit(query)[None, :], k)
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        if not found:
            return []
        records = self._tracklets_by_id([i for i, _ in found])
        media = {m.id: m for m in self.media_list_for({r.media_id for r in records.values()})}
        return [TrackletHit(records[i], media[records[i].media_id], s) for i, s in found if i in records]

    def media_list_for(self, ids: set[int]) -> list[MediaRecord]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            f"SELECT {_MEDIA_COLUMNS} FROM media WHERE id IN ({marks})", tuple(ids)
        ).fetchall()
        return [_media_record(r) for r in rows]

    def _tracklets_by_id(self, ids: list[int]) -> dict[int, TrackletRecord]:
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            f"SELECT {_TRACKLET_COLUMNS} FROM tracklets WHERE id IN ({marks})", tuple(ids)
        ).fetchall()
        return {int(r[0]): _tracklet_record(r) for r in rows}

    # ----------------------------------------------------------------------------------------- writing
    def add_media(self, media: NewMedia, tracklets: Sequence[NewTracklet]) -> int:
        """Add one file with all its tracklets, vectors and thumbnails, or nothing. Returns the media id.

        A file whose sha256 is already in the library is left alone (its existing id is returned).
        """
        if not self.writable:
            raise LibraryError(
                "library was opened read-only", path=self.root, hint="use Library.create_or_open"
            )
        existing = self.media_id(media.sha256)
        if existing is not None:
            return existing
        for t in tracklets:
            if np.asarray(t.vector).size != self.dim:
                raise ValueError(
                    f"tracklet vector has dim {np.asarray(t.vector).size}, library dim {self.dim}"
                )
        thumbs = [f"{THUMBS_DIR}/{media.sha256[:16]}_{t.track_id}.jpg" for t in tracklets]
        new_ids: list[int] = []
        vectors: list[np.ndarray] = []
        footage = self.footage_scores()  # before the insert: a legacy library measures its old files
        try:
            for rel, t in zip(thumbs, tracklets, strict=True):
                _write_atomic(self.root / rel, t.thumbnail_jpeg)
            media_id = self._insert_media(media, thumbs, tracklets, new_ids, vectors, footage)
        except (OSError, sqlite3.OperationalError) as exc:  # a full disk, most often
            for rel in thumbs:  # the transaction rolled back: these belong to nothing
                (self.root / rel).unlink(missing_ok=True)
            raise _write_failed(self.root, media.path, exc, "the library is as it was before it") from exc
        try:
            self._index_added(np.array(new_ids, np.int64), vectors)
        except (OSError, RuntimeError) as exc:  # Faiss reports a failed write as RuntimeError
            raise _write_failed(
                self.root, media.path, exc, "it is in the library; its search index is rebuilt on next open"
            ) from exc
        return media_id

    def _insert_media(
        self,
        media: NewMedia,
        thumbs: list[str],
        tracklets: Sequence[NewTracklet],
        new_ids: list[int],
        vectors: list[np.ndarray],
        footage: FootageScores,
    ) -> int:
        """One transaction: the media row, its tracklets (their ids and vectors go to the two lists) and
        the library's footage scores with this file's pairs merged into ``footage``."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO media(path, sha256, kind, fps, frame_count, duration, width, height, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    media.path,
                    media.sha256,
                    media.kind,
                    float(media.fps),
                    int(media.frame_count),
                    float(media.duration),
                    int(media.width),
                    int(media.height),
                    time.time(),
                ),
            )
            media_id = int(cur.lastrowid or 0)
            for rel, t in zip(thumbs, tracklets, strict=True):
                tracklet_id = self._insert_tracklet(cur, media_id, rel, t)
                new_ids.append(tracklet_id)
                vectors.append(_unit(t.vector))
            footage.merge(
                media_footage_scores(
                    tracklets,
                    np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32),
                    [t.crop_vectors for t in tracklets],
                )
            )
            cur.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (FOOTAGE_KEY, footage.to_json())
            )
        self._footage = footage
        return media_id

    def _insert_tracklet(self, cur: sqlite3.Cursor, media_id: int, thumbnail: str, t: NewTracklet) -> int:
        frames = np.asarray(t.frames, np.int64).reshape(-1)
        times = np.asarray(t.times, np.float64).reshape(-1)
        boxes = np.asarray(t.boxes, np.float32).reshape(-1, 4)
        if len(frames) == 0 or len(frames) != len(boxes) or len(times) != len(frames):
            raise ValueError("a tracklet needs matching, non-empty frames, times and boxes")
        crop_vectors = np.asarray(t.crop_vectors, np.float32).reshape(-1, self.dim)
        cur.execute(
            'INSERT INTO tracklets(media_id, track_id, start_frame, end_frame, start, "end", frames, boxes,'
            " best_frame, best_box, thumbnail, n_crops, quality, vector)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                media_id,
                int(t.track_id),
                int(frames[0]),
                int(frames[-1]),
                float(times[0]),
                float(times[-1]),
                _blob(frames, np.int64),
                _blob(boxes, np.float32),
                int(t.best_frame),
                _blob(np.asarray(t.best_box).reshape(4), np.float32),
                thumbnail,
                len(crop_vectors),
                float(t.quality),
                _blob(_unit(t.vector), np.float32),
            ),
        )
        tracklet_id = int(cur.lastrowid or 0)
        n = len(crop_vectors)
        crop_frames = np.full(n, t.best_frame) if t.crop_frames is None else np.asarray(t.crop_frames)
        qualities = np.zeros(n) if t.crop_qualities is None else np.asarray(t.crop_qualities)
        cur.executemany(
            "INSERT INTO crop_vectors(tracklet_id, rank, frame, quality, vector) VALUES (?, ?, ?, ?, ?)",
            [
                (tracklet_id, r, int(crop_frames[r]), float(qualities[r]), _blob(crop_vectors[r], np.float32))
                for r in range(n)
            ],
        )
        return tracklet_id

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    def replace_vectors(
        self,
        model: str,
        model_file: str | Path,
        crop_vectors: dict[int, np.ndarray],
        *,
        model_file_sha256: str | None = None,
    ) -> None:
        """Re-embed the library with another model of the same dimension, all or nothing.

        ``crop_vectors`` maps every tracklet id to its new (k, D) crop vectors, rows in the stored rank
        order; pooled vectors are re-pooled from them with the stored crop qualities, as the indexer
        pools, and the footage scores are measured again. The model's name, file and sha256 switch with
        the vectors, in one SQLite transaction. The Faiss file is removed *before* that commit and
        written after it: it is derived data, rebuilt from SQLite on open when missing, so an
        interruption at any point (kill -9 included) leaves either the old library or the new one.
        """
        from reidkit.embed.pooling import pool_vectors

        if not self.writable:
            raise LibraryError(
                "library was opened read-only", path=self.root, hint="use Library.create_or_open"
            )
        rows = self._conn.execute(
            "SELECT tracklet_id, rank, quality FROM crop_vectors ORDER BY tracklet_id, rank"
        ).fetchall()
        qualities: dict[int, list[float]] = {}
        for tracklet_id, _, quality in rows:
            qualities.setdefault(int(tracklet_id), []).append(float(quality))
        ids = [int(r[0]) for r in self._conn.execute("SELECT id FROM tracklets ORDER BY id")]
        if set(crop_vectors) != set(ids):
            raise ValueError("replace_vectors needs new crop vectors for every tracklet, and only those")
        crops: dict[int, np.ndarray] = {}
        pooled: dict[int, np.ndarray] = {}
        for tracklet_id in ids:
            vectors = np.asarray(crop_vectors[tracklet_id], np.float32).reshape(-1, self.dim)
            stored = qualities.get(tracklet_id, [])
            if len(vectors) != len(stored):
                raise ValueError(
                    f"tracklet {tracklet_id}: {len(vectors)} crop vectors for {len(stored)} stored crops"
                )
            crops[tracklet_id] = l2_normalise(vectors)
            pooled[tracklet_id] = pool_vectors(crops[tracklet_id], np.array(stored))
        sha256 = model_file_sha256 or model_sha256(model_file)
        footage = FootageScores()
        for media in self.media_list():
            records = self.tracklets(media.id)
            footage.merge(
                media_footage_scores(
                    records,
                    np.stack([pooled[r.id] for r in records]) if records else np.zeros((0, self.dim)),
                    [crops[r.id] for r in records],
                )
            )
        (self.root / INDEX_NAME).unlink(missing_ok=True)
        with suppress(OSError):  # make the removal durable before the commit (POSIX; not on Windows)
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        with self._transaction() as cur:
            cur.executemany(
                "UPDATE tracklets SET vector = ? WHERE id = ?",
                [(_blob(pooled[i], np.float32), i) for i in ids],
            )
            cur.executemany(
                "UPDATE crop_vectors SET vector = ? WHERE tracklet_id = ? AND rank = ?",
                [(_blob(v, np.float32), i, rank) for i in ids for rank, v in enumerate(crops[i])],
            )
            cur.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [
                    ("model", model),
                    ("model_file", str(Path(model_file).resolve())),
                    ("model_sha256", sha256),
                    (FOOTAGE_KEY, footage.to_json()),
                ],
            )
        self.model, self.model_file, self.model_sha256 = model, str(Path(model_file).resolve()), sha256
        self._footage, self._cohort, self._search_index = footage, None, None
        new_ids, vectors = self.tracklet_vectors()
        self._index = self._build_index(new_ids, vectors)
        self._save_index()

    # ----------------------------------------------------------------------------------------- faiss
    def _load_index(self) -> None:
        """Load the Faiss file, or rebuild it from SQLite when it is missing or out of sync."""
        import faiss

        ids, vectors = self.tracklet_vectors()
        path = self.root / INDEX_NAME
        index = None
        if path.is_file():
            try:
                index = faiss.read_index(str(path))
            except RuntimeError:
                log.warning("unreadable %s; rebuilding it from the database", path)
        if index is not None and index.d == self.dim and _index_ids(index) == set(ids.tolist()):
            self._index = index
            self._maybe_train()
            return
        if index is not None or len(ids):
            log.warning("%s is out of sync with the database; rebuilding it", path)
        self._index = self._build_index(ids, vectors)
        if self.writable:
            self._save_index()
        else:
            # A reader never writes, but it can persist the repair when no writer holds the library.
            with suppress(LibraryError, OSError):
                lock = _WriterLock(self.root)
                lock.acquire()
                try:
                    self._save_index()
                finally:
                    lock.release()
        self._search_index = None

    def _build_index(self, ids: np.ndarray, vectors: np.ndarray) -> Any:
        import faiss

        spec = self.index_spec
        index: Any
        if spec.upper() == "FLAT" or (_needs_training(spec) and len(ids) < _train_size(spec)):
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        else:
            index = faiss.index_factory(self.dim, f"IDMap2,{spec}", faiss.METRIC_INNER_PRODUCT)
            if not index.is_trained:
                index.train(np.ascontiguousarray(vectors, np.float32))
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(vectors, np.float32), ids)
        return index

    def _maybe_train(self) -> None:
        """Switch a Flat stand-in to the requested IVF index once there are enough vectors to train it."""
        if not _needs_training(self.index_spec) or not self.writable:
            return
        inner = _inner_index_type(self._index)
        if inner != "IndexFlatIP" or int(self._index.ntotal) < _train_size(self.index_spec):
            return
        ids, vectors = self.tracklet_vectors()
        self._index = self._build_index(ids, vectors)
        self._save_index()

    def _index_added(self, ids: np.ndarray, vectors: list[np.ndarray]) -> None:
        if len(ids):
            self._index.add_with_ids(np.stack(vectors).astype(np.float32), ids)
            self._search_index = None
        self._maybe_train()
        self._save_index()

    def _save_index(self) -> None:
        import faiss

        path = self.root / INDEX_NAME
        tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
        try:
            faiss.write_index(self._index, str(tmp))
            _fsync_file(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a partial file: the old index stays in place
            raise

    def _searchable(self) -> Any:
        if self._search_index is None:
            _set_search_params(self._index, self._nprobe, self._ef_search)
            self._search_index = _maybe_gpu(self._index, self._use_gpu)
        return self._search_index

    def _remove_orphan_thumbnails(self) -> None:
        known = {r[0] for r in self._conn.execute("SELECT thumbnail FROM tracklets")}
        for path in (self.root / THUMBS_DIR).iterdir():
            rel = f"{THUMBS_DIR}/{path.name}"
            if rel not in known and (path.suffix == ".jpg" or ".tmp." in path.name):
                path.unlink(missing_ok=True)
        for tmp in self.root.glob(f"{INDEX_NAME}.tmp.*"):
            tmp.unlink(missing_ok=True)


_MEDIA_COLUMNS = "id, path, sha256, kind, fps, frame_count, duration, width, height"
_TRACKLET_COLUMNS = (
    'id, media_id, track_id, start_frame, end_frame, start, "end", frames, boxes, best_frame, best_box,'
    " thumbnail, n_crops, quality"
)


def _media_record(row: tuple) -> MediaRecord:
    return MediaRecord(
        id=int(row[0]),
        path=row[1],
        sha256=row[2],
        kind=row[3],
        fps=float(row[4]),
        frame_count=int(row[5]),
        duration=float(row[6]),
        width=int(row[7]),
        height=int(row[8]),
    )


def _tracklet_record(row: tuple) -> TrackletRecord:
    return TrackletRecord(
        id=int(row[0]),
        media_id=int(row[1]),
        track_id=int(row[2]),
        start_frame=int(row[3]),
        end_frame=int(row[4]),
        start=float(row[5]),
        end=float(row[6]),
        frames=np.frombuffer(row[7], np.int64),
        boxes=np.frombuffer(row[8], np.float32).reshape(-1, 4),
        best_frame=int(row[9]),
        best_box=np.frombuffer(row[10], np.float32),
        thumbnail=row[11],
        n_crops=int(row[12]),
        quality=float(row[13]),
    )


def _connect(db: Path, root: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(str(db), isolation_level=None, timeout=30.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise LibraryError(
            f"library.sqlite is not a readable database ({exc})",
            path=root,
            hint="restore it or index into a new --library folder",
        ) from exc
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if has_meta is not None:
        version = conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        if version is not None and int(version[0]) > SCHEMA_VERSION:
            conn.close()
            raise LibraryError(
                f"library format {version[0]} is newer than this reidkit understands ({SCHEMA_VERSION})",
                path=root,
                hint="upgrade reidkit",
            )
    return conn


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_failed(root: Path, media_path: str, exc: BaseException, state: str) -> LibraryError:
    """The one-line error for a write to the library that failed, most often on a full disk."""
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        text = str(exc).strip()
        reason = text.splitlines()[-1] if text else exc.__class__.__name__
    disk_full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
        words in reason.lower() for words in ("no space left", "disk is full", "quota exceeded")
    )
    hint = (
        "free some disk space and run the same command again (files already indexed are skipped)"
        if disk_full
        else "check that the library folder is writable, then run the same command again"
    )
    return LibraryError(f"cannot write {media_path} to the library ({reason}); {state}", path=root, hint=hint)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _index_ids(index: Any) -> set[int]:
    import faiss

    if int(index.ntotal) == 0:
        return set()
    try:
        return set(faiss.vector_to_array(index.id_map).tolist())
    except AttributeError:
        return set()


def _inner_index_type(index: Any) -> str:
    import faiss

    try:
        return type(faiss.downcast_index(index.index)).__name__
    except AttributeError:
        return type(index).__name__


def _needs_training(spec: str) -> bool:
    return spec.upper().startswith(("IVF", "PQ", "OPQ")) or ",PQ" in spec.upper()


def _train_size(spec: str) -> int:
    head = spec.split(",")[0].upper()
    if head.startswith("IVF"):
        digits = "".join(ch for ch in head[3:] if ch.isdigit())
        return IVF_TRAIN_PER_LIST * int(digits or 1)
    return 1000


def _set_search_params(index: Any, nprobe: int, ef_search: int) -> None:
    """Set ``nprobe`` on an IVF index and ``efSearch`` on an HNSW one, through the IDMap2 wrapper."""
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    with suppress(RuntimeError):  # not an IVF index
        faiss.extract_index_ivf(inner).nprobe = nprobe
    hnsw = getattr(inner, "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = ef_search


def _maybe_gpu(index: Any, use_gpu: bool | None) -> Any:
    """A copy of the index on every GPU Faiss sees, for searching (``use_gpu=None``: when there are any).

    Only the search copy moves: the CPU index stays the one that is added to and saved. Flat and IVF
    indexes have GPU implementations (``index_cpu_to_all_gpus`` shards or replicates them; IVF keeps the
    ``nprobe`` set before copying); HNSW has none and stays on the CPU, as does any index the cloner
    refuses. Untested here: the development machines run faiss-cpu, where ``get_num_gpus()`` is 0 and
    this returns ``index`` unchanged.
    """
    if use_gpu is False:
        return index
    import faiss

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpus == 0:
        if use_gpu:
            log.warning("use_gpu requested but this Faiss build has no GPUs; searching on CPU")
        return index
    try:
        return faiss.index_cpu_to_all_gpus(index)
    except Exception as exc:  # an index type without a GPU implementation (e.g. HNSW)
        log.info("searching on CPU: %s", exc)
        return index
