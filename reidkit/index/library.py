"""The library: every indexed media file, its tracklets and their appearance vectors, in one folder.

Layout of a library folder::

    library.sqlite      the source of truth: meta, media, tracklets (+ pooled vectors), crop_vectors,
                        and what the files below hold (reidkit/index/library_files.py)
    library.sqlite-wal  SQLite's write-ahead log, present while a writer or reader has the library open
                        (or after a kill): committed changes not yet copied into library.sqlite. Copy
                        it WITH library.sqlite. A writer checkpoints on close, so a closed library's
                        database is library.sqlite alone (the -wal is then absent or empty).
    library.sqlite-shm  SQLite's shared index of the -wal (rebuilt by SQLite when missing)
    vectors/            the pooled vectors in append-only shards and, for a large library, the saved
                        approximate index (reidkit/index/vector_store.py): derived, checksummed,
                        rebuilt from library.sqlite when damaged
    thumbs/ab/          one JPEG per tracklet (its best crop), in folders by the file's hash prefix;
                        libraries from before keep their flat thumbs/*.jpg
    .lock               held (flock) by the one process allowed to write

Crash safety: one file is added in one SQLite transaction, so a media row exists only with all of its
tracklets and vectors; removing one is one transaction too. Files written outside SQLite (thumbnails,
vector rows) are announced in SQLite before they are written and owned by the commit, so the next
writer cuts or deletes exactly what a killed write left, and nothing else. Readers see one committed
state: they map the vector rows their SQLite snapshot records, never rows still being written.

A damaged library is never made worse: a missing or empty library.sqlite next to another library's
files, or vector files holding rows the database does not record (a copy without its -wal), make a
writer refuse with one line; a damaged database page is one line too; damaged vectors fail their
checksum and are rebuilt from library.sqlite; a read-only folder is opened read-only (immutable).
"""

from __future__ import annotations

import errno
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TypeVar

import numpy as np

from reidkit.core.errors import LibraryError
from reidkit.core.files import sha256_file
from reidkit.core.gallery import LinkRule, MediaRecord, TrackletHit, TrackletRecord, Visit, VisitHead
from reidkit.core.head import VerdictHead
from reidkit.core.log import get_logger
from reidkit.core.vectors import l2_normalise, mean_direction
from reidkit.index.footage import FootageScores, media_footage_scores
from reidkit.index.library_files import (
    ANN_KEY,
    APPENDING_KEY,
    LEGACY_INDEX,
    NEXT_ID_KEY,
    REBUILDING_KEY,
    STORE_SCHEMA,
    THUMBS_DIR,
    bump_generation,
    has_store_tables,
    library_remnants,
    make_library_folder,
    read_generation,
    read_state,
    recover_writer,
    refuse_files_in_place_of_folders,
    refuse_remnants,
    save_shard,
    set_meta,
)
from reidkit.index.sqlite_db import connect, damaged_database, integrity_problem
from reidkit.index.vector_store import VECTORS_DIR, Shard, VectorStore, VectorStoreDamaged
from reidkit.index.visits import (
    VISITS_KEY,
    group_media,
    insert_visits,
    link_new_media,
    link_threshold,
    linked_visits,
    rule_key,
    span_of,
)
from reidkit.media.recorded import read_recorded_at

log = get_logger(__name__)
_T = TypeVar("_T")

