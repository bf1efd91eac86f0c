"""What library.sqlite records about the library's other files, and the checks that keep them in step.

SQLite is the truth. Besides the media and tracklets it records, in the same transactions:

* ``vector_shards``: each vector shard's committed row count and checksum (:mod:`.vector_store`);
* ``removed_vectors``: ids of removed tracklets whose rows the shards still hold (masked);
* meta ``generation``: +1 per committed change, so a reader sees cheaply that the library changed;
* meta ``next_tracklet_id``: ids are never reused, so a removed id can never mask a new tracklet;
* meta ``ann``: the saved approximate index (file, rows covered, crc32);
* meta ``vectors_appending`` / ``vectors_rebuilding``: set (committed) before vector files are written
  and cleared by the commit that owns them, so the next writer can tell bytes a killed write left from
  bytes written by a library state this database does not hold (a copy without its ``-wal``, an older
  backup). The former are cut off; the latter make the writer refuse, changing nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reidkit.core.errors import LibraryError
from reidkit.index.vector_store import VECTORS_DIR, AnnState, Shard, VectorStore

STORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS vector_shards (
    number INTEGER PRIMARY KEY,
    rows INTEGER NOT NULL,
    checksum TEXT NOT NULL     -- vector_checksum of the committed rows, hex (SQLite integers are signed)
);
CREATE TABLE IF NOT EXISTS removed_vectors (tracklet_id INTEGER PRIMARY KEY);
"""
GENERATION_KEY = "generation"
NEXT_ID_KEY = "next_tracklet_id"
ANN_KEY = "ann"
APPENDING_KEY = "vectors_appending"  # "shard rows_before n": an add is writing these rows
REBUILDING_KEY = "vectors_rebuilding"  # first shard number a rebuild is writing
LEGACY_INDEX = "tracklets.faiss"  # the Faiss file of libraries before vector shards


@dataclass
class StoreState:
    """The vector files as one snapshot of library.sqlite records them."""

    generation: int
    next_id: int
    shards: list[Shard]
    removed: np.ndarray
    ann: AnnState | None
    appending: tuple[int, int, int] | None
    rebuilding: int | None
    tracklets: int  # rows of the tracklets table in the same snapshot: what the live vectors must number


def has_store_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='vector_shards'").fetchone()
    return row is not None


def read_state(conn: sqlite3.Connection) -> StoreState:
    """Everything about the vector files, read in one transaction (one consistent snapshot)."""
    in_txn = conn.in_transaction
    if not in_txn:
        conn.execute("BEGIN")
    try:
        meta = dict(
            conn.execute(
                "SELECT key, value FROM meta WHERE key IN (?, ?, ?, ?, ?)",
                (GENERATION_KEY, NEXT_ID_KEY, ANN_KEY, APPENDING_KEY, REBUILDING_KEY),
            ).fetchall()
        )
        shards = [
            Shard(int(n), int(rows), int(checksum, 16))
            for n, rows, checksum in conn.execute(
                "SELECT number, rows, checksum FROM vector_shards ORDER BY number"
            )
        ]
        removed = np.array([r[0] for r in conn.execute("SELECT tracklet_id FROM removed_vectors")], np.int64)
        tracklets = int(conn.execute("SELECT COUNT(*) FROM tracklets").fetchone()[0])
        if NEXT_ID_KEY in meta:
            next_id = int(meta[NEXT_ID_KEY])
        else:  # a library from before explicit ids: after every id ever used
            top = conn.execute("SELECT MAX(id) FROM tracklets").fetchone()[0]
            next_id = int(top or 0) + 1
    finally:
        if not in_txn:
            conn.execute("COMMIT")
    appending = None
    if APPENDING_KEY in meta:
        a, b, c = (int(x) for x in meta[APPENDING_KEY].split())
        appending = (a, b, c)
    return StoreState(
        generation=int(meta.get(GENERATION_KEY, 0)),
        next_id=next_id,
        shards=shards,
        removed=removed,
        ann=ann_from_json(meta[ANN_KEY]) if ANN_KEY in meta else None,
        appending=appending,
        rebuilding=int(meta[REBUILDING_KEY]) if REBUILDING_KEY in meta else None,
        tracklets=tracklets,
    )


def read_generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (GENERATION_KEY,)).fetchone()
    return int(row[0]) if row else 0


def ann_to_json(state: AnnState) -> str:
    return json.dumps(
        {
            "file": state.file,
            "spec": state.spec,
            "generation": state.generation,
            "covered": {str(k): v for k, v in state.covered.items()},
            "crc32": state.crc32,
            "size": state.size,
        }
    )


def ann_from_json(text: str) -> AnnState:
    d = json.loads(text)
    covered = {int(k): int(v) for k, v in d["covered"].items()}
    return AnnState(d["file"], d["spec"], int(d["generation"]), covered, int(d["crc32"]), int(d["size"]))


def set_meta(cur: sqlite3.Cursor, key: str, value: str | int) -> None:
    cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(value)))


def bump_generation(cur: sqlite3.Cursor) -> int:
    row = cur.execute("SELECT value FROM meta WHERE key = ?", (GENERATION_KEY,)).fetchone()
    generation = (int(row[0]) if row else 0) + 1
    set_meta(cur, GENERATION_KEY, generation)
    return generation


def save_shard(cur: sqlite3.Cursor, shard: Shard) -> None:
    cur.execute(
        "INSERT OR REPLACE INTO vector_shards(number, rows, checksum) VALUES (?, ?, ?)",
        (shard.number, shard.rows, f"{shard.checksum:016x}"),
    )


# ----------------------------------------------------------------------------------- library folders
THUMBS_DIR = "thumbs"
# The folders a library keeps its files in besides library.sqlite.
LIBRARY_FOLDERS = (THUMBS_DIR, VECTORS_DIR)