# 2: vectors in vector shards (a library of version 1 is migrated by its next writer).
SCHEMA_VERSION = 2
DB_NAME = "library.sqlite"
INDEX_NAME = LEGACY_INDEX  # the single Faiss file of version-1 libraries (deleted by the migration)
LOCK_NAME = ".lock"
# "auto": exact search up to vector_store.EXACT_MAX_VECTORS live vectors, then an IVF index with
# exact re-scoring. "Flat": always exact. Any other Faiss factory string: that approximate index as
# soon as it can be trained (docs/search.md).
DEFAULT_INDEX = "auto"
# Removed rows (still in the shards, masked) that make the writer compact the shards: this many, and
# a quarter of all rows.
COMPACT_MIN_REMOVED = 4096
# Search-time speed/recall knobs (bench/gallery_scale.py): IVF lists visited per query, HNSW candidate
# list length. Stored in meta once set; a reader may override them for its own session.
DEFAULT_NPROBE = 16
FOOTAGE_KEY = "footage_scores"  # meta key of the library's FootageScores (JSON)
# meta keys of the adapted model the library judges verdicts with (reidkit adapt): "<name> <sha256>",
# read on every access, and the head itself (VerdictHead JSON), read only when the first one changed
VERDICT_MODEL_KEY = "verdict_model"
VERDICT_HEAD_KEY = "verdict_head"
# meta key: how the stored tracklet vectors were made (absent: by the caller, before reidkit made them)
VECTORS_KEY = "tracklet_vector"
TRACKLET_VECTOR = "mean of crop vectors"
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
    added_at REAL NOT NULL,
    recorded_at REAL           -- clock time of frame 0, UTC epoch seconds (NULL: the file does not say)
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
CREATE INDEX IF NOT EXISTS media_path ON media(path);
CREATE TABLE IF NOT EXISTS crop_vectors (
    tracklet_id INTEGER NOT NULL REFERENCES tracklets(id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,     -- 0 = best crop
    frame INTEGER NOT NULL,
    quality REAL NOT NULL,
    vector BLOB NOT NULL,      -- float32 (D,)
    PRIMARY KEY (tracklet_id, rank)
);
-- Each file's own footage pairs, so that removing it takes exactly its pairs out of the library's.
CREATE TABLE IF NOT EXISTS media_footage (
    media_id INTEGER PRIMARY KEY REFERENCES media(id) ON DELETE CASCADE,
    scores TEXT NOT NULL       -- FootageScores JSON
);
-- Files a write may have left on disk that no committed row owns yet (thumbnails being written, or
-- those of removed media): written before the files are, cleared once they are owned or deleted.
CREATE TABLE IF NOT EXISTS pending_files (path TEXT PRIMARY KEY);
-- One person's linked tracklets within one media file (reidkit.index.visits), made when it is added.
CREATE TABLE IF NOT EXISTS visits (
    id INTEGER PRIMARY KEY,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    vector BLOB NOT NULL,      -- float32 (D,), unit: the mean of its tracklets' vectors
    start REAL,                -- its members' earliest start (NULL: a visit stored by an older reidkit)
    first_tracklet INTEGER     -- its first member by (start, id) (NULL: likewise)
);
CREATE INDEX IF NOT EXISTS visits_media ON visits(media_id);
CREATE TABLE IF NOT EXISTS visit_tracklets (
    tracklet_id INTEGER PRIMARY KEY REFERENCES tracklets(id) ON DELETE CASCADE,
    visit_id INTEGER NOT NULL REFERENCES visits(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS visit_tracklets_visit ON visit_tracklets(visit_id);
"""


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
    recorded_at: float | None = None  # clock time of frame 0 (UTC epoch seconds), when the file says


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


class StoredFiles(Protocol):
    """What :func:`stored_file` reads: a Library, or a gallery that holds crop vectors and thumbnails."""

    root: Any

    def tracklets(self, media_id: int | None = None) -> list[TrackletRecord]: ...
    def vectors_of(self, tracklet_ids: Sequence[int]) -> np.ndarray: ...
    def crop_vectors(self, tracklet_id: int) -> np.ndarray: ...


def stored_file(source: StoredFiles, media: MediaRecord) -> tuple[NewMedia, list[NewTracklet]]:
    """``media`` of ``source`` as :meth:`Library.add_media` takes it, to add it to another library: its
    tracklets with their stored vectors, crop vectors and thumbnails (times spread over each
    tracklet's span)."""
    records = source.tracklets(media.id)
    vectors = source.vectors_of([r.id for r in records])
    new_media = NewMedia(
        media.path, media.sha256, media.kind, media.fps, media.frame_count, media.duration, media.width,
        media.height, media.recorded_at,
    )  # fmt: skip
    return new_media, [
        NewTracklet(
            track_id=r.track_id,
            frames=r.frames,
            times=np.linspace(r.start, r.end, len(r.frames)),
            boxes=r.boxes,
            vector=vector,
            crop_vectors=source.crop_vectors(r.id),
            best_frame=r.best_frame,
            best_box=r.best_box,
            thumbnail_jpeg=(Path(source.root) / r.thumbnail).read_bytes(),
            quality=r.quality,
        )
        for r, vector in zip(records, vectors, strict=True)
    ]


def is_storable_name(name: str) -> bool:
    """Whether SQLite can store ``name``: a file name the file system gave as bytes that are not UTF-8
    (surrogate escapes) cannot be, so no such name is in any library."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_library_folder(folder: Path) -> bool:
    """Whether ``folder`` is a library's own: its thumbnails and report images are photos of the people
    already in it, never footage to index (a library kept inside the footage folder)."""
    return (Path(folder) / DB_NAME).is_file()


def thumbnail_path(sha256: str, track_id: int) -> str:
    """Where a tracklet's thumbnail goes, relative to the library root: ``thumbs/ab/<sha256>_7.jpg``.

    One folder per first two hex digits of the file's hash (256 folders), so no folder grows past a few
    thousand files at a million tracklets. Libraries written before keep their flat ``thumbs/*.jpg``:
    each tracklet row names its own thumbnail.
    """
    return f"{THUMBS_DIR}/{sha256[:2]}/{sha256}_{track_id}.jpg"


def _blob(array: np.ndarray, dtype: type) -> bytes:
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def _verdict_head_rows(head: VerdictHead) -> list[tuple[str, str]]:
    """The meta rows that store ``head`` (:attr:`Library.verdict_head` reads them)."""
    return [(VERDICT_HEAD_KEY, head.to_json()), (VERDICT_MODEL_KEY, f"{head.model} {head.sha256}")]


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
        try:
            fh = self.path.open("a+")
        except OSError as exc:  # a read-only folder or disk
            raise LibraryError(
                f"cannot write to the library folder ({exc.strerror or exc})",
                path=self.path.parent,
                hint="searching it works as it is; to add or remove files, copy the folder somewhere writable",
            ) from exc
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
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as exc:  # the first writer made the file, not its tables yet
            if "no such table" not in str(exc):
                raise
            meta = {}
        if "model" not in meta or "dim" not in meta:
            problem = integrity_problem(conn)  # a damaged page, not an interrupted first run
            conn.close()
            if problem is not None:
                raise damaged_database(root / DB_NAME, sqlite3.DatabaseError(problem))
            remnants = library_remnants(root)
            if remnants:  # structurally sound, yet it lost its record of the indexed files
                raise LibraryError(
                    f"records no model, but the folder holds indexed files ({', '.join(remnants)}): "
                    "the database is damaged or was copied without library.sqlite-wal; nothing was changed",
                    path=root / DB_NAME,
                    hint="restore library.sqlite (with its library.sqlite-wal) from a backup, or salvage it: "
                    f"sqlite3 {root / DB_NAME} .recover | sqlite3 recovered.sqlite",
                )
            raise LibraryError(
                "library.sqlite has no model recorded (an interrupted first run?)",
                path=root,
                hint="run `reidkit index` into it again",
            )
        self.model: str = meta["model"]
        # The file the vectors were made with and its content hash; None in libraries made before
        # reidkit recorded them (they open as before, and get them on their next indexing run).
        self.model_file: str | None = meta.get("model_file")
        self.model_sha256: str | None = meta.get("model_sha256")
        self.dim: int = int(meta["dim"])
        self.version: int = int(meta.get("version", SCHEMA_VERSION))
        self.index_spec: str = meta.get("index", DEFAULT_INDEX)
        # None: chosen per index (vector_store.auto_nprobe); a stored or set value is used as it is.
        self._nprobe: int | None = int(meta["nprobe"]) if "nprobe" in meta else None
        self._ef_search = int(meta.get("ef_search", DEFAULT_EF_SEARCH))
        self._use_gpu = use_gpu
        self._store = VectorStore(root / VECTORS_DIR, self.dim)
        self._generation = -1  # of the state the store maps
        self._appended: Shard | None = None  # the shard rows an add wrote, for its transaction to own
        self._state_lock = threading.RLock()  # threads sharing a reader: one refresh, one snapshot at a time
        self._footage: FootageScores | None = None
        self._cohort: tuple[int, np.ndarray] | None = None
        self._verdict_head: tuple[str, VerdictHead | None] = ("", None)  # (its meta row, the head)
        self._visits_stored = False  # the stored visits were made with this code's LinkRule()
        # The visits table has the columns a VisitHead reads (a library from before has them added
        # and filled by its next writer; a reader works them out from the members meanwhile).
        self._head_columns = _has_column(conn, "visits", "first_tracklet")
        # Libraries from before recording times lack the column until their next writer adds it.
        self._recorded_column = _has_column(conn, "media", "recorded_at")
        self._media_cache: dict[int, MediaRecord] = {}  # media_list_for's, for one generation
        self._media_generation = -1
        self._link_min = link_threshold(LinkRule(), self.model, self.model_file)
        self._linked: dict[tuple[str, int], list[Visit]] = {}  # visits linked in memory, per media
        self._vectors_rewritten = False  # by _ensure_vectors: the vector files must be rebuilt

    # ----------------------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, root: str | Path, *, use_gpu: bool | None = None) -> Library:
        """Open an existing library for reading (searching); several readers may share it."""
        root = Path(root).expanduser()
        db = root / DB_NAME
        if root.is_file():  # a video or photo passed as --library, most often
            raise LibraryError(
                "is a file, not a library folder",
                path=root,
                hint="pass the folder `reidkit index ... --library FOLDER` made (the photo to search for comes first)",
            )
        if not db.is_file():
            raise LibraryError(
                "not a library (no library.sqlite)",
                path=root,
                hint="run `reidkit index VIDEO_OR_FOLDER --library " + str(root) + "` first",
            )
        if db.stat().st_size == 0:
            raise LibraryError(
                "library.sqlite is empty (0 bytes)",
                path=db,
                hint="restore it (with its library.sqlite-wal, if it had one) from a backup, "
                "or index into a new --library folder",
            )
        lib = cls(root, _connect(db, root, writer=False), writable=False, use_gpu=use_gpu)
        try:
            lib._ensure_visits()
            lib._load_store()
        except BaseException:
            lib._conn.close()
            raise
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

        ``index`` is the search index of a new library: "auto" (the default: exact up to
        ``vector_store.EXACT_MAX_VECTORS`` vectors, then IVF with 8-bit codes and exact re-scoring),
        "Flat" (always exact) or a Faiss ``index_factory`` string such as "IVF1024,Flat" or "HNSW32",
        used once enough vectors exist to train it (docs/search.md). ``nprobe`` / ``ef_search``, when given, are stored as the library's search
        settings (see :meth:`save_search_params`).
        """
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise LibraryError("exists and is not a folder", path=root, hint="pass a folder to --library")
        make_library_folder(root, parents=True)
        refuse_files_in_place_of_folders(root)
        lock = _WriterLock(root)
        lock.acquire()
        conn: sqlite3.Connection | None = None
        try:
            refuse_remnants(root, root / DB_NAME)
            conn = _connect(root / DB_NAME, root, writer=True)
            if not _has_library(conn):  # no library recorded: only start one where none was
                try:
                    refuse_remnants(root, root / DB_NAME, recorded=False)
                except LibraryError:
                    conn.close()
                    raise
            make_library_folder(root / THUMBS_DIR)
            conn.executescript(_SCHEMA + STORE_SCHEMA)
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
                        ("generation", "0"),
                        (NEXT_ID_KEY, "1"),
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
                    lib._link_min = link_threshold(LinkRule(), lib.model, lib.model_file)
            if nprobe is not None or ef_search is not None:
                if nprobe is not None:
                    lib.nprobe = nprobe
                lib.ef_search = lib.ef_search if ef_search is None else ef_search
                lib.save_search_params()
            lib._ensure_recorded_column()
            lib._ensure_visits()
            lib._load_store()
            if lib._vectors_rewritten:
                lib._rebuild_store("tracklet vectors stored as the mean of their crops")
            lib._delete_pending_files()
        except BaseException:
            if conn is not None:
                with suppress(sqlite3.Error):
                    conn.close()
            lock.release()
            raise
        return lib

    @classmethod
    def open_for_writing(cls, root: str | Path, *, use_gpu: bool | None = None) -> Library:
        """Open an existing library for writing with the model it was built with (e.g. to remove media)."""
        root = Path(root).expanduser()
        with cls.open(root, use_gpu=False) as reader:
            model, dim = reader.model, reader.dim
        return cls.create_or_open(root, model, dim, use_gpu=use_gpu)

    def close(self) -> None:
        if self.writable:
            # Copy the -wal into library.sqlite, so a closed library is one database file.
            with suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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
        return self._nprobe if self._nprobe is not None else self._store.nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f"nprobe must be >= 1, got {value}")
        self._nprobe = int(value)
        self._store.set_search_params(self._nprobe, self._ef_search)

    @property
    def ef_search(self) -> int:
        """HNSW candidate list length per query (efSearch; >= k): more = higher recall, slower."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f"ef_search must be >= 1, got {value}")
        self._ef_search = int(value)
        self._store.set_search_params(self._nprobe, self._ef_search)

    def save_search_params(self) -> None:
        """Store the current ``ef_search`` and ``nprobe`` (when set) in the library, for every later reader."""
        if not self.writable:
            raise LibraryError(
                "library was opened read-only", path=self.root, hint="use Library.create_or_open"
            )
        with self._transaction() as cur:
            cur.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [("ef_search", str(self._ef_search))]
                + ([] if self._nprobe is None else [("nprobe", str(self._nprobe))]),
            )

    # ----------------------------------------------------------------------------------------- reading
    def __len__(self) -> int:
        """Tracklets searchable: the mapped vector store's live count (a COUNT(*) walks a million-row
        table in tens of ms, and every search asks); a reader catches up with a writer's commits first."""
        if self._generation < 0:  # not mapped yet (while opening)
            return int(self._conn.execute("SELECT COUNT(*) FROM tracklets").fetchone()[0])
        self._refresh()
        return int(self._store.live_count)

    def has_media(self, sha256: str) -> bool:
        return self._conn.execute("SELECT 1 FROM media WHERE sha256 = ?", (sha256,)).fetchone() is not None

    def media_id(self, sha256: str) -> int | None:
        row = self._conn.execute("SELECT id FROM media WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else int(row[0])

    def media_list(self) -> list[MediaRecord]:
        rows = self._conn.execute(f"SELECT {self._media_select()} FROM media ORDER BY id").fetchall()
        return [_media_record(r) for r in rows]

    def media(self, media_id: int) -> MediaRecord:
        row = self._conn.execute(
            f"SELECT {self._media_select()} FROM media WHERE id = ?", (media_id,)
        ).fetchone()
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

    def tracklet_ids(self, media_id: int) -> list[int]:
        return [
            int(r[0]) for r in self._conn.execute("SELECT id FROM tracklets WHERE media_id = ?", (media_id,))
        ]

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

    @property
    def verdict_head(self) -> VerdictHead | None:
        """The adapted model this library's verdicts are judged with (:meth:`set_verdict_head`), or None.

        One small meta read per call, so a reader sees an adaptation a writer committed meanwhile. A head
        that cannot be read is a warning and None: verdicts fall back to the library model's own."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (VERDICT_MODEL_KEY,)).fetchone()
        stamp = row[0] if row else ""
        if stamp != self._verdict_head[0]:
            head = None
            if stamp:
                text = self._conn.execute(
                    "SELECT value FROM meta WHERE key = ?", (VERDICT_HEAD_KEY,)
                ).fetchone()
                try:
                    head = VerdictHead.from_json(text[0] if text else "")
                except ValueError as exc:
                    log.warning(
                        "%s: the adapted verdict model %s cannot be read (%s); verdicts use %s until "
                        "`reidkit adapt` is run again",
                        self.root,
                        stamp.split()[0],
                        exc,
                        self.model,
                    )
            self._verdict_head = (stamp, head)
        return self._verdict_head[1]

    def _check_head(self, head: VerdictHead | None) -> None:
        if head is not None and head.dim != self.dim:
            raise ValueError(f"the head maps {head.dim}-d vectors, not this library's {self.dim}-d ones")

    def set_verdict_head(self, head: VerdictHead | None) -> None:
        """Judge this library's verdicts with ``head`` (an adapted model of its own vectors; None: with
        the library model again). One transaction: a reader sees the old head or the new one."""
        if not self.writable:
            raise LibraryError(
                "library was opened read-only", path=self.root, hint="use Library.create_or_open"
            )
        self._check_head(head)
        with self._transaction() as cur:
            cur.executemany("DELETE FROM meta WHERE key = ?", [(VERDICT_MODEL_KEY,), (VERDICT_HEAD_KEY,)])
            if head is not None:
                cur.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", _verdict_head_rows(head))

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
        self._refresh()
        if self._cohort is None or self._cohort[0] != self._generation:
            self._cohort = (self._generation, self._read_vectors(lambda: self._store.sample(limit)))
        return self._cohort[1]

    def tracklet_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All pooled vectors as library.sqlite holds them: ``(ids (N,) int64, vectors (N, D) float32)``.

        O(library): for rebuilding and experiments; searching reads the vector shards.
        """
        rows = self._conn.execute("SELECT id, vector FROM tracklets ORDER BY id").fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        vectors = (
            np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), self.dim).copy()
            if rows
            else np.zeros((0, self.dim), np.float32)
        )
        return ids, vectors

    def search(self, query: np.ndarray, k: int) -> list[TrackletHit]:
        """The ``k`` tracklets whose pooled vector is closest (cosine) to ``query``, best first."""
        found = self.nearest(query, k)
        if not found:
            return []
        with self._read_snapshot():  # the tracklets and their media as of one commit
            records = self._tracklets_by_id([i for i, _ in found])
            media = {m.id: m for m in self.media_list_for({r.media_id for r in records.values()})}
        # A tracklet removed since the vectors were mapped has no row any more: it is left out.
        return [TrackletHit(records[i], media[records[i].media_id], s) for i, s in found if i in records]

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """:meth:`search` without the records: ``(tracklet id, cosine)`` pairs, best first (an id removed
        since the vectors were mapped may be among them; :meth:`visits_of` leaves it out)."""
        query = np.asarray(query, np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise LibraryError(
                f"query vector has dim {query.shape[0]} but the library was built with {self.model!r} (dim {self.dim})",
                path=self.root,
                hint=f"embed the query with --model {self.model}",
            )
        self._refresh()
        total = self._store.live_count
        if total == 0:
            raise LibraryError(
                "library is empty (no tracklets indexed)",
                path=self.root,
                hint=f"run `reidkit index VIDEO_OR_FOLDER --library {self.root}` first",
            )
        k = max(1, min(int(k), total))
        unit = _unit(query)
        with _one_faiss_thread():
            ids, scores = self._read_vectors(lambda: self._store.search(unit, k))
        return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]

    def _read_vectors(self, read: Callable[[], _T]) -> _T:
        """``read()`` from the vector store; rows found damaged as they are read (opening checks the
        rows an approximate index covers only then) are repaired from SQLite, and ``read`` runs again."""
        try:
            return read()
        except VectorStoreDamaged as exc:
            log.warning("%s; rebuilding the vectors from library.sqlite", exc)
            with self._state_lock:
                self._repair(exc.reason)
            return read()

    @contextmanager
    def _read_snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state (a writer's commit in between is not half seen)."""
        with self._state_lock:
            if self._conn.in_transaction:
                yield
                return
            self._conn.execute("BEGIN")
            try:
                yield
            finally:
                self._conn.execute("COMMIT")

    def media_list_for(self, ids: set[int]) -> list[MediaRecord]:
        """The media records of ``ids`` (those that exist). Kept for the session while the library's
        generation stands (every add and removal moves it), so a search builds each file's record once."""
        if not ids:
            return []
        generation = read_generation(self._conn)
        if generation != self._media_generation or len(self._media_cache) > _MEDIA_CACHE_MAX:
            self._media_cache, self._media_generation = {}, generation
        missing = [i for i in ids if i not in self._media_cache]
        if missing:
            for row in self._rows_for_ids(
                f"SELECT {self._media_select()} FROM media WHERE id IN ({{}})", missing
            ):
                self._media_cache[int(row[0])] = _media_record(row)
        return [self._media_cache[i] for i in ids if i in self._media_cache]

    def _tracklets_by_id(self, ids: list[int]) -> dict[int, TrackletRecord]:
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            f"SELECT {_TRACKLET_COLUMNS} FROM tracklets WHERE id IN ({marks})", tuple(ids)
        ).fetchall()
        return {int(r[0]): _tracklet_record(r) for r in rows}

    def _rows_for_ids(self, sql: str, ids: Sequence[int]) -> list[tuple]:
        """``sql`` (with one ``IN ({})``) run for ``ids`` in chunks that fit SQLite's variable limit."""
        rows: list[tuple] = []
        unique = list(dict.fromkeys(int(i) for i in ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            rows.extend(self._conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall())
        return rows

    def vectors_of(self, tracklet_ids: Sequence[int]) -> np.ndarray:
        """(n, D): the stored vectors of ``tracklet_ids`` (what Faiss ranks), in that order."""
        ids = [int(i) for i in tracklet_ids]
        rows = self._rows_for_ids("SELECT id, vector FROM tracklets WHERE id IN ({})", ids)
        found = {int(r[0]): np.frombuffer(r[1], np.float32) for r in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no tracklet with id {missing[0]}")
        return np.stack([found[i] for i in ids]) if ids else np.zeros((0, self.dim), np.float32)

    # ----------------------------------------------------------------------------------------- visits
    def visits_of(self, tracklet_ids: Sequence[int], rule: LinkRule | None = None) -> list[Visit]:
        """The visits holding any of ``tracklet_ids``, each once with all its members, in id order.

        With the library's own rule (``None`` or ``LinkRule()``) these are the visits stored when each
        file was added: three batched reads, whatever the library's size. Another rule links the files
        of those tracklets in memory (for experiments; per-file work).
        """
        ids = [int(i) for i in tracklet_ids]
        if not ids:
            return []
        with self._read_snapshot():  # the visits and their tracklets as of one commit
            return self._visits_of(ids, rule)

    def _visits_of(self, ids: list[int], rule: LinkRule | None) -> list[Visit]:
        if self._uses_stored_visits(rule):
            rows = self._rows_for_ids(
                "SELECT tracklet_id, visit_id FROM visit_tracklets WHERE tracklet_id IN ({})", ids
            )
            visits = self._stored_visits(sorted({int(r[1]) for r in rows}))
            unlinked = set(ids) - {int(r[0]) for r in rows}
            if unlinked:  # removed since the vectors were mapped, or stored by an older reidkit
                unlinked = {
                    int(r[0])
                    for r in self._rows_for_ids("SELECT id FROM tracklets WHERE id IN ({})", sorted(unlinked))
                }
            if not unlinked:
                return visits
            # Tracklets without a stored visit (written by a reidkit from before visits): never
            # dropped from a search, linked here instead.
            log.warning("%s: %d tracklets have no stored visit; linking them now", self.root, len(unlinked))
            return visits + self._visits_linked_now(sorted(unlinked), LinkRule())
        return self._visits_linked_now(ids, rule or LinkRule())

    def visit_heads_of(self, tracklet_ids: Sequence[int], rule: LinkRule | None = None) -> list[VisitHead]:
        """:meth:`visits_of` without the members, in visit id order: for stored visits one batched
        read of the visit rows (each holds its vector, start and first member), no tracklet row read."""
        ids = [int(i) for i in tracklet_ids]
        if not ids:
            return []
        if not self._uses_stored_visits(rule):
            return [VisitHead.of(v) for v in self._visits_of(ids, rule)]
        with self._read_snapshot():
            if self._head_columns:  # COALESCE: a visit an older reidkit stored has NULLs
                start = f"COALESCE(v.start, {_HEAD_START.format('v.id')})"
                first = f"COALESCE(v.first_tracklet, {_HEAD_FIRST.format('v.id')})"
            else:
                start, first = _HEAD_START.format("v.id"), _HEAD_FIRST.format("v.id")
            rows = self._rows_for_ids(
                f"SELECT vt.tracklet_id, v.id, v.media_id, v.vector, {start}, {first} FROM visit_tracklets vt"
                " JOIN visits v ON v.id = vt.visit_id WHERE vt.tracklet_id IN ({})",
                ids,
            )
            unlinked = set(ids) - {int(r[0]) for r in rows}
            media = {m.id: m for m in self.media_list_for({int(r[2]) for r in rows})}
            heads = {
                int(r[1]): VisitHead(
                    int(r[1]), media[int(r[2])], float(r[4]), int(r[5]), np.frombuffer(r[3], np.float32)
                )
                for r in rows
            }
            if unlinked:  # removed since the vectors were mapped, or without a stored visit
                heads.update(
                    (v.id, VisitHead.of(v))
                    for v in self._visits_of(sorted(unlinked), rule)
                    if v.id not in heads
                )
        return [heads[i] for i in sorted(heads)]

    def _visits_linked_now(self, ids: list[int], rule: LinkRule) -> list[Visit]:
        rows = self._rows_for_ids("SELECT DISTINCT media_id FROM tracklets WHERE id IN ({})", ids)
        wanted = set(ids)
        visits = self._linked_in_memory(sorted(int(r[0]) for r in rows), rule)
        return [v for v in visits if any(t.id in wanted for t in v.tracklets)]

    def visits(self, rule: LinkRule | None = None) -> list[Visit]:
        """Every visit, media in the order they were added (a read of the whole library)."""
        if self._uses_stored_visits(rule):
            return self._stored_visits(
                [int(r[0]) for r in self._conn.execute("SELECT id FROM visits ORDER BY id")]
            )
        return self._linked_in_memory([m.id for m in self.media_list()], rule or LinkRule())

    def _uses_stored_visits(self, rule: LinkRule | None) -> bool:
        if not self._visits_stored:
            return False
        return (
            rule is None
            or rule == LinkRule()
            or rule_key(rule, self.model, self.model_file)
            == rule_key(LinkRule(), self.model, self.model_file)
        )

    def _stored_visits(self, visit_ids: list[int]) -> list[Visit]:
        """The visits ``visit_ids`` with their members: one joined read (per 900 visits)."""
        if not visit_ids:
            return []
        rows = self._rows_for_ids(
            f"SELECT vt.visit_id, v.media_id, v.vector, {_TRACKLET_COLUMNS_OF_T}, t.vector FROM visit_tracklets vt"
            " JOIN visits v ON v.id = vt.visit_id JOIN tracklets t ON t.id = vt.tracklet_id"
            " WHERE vt.visit_id IN ({})",
            visit_ids,
        )
        rows.sort(key=lambda r: (r[0], r[3 + 5], r[3]))  # by visit, then member start time and id
        vectors = np.frombuffer(b"".join(r[-1] for r in rows), np.float32).reshape(len(rows), self.dim)
        media = {m.id: m for m in self.media_list_for({int(r[1]) for r in rows})}
        visits = []
        for visit_id, group in itertools.groupby(range(len(rows)), key=lambda i: rows[i][0]):
            at = list(group)
            head = rows[at[0]]
            visits.append(
                Visit(
                    int(visit_id),
                    media[int(head[1])],
                    tuple(_tracklet_record(rows[i][3:-1]) for i in at),
                    vectors[at[0] : at[-1] + 1],
                    np.frombuffer(head[2], np.float32),
                )
            )
        return visits

    def _linked_in_memory(self, media_ids: list[int], rule: LinkRule) -> list[Visit]:
        """The visits of ``media_ids`` linked now by ``rule`` (cached for the session)."""
        key = rule_key(rule, self.model, self.model_file)
        todo = [m for m in media_ids if (key, m) not in self._linked]
        if todo:
            media = {m.id: m for m in self.media_list_for(set(todo))}
            by_media: dict[int, list[tuple[TrackletRecord, np.ndarray]]] = {m: [] for m in todo}
            for row in self._rows_for_ids(
                f"SELECT {_TRACKLET_COLUMNS}, vector FROM tracklets WHERE media_id IN ({{}}) ORDER BY id",
                todo,
            ):
                record = _tracklet_record(row[:-1])
                by_media[record.media_id].append((record, np.frombuffer(row[-1], np.float32)))
            threshold = link_threshold(rule, self.model, self.model_file)
            for media_id, pairs in by_media.items():
                self._linked[(key, media_id)] = (
                    linked_visits(media[media_id], pairs, threshold, rule) if media_id in media else []
                )
        return [v for m in media_ids for v in self._linked[(key, m)]]

    def _ensure_visits(self) -> None:
        """Check that the stored visits were made with the rule this code links by; else link again.

        A library from before stored visits (or whose model's link threshold changed, or with files an
        older reidkit added without visits) is re-linked once by its next writer; a reader, which never
        writes, links the files it reads in memory for its session. Either way no search sees visits
        made by another rule.
        """
        self._ensure_vectors()
        if self.writable and not self._head_columns:
            self._add_head_columns()
        key = rule_key(LinkRule(), self.model, self.model_file)
        if not self._has_table("visit_tracklets"):  # a reader of a library from before visits
            log.warning(
                "%s: a library from before stored visits; linking them in memory (the next `reidkit "
                "index` stores them)",
                self.root,
            )
            return
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (VISITS_KEY,)).fetchone()
        # Files added by a reidkit from before visits have tracklets past the last one in a visit
        # (two primary-key lookups, whatever the size).
        newest = self._conn.execute("SELECT MAX(id) FROM tracklets").fetchone()[0]
        newest_linked = self._conn.execute("SELECT MAX(tracklet_id) FROM visit_tracklets").fetchone()[0]
        if row is not None and row[0] == key and newest == newest_linked:
            self._visits_stored = True
            return
        if self.writable:
            self._relink_all(key)
            return
        log.warning(
            "%s: its visits were made by another rule or an older reidkit; linking them in memory "
            "(the next `reidkit index` stores them)",
            self.root,
        )

    def _has_table(self, name: str) -> bool:
        return (
            self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
            is not None
        )

    def _media_select(self) -> str:
        """The media columns a MediaRecord reads (recording times NULL where the library has none yet)."""
        if not self._recorded_column:  # until a writer (maybe another process) adds the column
            self._recorded_column = _has_column(self._conn, "media", "recorded_at")
        return _MEDIA_COLUMNS + (", recorded_at" if self._recorded_column else ", NULL")

    def _ensure_recorded_column(self) -> None:
        """Give a library from before recording times its column, filled from the files still there."""
        if self._recorded_column:
            return
        media = self._conn.execute("SELECT id, path FROM media").fetchall()
        log.info("%s: reading when its %d files were recorded (once)", self.root, len(media))
        times = [(read_recorded_at(path), media_id) for media_id, path in media]
        with self._transaction() as cur:
            cur.execute("ALTER TABLE media ADD COLUMN recorded_at REAL")
            cur.executemany("UPDATE media SET recorded_at = ? WHERE id = ?", [t for t in times if t[0]])
            bump_generation(cur)  # readers' cached media records are refreshed
        self._recorded_column = True

    def _add_head_columns(self) -> None:
        """Give a library from before visit heads their columns, filled from the members (once)."""
        log.info("%s: storing each visit's start and first member (once)", self.root)
        with self._transaction() as cur:
            cur.execute("ALTER TABLE visits ADD COLUMN start REAL")
            cur.execute("ALTER TABLE visits ADD COLUMN first_tracklet INTEGER")
            cur.execute(
                f"UPDATE visits SET start = {_HEAD_START.format('visits.id')},"
                f" first_tracklet = {_HEAD_FIRST.format('visits.id')}"
            )
        self._head_columns = True

    def _ensure_vectors(self) -> None:
        """Make a library from before the one vector definition store it: a writer sets each tracklet's
        vector to the mean of its crop vectors (what search scored by then), once, and the vector files
        are rebuilt from them. A reader searches the vectors as stored."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (VECTORS_KEY,)).fetchone()
        if row is not None and row[0] == TRACKLET_VECTOR:
            return
        if self.writable:
            self._rewrite_vectors()
        else:
            log.warning("%s: tracklet vectors from an older reidkit, searched as stored", self.root)

    def _rewrite_vectors(self) -> None:
        count = int(self._conn.execute("SELECT COUNT(*) FROM tracklets").fetchone()[0])
        if count:
            log.info("%s: storing %d tracklet vectors as the mean of their crops (once)", self.root, count)
        with self._transaction() as cur:
            rows = self._conn.execute(
                "SELECT tracklet_id, vector FROM crop_vectors ORDER BY tracklet_id, rank"
            )
            updates: list[tuple[bytes, int]] = []
            for tracklet_id, group in itertools.groupby(rows, key=lambda row: int(row[0])):
                crops = np.stack([np.frombuffer(blob, np.float32) for _, blob in group])
                updates.append((_blob(mean_direction(crops), np.float32), tracklet_id))
                if len(updates) >= 10_000:
                    cur.executemany("UPDATE tracklets SET vector = ? WHERE id = ?", updates)
                    updates = []
            cur.executemany("UPDATE tracklets SET vector = ? WHERE id = ?", updates)
            cur.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (VECTORS_KEY, TRACKLET_VECTOR)
            )
            # Visits were linked and footage scores measured with the old vectors: made again.
            cur.executemany("DELETE FROM meta WHERE key = ?", [(VISITS_KEY,), (FOOTAGE_KEY,)])
        self._footage = None
        self._vectors_rewritten = count > 0

    def _relink_all(self, key: str) -> None:
        media_list = self.media_list()
        if media_list:
            log.info("%s: linking the tracklets of %d files into visits (once)", self.root, len(media_list))
        with self._transaction() as cur:
            cur.execute("DELETE FROM visit_tracklets")
            cur.execute("DELETE FROM visits")
            for media in media_list:
                records = self.tracklets(media.id)
                if not records:
                    continue
                ids = [r.id for r in records]
                vectors = self.vectors_of(ids)
                spans = [span_of(r.id, r.start, r.end, r.boxes) for r in records]
                groups = group_media(media.kind, spans, vectors, media.width, self._link_min, LinkRule())
                insert_visits(cur, media.id, groups, ids, vectors, [r.start for r in records])
            cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (VISITS_KEY, key))
        self._visits_stored = True

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
        thumbs = [thumbnail_path(media.sha256, t.track_id) for t in tracklets]
        first_id = read_state(self._conn).next_id
        new_ids: list[int] = list(range(first_id, first_id + len(tracklets)))
        vectors: list[np.ndarray] = [self._tracklet_vector(t) for t in tracklets]
        stacked = np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32)
        shard_no, shard_rows = self._store.next_shard(len(tracklets))
        footage = self.footage_scores()  # before the insert: a legacy library measures its old files
        try:
            with self._transaction() as cur:  # a kill before the commit below leaves no unowned file
                cur.executemany(
                    "INSERT OR IGNORE INTO pending_files(path) VALUES (?)", [(r,) for r in thumbs]
                )
                set_meta(cur, APPENDING_KEY, f"{shard_no} {shard_rows} {len(tracklets)}")
            if thumbs:
                (self.root / thumbs[0]).parent.mkdir(parents=True, exist_ok=True)
            for rel, t in zip(thumbs, tracklets, strict=True):
                _write_thumbnail(self.root / rel, t.thumbnail_jpeg)
            self._appended = (
                self._store.append(shard_no, shard_rows, np.array(new_ids, np.int64), stacked)
                if new_ids
                else None
            )
            media_id = self._insert_media(media, thumbs, tracklets, new_ids, vectors, footage)
        except Exception as exc:  # rolled back: what this add wrote belongs to nothing (a kill or Ctrl-C
            self._undo_add(shard_no, shard_rows)  # is left to the next writer's open: recover_writer)
            if isinstance(exc, (OSError, sqlite3.OperationalError)):  # a full disk, most often
                raise _write_failed(self.root, media.path, exc, "the library is as it was before it") from exc
            raise
        try:
            self._reload_state(verify=False)
            self._maybe_build_ann()
        except (OSError, RuntimeError) as exc:  # Faiss reports a failed write as RuntimeError
            raise _write_failed(
                self.root, media.path, exc, "it is in the library; its search index is rebuilt on next open"
            ) from exc
        return media_id

    def move_media(self, media_id: int, path: str | Path) -> None:
        """Record that a file the library holds is now at ``path`` (moved or renamed since it was
        indexed): searches then show and play it from there. Its content, and so its id, is the same."""
        if not self.writable:
            raise LibraryError(
                "library was opened read-only", path=self.root, hint="use Library.create_or_open"
            )
        with self._transaction() as cur:
            cur.execute("UPDATE media SET path = ? WHERE id = ?", (str(Path(path).resolve()), media_id))

    def media_by_path(self, path: str | Path) -> MediaRecord | None:
        """The media indexed from ``path`` (as given, or resolved to the absolute path the indexer stores)."""
        names = [
            n
            for n in dict.fromkeys([str(path), str(Path(path).expanduser().resolve())])
            if is_storable_name(n)
        ]
        if not names:  # a name that is not UTF-8 was never indexed (the indexer refuses them)
            return None
        marks = ",".join("?" * len(names))
        row = self._conn.execute(
            f"SELECT {self._media_select()} FROM media WHERE path IN ({marks}) ORDER BY id LIMIT 1", names
        ).fetchone()
        return None if row is None else _media_record(row)

    def remove_media(self, media: int | str | Path) -> MediaRecord | None:
        """Delete one file from the library: its media row, tracklets, vectors and thumbnails, or nothing.

        ``media`` is a media id or the path it was indexed from. Returns the removed record, None when the
        library holds no such file. Atomic: one transaction removes the rows (a reader sees the file or
        not at all); the thumbnails are deleted after it, and a kill in between is finished by the next
        writer (their paths are recorded in ``pending_files`` by that same transaction).
        """
        if not self.writable:
            raise LibraryError(
                "library was opened read-only", path=self.root, hint="use Library.create_or_open"
            )
        if isinstance(media, int):
            record = self.media_list_for({media})
            found = record[0] if record else None
        else:
            found = self.media_by_path(media)
        if found is None:
            return None
        rows = self._conn.execute(
            "SELECT id, thumbnail FROM tracklets WHERE media_id = ?", (found.id,)
        ).fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        thumbs = [r[1] for r in rows]
        try:
            with self._transaction() as cur:
                cur.executemany(
                    "INSERT OR IGNORE INTO pending_files(path) VALUES (?)", [(t,) for t in thumbs]
                )
                self._remove_footage(cur, found.id)
                cur.executemany(
                    "INSERT OR IGNORE INTO removed_vectors(tracklet_id) VALUES (?)", [(int(i),) for i in ids]
                )
                cur.execute("DELETE FROM media WHERE id = ?", (found.id,))
                bump_generation(cur)
        except (OSError, sqlite3.OperationalError) as exc:
            raise _write_failed(
                self.root, found.path, exc, "the library is as it was before it", "remove"
            ) from exc
        self._reload_state(verify=False)
        removed = len(self._store.removed)
        if removed >= COMPACT_MIN_REMOVED and removed * 4 >= self._store.rows:
            self._rebuild_store("compacting removed vectors")
        self._delete_pending_files()
        return found

    def _remove_footage(self, cur: sqlite3.Cursor, media_id: int) -> None:
        """Take one file's footage pairs out of the library's (inside the removal's transaction)."""
        row = cur.execute("SELECT scores FROM media_footage WHERE media_id = ?", (media_id,)).fetchone()
        footage = self.footage_scores()
        if row is None:  # a file indexed before per-file scores were kept: measure what stays
            cur.execute("DELETE FROM meta WHERE key = ?", (FOOTAGE_KEY,))
            self._footage = None
            return
        footage.subtract(FootageScores.from_json(row[0]))
        complete = cur.execute("SELECT (SELECT COUNT(*) FROM media) = (SELECT COUNT(*) FROM media_footage)")
        if complete.fetchone()[0]:  # else a maximum may come from a file without its own scores: kept
            rows = cur.execute("SELECT scores FROM media_footage WHERE media_id != ?", (media_id,))
            footage.set_maxima([FootageScores.from_json(r[0]) for r in rows])
        cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (FOOTAGE_KEY, footage.to_json()))
        self._footage = footage

    def _undo_add(self, shard_no: int, shard_rows: int) -> None:
        """Cut off what an add that failed before its commit wrote (vector rows, thumbnails, its marker),
        so that the library is exactly as before it and the next add writes where this one did. Left to
        a writer's next open (``recover_writer``) if this fails too."""
        self._appended = None
        with suppress(OSError, sqlite3.Error):
            self._store.truncate(shard_no, shard_rows)  # a shard this add began is left empty: harmless
            self._delete_pending_files()
            with self._transaction() as cur:
                cur.execute("DELETE FROM meta WHERE key = ?", (APPENDING_KEY,))

    def _delete_pending_files(self) -> None:
        """Delete the recorded files no tracklet owns, then forget them (a crashed add's or removal's)."""
        paths = [r[0] for r in self._conn.execute("SELECT path FROM pending_files")]
        if not paths:
            return
        owned: set[str] = set()
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            marks = ",".join("?" * len(chunk))
            owned.update(
                r[0]
                for r in self._conn.execute(
                    f"SELECT thumbnail FROM tracklets WHERE thumbnail IN ({marks})", chunk
                )
            )
        for rel in paths:
            if rel not in owned:
                (self.root / rel).unlink(missing_ok=True)
        with self._transaction() as cur:
            cur.executemany("DELETE FROM pending_files WHERE path = ?", [(p,) for p in paths])

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
                "INSERT INTO media(path, sha256, kind, fps, frame_count, duration, width, height, added_at,"
                " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    None if media.recorded_at is None else float(media.recorded_at),
                ),
            )
            media_id = int(cur.lastrowid or 0)
            for tracklet_id, rel, t in zip(new_ids, thumbs, tracklets, strict=True):
                self._insert_tracklet(cur, media_id, rel, t, tracklet_id)
            link_new_media(cur, media_id, media, new_ids, tracklets, vectors, self._link_min)
            self._commit_vectors(cur, new_ids)
            own = media_footage_scores(
                tracklets,
                np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32),
                [t.crop_vectors for t in tracklets],
            )
            footage.merge(own)
            cur.execute(
                "INSERT INTO media_footage(media_id, scores) VALUES (?, ?)", (media_id, own.to_json())
            )
            cur.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (FOOTAGE_KEY, footage.to_json())
            )
            cur.executemany("DELETE FROM pending_files WHERE path = ?", [(rel,) for rel in thumbs])
        self._footage = footage
        return media_id

    def _tracklet_vector(self, t: NewTracklet) -> np.ndarray:
        """What the library stores for a tracklet: the mean of its crops' vectors (``mean_direction``),
        the one vector search ranks, links and scores by; ``t.vector`` when it has no crop vectors."""
        crops = np.asarray(t.crop_vectors, np.float32).reshape(-1, self.dim)
        return mean_direction(crops) if len(crops) else _unit(t.vector)

    def _insert_tracklet(
        self, cur: sqlite3.Cursor, media_id: int, thumbnail: str, t: NewTracklet, tracklet_id: int
    ) -> int:
        frames = np.asarray(t.frames, np.int64).reshape(-1)
        times = np.asarray(t.times, np.float64).reshape(-1)
        boxes = np.asarray(t.boxes, np.float32).reshape(-1, 4)
        if len(frames) == 0 or len(frames) != len(boxes) or len(times) != len(frames):
            raise ValueError("a tracklet needs matching, non-empty frames, times and boxes")
        crop_vectors = np.asarray(t.crop_vectors, np.float32).reshape(-1, self.dim)
        cur.execute(
            'INSERT INTO tracklets(id, media_id, track_id, start_frame, end_frame, start, "end", frames, boxes,'
            " best_frame, best_box, thumbnail, n_crops, quality, vector)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tracklet_id,
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
                _blob(self._tracklet_vector(t), np.float32),
            ),
        )
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

    def replace_vectors(
        self,
        model: str,
        model_file: str | Path,
        crop_vectors: dict[int, np.ndarray],
        *,
        model_file_sha256: str | None = None,
        verdict_head: VerdictHead | None = None,
    ) -> None:
        """Re-embed the library with another model of the same dimension, all or nothing.

        ``crop_vectors`` maps every tracklet id to its new (k, D) crop vectors, rows in the stored rank
        order; each tracklet's vector becomes their mean direction (the one vector definition). One
        SQLite transaction switches the vectors and the model's name, file and sha256, drops the stored
        visits and footage scores (linked and measured with the old vectors: made again) and unlists the
        vector files, so an interruption after it (kill -9 included) leaves a library whose vector files
        are rebuilt from SQLite on open; before it, the old library is untouched. A verdict head of the
        old vectors is dropped; ``verdict_head`` (one of the new vectors) is stored in the same transaction.
        """
        if not self.writable:
            raise LibraryError(
                "library was opened read-only", path=self.root, hint="use Library.create_or_open"
            )
        ids = [int(r[0]) for r in self._conn.execute("SELECT id FROM tracklets ORDER BY id")]
        if set(crop_vectors) != set(ids):
            raise ValueError("replace_vectors needs new crop vectors for every tracklet, and only those")
        self._check_head(verdict_head)
        counts = dict(
            self._conn.execute(
                "SELECT tracklet_id, COUNT(*) FROM crop_vectors GROUP BY tracklet_id"
            ).fetchall()
        )
        crops: dict[int, np.ndarray] = {}
        for tracklet_id in ids:
            vectors = np.asarray(crop_vectors[tracklet_id], np.float32).reshape(-1, self.dim)
            if len(vectors) != counts.get(tracklet_id, 0):
                raise ValueError(
                    f"tracklet {tracklet_id}: {len(vectors)} crop vectors for {counts.get(tracklet_id, 0)} stored crops"
                )
            crops[tracklet_id] = l2_normalise(vectors)
        sha256 = model_file_sha256 or model_sha256(model_file)
        resolved = str(Path(model_file).resolve())
        with self._transaction() as cur:
            cur.executemany(
                "UPDATE tracklets SET vector = ? WHERE id = ?",
                [(_blob(mean_direction(crops[i]), np.float32), i) for i in ids],
            )
            cur.executemany(
                "UPDATE crop_vectors SET vector = ? WHERE tracklet_id = ? AND rank = ?",
                [(_blob(v, np.float32), i, rank) for i in ids for rank, v in enumerate(crops[i])],
            )
            cur.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [("model", model), ("model_file", resolved), ("model_sha256", sha256)],
            )
            # The visits and footage scores were made with the old vectors, and a verdict head maps them.
            cur.executemany(
                "DELETE FROM meta WHERE key = ?",
                [(VISITS_KEY,), (FOOTAGE_KEY,), (VERDICT_MODEL_KEY,), (VERDICT_HEAD_KEY,)],
            )
            if verdict_head is not None:
                cur.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)", _verdict_head_rows(verdict_head)
                )
            if has_store_tables(self._conn):
                # The vector files are stale now: unlisted and retired (pending_files), so that a
                # writer after a kill here deletes them and rebuilds, as after any rebuild's commit.
                self._retire_shards(cur)
                cur.execute("DELETE FROM vector_shards")
                cur.execute("DELETE FROM removed_vectors")
                cur.execute("DELETE FROM meta WHERE key = ?", (ANN_KEY,))
                bump_generation(cur)
        self.model, self.model_file, self.model_sha256 = model, resolved, sha256
        self._footage, self._cohort = None, None
        self._link_min = link_threshold(LinkRule(), model, resolved)
        self._rebuild_store(f"re-embedded with {model}")
        self._ensure_visits()

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

    # ----------------------------------------------------------------------------------------- vectors
    def _commit_vectors(self, cur: sqlite3.Cursor, new_ids: list[int]) -> None:
        """Inside an add's transaction: own the rows just appended, advance the ids and the generation."""
        appended = self._appended
        if appended is not None and new_ids:
            save_shard(cur, appended)
        if new_ids:
            set_meta(cur, NEXT_ID_KEY, max(new_ids) + 1)
        cur.execute("DELETE FROM meta WHERE key = ?", (APPENDING_KEY,))
        bump_generation(cur)
        self._appended = None

    def _load_store(self) -> None:
        """Map the vector shards SQLite records; repair them from SQLite when damaged or missing."""
        if not has_store_tables(self._conn) or self.version < 2:
            if self.writable:
                self._rebuild_store("migrating a library from before vector shards")
                return
            log.info("%s: a library from before vector shards; its vectors are read from SQLite", self.root)
            self._store.load_arrays(*self.tracklet_vectors())
            self._generation = read_generation(self._conn) if has_store_tables(self._conn) else 0
            return
        state = read_state(self._conn)
        if self.writable:
            pending = self._conn.execute("SELECT path FROM pending_files").fetchall()
            retired = frozenset(Path(r[0]).name for r in pending if r[0].startswith(f"{VECTORS_DIR}/"))
            cleared = recover_writer(self._store, state, retired)
            if cleared or retired:
                with self._transaction() as cur:
                    cur.executemany("DELETE FROM meta WHERE key = ?", [(k,) for k in cleared])
                    # recover_writer deleted the retired shards: forget them before a rebuild reuses
                    # their numbers.
                    cur.execute("DELETE FROM pending_files WHERE path LIKE ?", (f"{VECTORS_DIR}/%",))
                state = read_state(self._conn)
        try:
            self._adopt(state, verify=True)
            if self.writable:
                self._store.write_missing_sums()
        except VectorStoreDamaged as exc:
            doing = "rebuilding" if self.writable else "reading"
            log.warning("%s; %s the vectors from library.sqlite", exc, doing)
            self._repair(exc.reason)
            return
        if self.writable:
            self._maybe_build_ann()

    def _adopt(self, state: Any, *, verify: bool) -> None:
        self._store.load(
            state.shards,
            state.removed,
            state.ann,
            verify=verify,
            nprobe=self._nprobe,
            ef_search=self._ef_search,
        )
        live, rows = self._store.live_count, state.tracklets
        if live != rows:
            raise VectorStoreDamaged(self._store.folder, f"holds {live} live vectors for {rows} tracklets")
        self._store.use_gpu(self._use_gpu)
        self._generation = state.generation

    def _reload_state(self, *, verify: bool) -> None:
        self._adopt(read_state(self._conn), verify=verify)

    def _refresh(self) -> None:
        """A reader catches up with what a writer committed since (one cheap query when nothing did)."""
        if self.writable:
            return
        with self._state_lock:
            if not has_store_tables(self._conn) or read_generation(self._conn) == self._generation:
                return
            try:
                self._reload_state(verify=True)
            except VectorStoreDamaged as exc:
                log.warning("%s; reading the vectors from library.sqlite", exc)
                self._repair(exc.reason)

    def _repair(self, reason: str) -> None:
        """Rebuild the vector files from SQLite: in place by a writer (or a reader that can take the lock,
        no writer holding it), else in this reader's memory only."""
        if self.writable:
            self._rebuild_store(reason)
            return
        if self._store.folder.exists() and not self._store.folder.is_dir():
            self._read_vectors_from_sqlite()  # a rebuild could not write there: change nothing
            return
        lock = _WriterLock(self.root)
        try:
            lock.acquire()
        except (LibraryError, OSError):
            self._read_vectors_from_sqlite()
            return
        try:
            self.writable = True
            self._rebuild_store(reason)
        except (OSError, sqlite3.Error):
            self._read_vectors_from_sqlite()
        finally:
            self.writable = False
            lock.release()

    def _read_vectors_from_sqlite(self) -> None:
        """A reader maps SQLite's copy of the vectors in memory, as of the current generation (so the
        next search does not find the files damaged, and warn, again)."""
        self._store.load_arrays(*self.tracklet_vectors())
        self._generation = read_generation(self._conn)

    def _rebuild_store(self, reason: str) -> None:
        """Write every vector SQLite holds into new shards and commit them in one transaction (a writer)."""
        log.info("%s: rebuilding the vector files (%s)", self.root, reason)
        state = read_state(self._conn)
        ids, vectors = self.tracklet_vectors()
        used = [*self._store.shard_numbers_on_disk(), *(s.number for s in state.shards)]
        first = max(used, default=-1) + 1
        with self._transaction() as cur:
            set_meta(cur, REBUILDING_KEY, first)
        shards = self._store.write_shards(first, ids, vectors)
        with self._transaction() as cur:
            self._retire_shards(cur, used)
            cur.execute("DELETE FROM vector_shards")
            for shard in shards:
                save_shard(cur, shard)
            cur.execute("DELETE FROM removed_vectors")
            cur.executemany(
                "DELETE FROM meta WHERE key = ?", [(ANN_KEY,), (REBUILDING_KEY,), (APPENDING_KEY,)]
            )
            set_meta(cur, NEXT_ID_KEY, max(state.next_id, int(ids.max()) + 1 if len(ids) else 1))
            set_meta(cur, "version", SCHEMA_VERSION)
            bump_generation(cur)
        self.version = SCHEMA_VERSION
        self._store.delete_unlisted({s.number for s in shards}, None)
        self._delete_pending_files()
        (self.root / LEGACY_INDEX).unlink(missing_ok=True)
        self._reload_state(verify=False)
        self._maybe_build_ann()

    def _retire_shards(self, cur: sqlite3.Cursor, numbers: Sequence[int] | None = None) -> None:
        """Inside the transaction that stops listing them: record the files of shards ``numbers`` (None:
        all on disk) as pending, so that a kill before they are deleted leaves them for the next writer
        to delete, not to refuse as another state's (:func:`recover_writer`)."""
        numbers = self._store.shard_numbers_on_disk() if numbers is None else numbers
        cur.executemany(
            "INSERT OR IGNORE INTO pending_files(path) VALUES (?)",
            [
                (f"{VECTORS_DIR}/{path.name}",)
                for number in numbers
                for path in self._store.shard_files(number)
            ],
        )

    def _maybe_build_ann(self) -> None:
        """A writer (re)builds the approximate index when the library outgrew exact search, or when the
        rows it does not cover pass vector_store.ANN_TAIL_MAX."""
        from reidkit.index.vector_store import ANN_TAIL_MAX

        store = self._store
        if not store.wants_ann(self.index_spec):
            return
        if store.ann is not None and store.uncovered_rows() <= ANN_TAIL_MAX:
            return
        old = store.ann_state.file if store.ann_state is not None else None
        try:
            state = store.build_ann(self.index_spec, read_generation(self._conn) + 1)
        except VectorStoreDamaged as exc:  # rows first read here (a retrain reads them all)
            log.warning("%s; rebuilding the vectors from library.sqlite", exc)
            self._rebuild_store(exc.reason)
            return
        from reidkit.index.library_files import ann_to_json

        with self._transaction() as cur:
            set_meta(cur, ANN_KEY, ann_to_json(state))
            bump_generation(cur)
        self._reload_state(verify=False)
        if old is not None and old != state.file:
            (store.folder / old).unlink(missing_ok=True)


_MEDIA_COLUMNS = "id, path, sha256, kind, fps, frame_count, duration, width, height"
_TRACKLET_COLUMNS = (
    'id, media_id, track_id, start_frame, end_frame, start, "end", frames, boxes, best_frame, best_box,'
    " thumbnail, n_crops, quality"
)


_TRACKLET_COLUMNS_OF_T = ", ".join(f"t.{c.strip()}" for c in _TRACKLET_COLUMNS.split(","))
# A visit's start and first member (by start, then id) from its members, for visits stored without them.
_HEAD_START = (
    "(SELECT MIN(t.start) FROM visit_tracklets m JOIN tracklets t ON t.id = m.tracklet_id"
    " WHERE m.visit_id = {})"
)
_HEAD_FIRST = (
    "(SELECT t.id FROM visit_tracklets m JOIN tracklets t ON t.id = m.tracklet_id"
    " WHERE m.visit_id = {} ORDER BY t.start, t.id LIMIT 1)"
)
_MEDIA_CACHE_MAX = 1 << 16  # media records a session keeps (a day of one-hour videos is far fewer)
_IN_CHUNK = 900  # ids per IN (...) list: under the 999 variables of SQLite builds before 3.32


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
        recorded_at=None if row[9] is None else float(row[9]),
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


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` (libraries made by an older reidkit may not)."""
    return column in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _has_library(conn: sqlite3.Connection) -> bool:
    """Whether the database records a library (a meta table with its model), as opposed to empty."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() is None:
        return False
    return conn.execute("SELECT 1 FROM meta WHERE key='model'").fetchone() is not None


def _connect(db: Path, root: Path, *, writer: bool = True) -> sqlite3.Connection:
    conn = connect(db, root, writer=writer)
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


@contextmanager
def _one_faiss_thread() -> Iterator[None]:
    """One query on one OpenMP thread: splitting it costs more than it saves, and on a busy machine
    threads that spin-wait for each other made a search ~10x slower (bench/library_scale.py)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _write_thumbnail(path: Path, data: bytes) -> None:
    # No temporary file and rename: until the add's commit owns it, a half-written thumbnail is in
    # pending_files and deleted by the next writer (a rename per thumbnail was most of an add's time).
    path.write_bytes(data)


def _write_failed(
    root: Path, media_path: str, exc: BaseException, state: str, action: str = "write"
) -> LibraryError:
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
    what = f"write {media_path} to" if action == "write" else f"remove {media_path} from"
    return LibraryError(f"cannot {what} the library ({reason}); {state}", path=root, hint=hint)