def file_in_place_of_folder(folder: Path) -> LibraryError:
    return LibraryError(
        "is a file, not a folder; nothing was changed",
        path=folder,
        hint="move it away (or pass another --library folder), then run the command again",
    )


def refuse_files_in_place_of_folders(root: Path) -> None:
    """Refuse, before anything is written, a library whose thumbs/ or vectors/ is a file: writing
    there would fail part-way through an indexing run."""
    for name in LIBRARY_FOLDERS:
        folder = root / name
        if folder.exists() and not folder.is_dir():
            raise file_in_place_of_folder(folder)


def make_library_folder(folder: Path, *, parents: bool = False) -> None:
    """``folder.mkdir`` (existing is fine), as a one-line LibraryError naming the folder and the fix."""
    if folder.exists() and not folder.is_dir():
        raise file_in_place_of_folder(folder)
    try:
        folder.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        if isinstance(exc, FileExistsError | NotADirectoryError):  # a file in the way, maybe higher up
            blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
            raise file_in_place_of_folder(blocker) from None
        raise LibraryError(
            f"cannot create this folder ({exc.strerror or type(exc).__name__}); nothing was changed",
            path=folder,
            hint="pass a --library folder where you may write (e.g. one in your home folder)",
        ) from None


# ------------------------------------------------------------------------------------ damaged libraries
def library_remnants(root: Path) -> list[str]:
    """Files of a library found in ``root`` (named relative to it): thumbnails, vectors, the old index,
    a write-ahead log. What a folder holds when its library.sqlite is missing or empty but was not."""
    found = []
    thumbs = root / THUMBS_DIR
    if thumbs.is_dir() and next((p for p in thumbs.rglob("*") if p.is_file()), None) is not None:
        found.append("thumbs/")
    vectors = root / VECTORS_DIR
    if vectors.is_dir() and any(vectors.iterdir()):
        found.append(f"{VECTORS_DIR}/")
    for name in (LEGACY_INDEX, "library.sqlite-wal"):
        path = root / name
        if path.is_file() and path.stat().st_size > 0:
            found.append(name)
    return found


def refuse_remnants(root: Path, db: Path, *, recorded: bool = True) -> None:
    """Refuse to start a new library over another one's files when its library.sqlite is gone or empty
    (``recorded=False``: the database exists but records no library, e.g. its tables were in a lost -wal)."""
    if recorded and db.is_file() and db.stat().st_size > 0:
        return
    remnants = library_remnants(root)
    if not remnants:
        return
    if not db.is_file():
        state = "is missing"
    elif db.stat().st_size == 0:
        state = "is empty (0 bytes)"
    else:
        state = "records no library (was it copied without library.sqlite-wal?)"
    raise LibraryError(
        f"{db.name} {state} but the folder holds another library's files ({', '.join(remnants)}); "
        "nothing was changed",
        path=db,
        hint="restore library.sqlite (with its library.sqlite-wal, if it had one) from a backup, "
        "or index into a new --library folder",
    )


def _lost_state_error(path: Path, what: str) -> LibraryError:
    return LibraryError(
        f"{what}, which library.sqlite does not record: it is older than the rest of the library "
        "(copied without library.sqlite-wal, or restored from an older backup?); nothing was changed",
        path=path,
        hint="copy library.sqlite-wal back next to library.sqlite (or restore a matching backup), "
        "or index into a new --library folder",
    )


def recover_writer(store: VectorStore, state: StoreState, retired: frozenset[str] = frozenset()) -> list[str]:
    """For a writer opening the library: cut what a killed write left in the vector files, and refuse
    (LibraryError, nothing changed) vector data this database does not account for.

    ``retired``: names of shard files a committed rebuild replaced (recorded in pending_files).
    Returns the meta keys whose markers were resolved (for the caller to delete).
    """
    committed = {s.number: s.rows for s in state.shards}
    on_disk = store.shard_numbers_on_disk()
    cleared: list[str] = []
    # Check everything before changing anything.
    for number in on_disk:
        if number in committed:
            extra = store.file_rows(number) - committed[number]
            if extra <= 0:
                continue
            a = state.appending
            if a is not None and a[0] == number and a[1] == committed[number] and extra <= a[2]:
                continue
            raise _lost_state_error(store.vectors_path(number), f"holds {extra} vectors past the last add")
        if state.rebuilding is not None and number >= state.rebuilding:
            continue
        if store.vectors_path(number).name in retired:  # replaced by a committed rebuild: deleted below
            continue
        if state.appending is not None and state.appending[0] == number and state.appending[1] == 0:
            continue
        if store.file_rows(number) > 0:
            raise _lost_state_error(store.vectors_path(number), "is a vector shard")
    for path in store.folder.glob("ann-*.faiss*"):
        generation = _ann_generation(path.name)
        if generation is not None and generation > state.generation + 1:
            raise _lost_state_error(
                path, f"is a search index of generation {generation} > {state.generation}"
            )
    # Then repair.
    for number in on_disk:
        if number in committed:
            store.truncate(number, committed[number])
        else:
            for path in store.shard_files(number):
                path.unlink(missing_ok=True)
    keep_ann = state.ann.file if state.ann is not None else None
    for path in store.folder.glob("ann-*.faiss*"):
        if path.name != keep_ann:
            path.unlink(missing_ok=True)
    if state.appending is not None:
        cleared.append(APPENDING_KEY)
    if state.rebuilding is not None:
        cleared.append(REBUILDING_KEY)
    return cleared


def _ann_generation(name: str) -> int | None:
    try:
        return int(name.split(".")[0].split("-")[1])
    except (IndexError, ValueError):
        return None


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
