"""Opening library.sqlite: WAL for writers, read-only (immutable) where the folder cannot be written,
and every damaged-database error turned into one line that names the file and the fix."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reidkit.core.errors import LibraryError


def damaged_database(db: Path, exc: sqlite3.DatabaseError) -> LibraryError:
    return LibraryError(
        f"is damaged ({' '.join(str(exc).split())}); nothing was changed",  # SQLite's text may span lines
        path=db,
        hint="restore it from a backup, or salvage what it holds: "
        f"sqlite3 {db} .recover | sqlite3 recovered.sqlite",
    )


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """SQLite's first complaint about the database's structure (``PRAGMA quick_check``), None when sound.

    A damaged page can read as rows that are merely missing; this tells the two apart.
    """
    rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    first = str(rows[0][0]) if rows else "ok"
    return None if first == "ok" else first


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    # Corruption and not-a-database are plain DatabaseError; locks, full disks and read-only files are
    # OperationalError, constraint failures IntegrityError: those are the caller's to handle.
    return type(exc) is sqlite3.DatabaseError


class _Cursor(sqlite3.Cursor):
    """A cursor whose every step turns a damaged-page error into a one-line LibraryError."""

    def _fail(self, exc: sqlite3.DatabaseError) -> BaseException:
        db = getattr(self.connection, "db_path", None)
        return damaged_database(db, exc) if db is not None and _is_damage(exc) else exc

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from exc

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> _Cursor:
        try:
            return super().executemany(sql, seq_of_parameters)
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from exc

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from exc


class CheckedConnection(sqlite3.Connection):
    """A connection whose cursors report a damaged database in one line (see :class:`_Cursor`)."""

    db_path: Path | None = None

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Any:
        try:
            return super().executescript(sql_script)
        except sqlite3.DatabaseError as exc:
            raise (damaged_database(self.db_path, exc) if self.db_path and _is_damage(exc) else exc) from exc


def folder_is_read_only(root: Path, db: Path) -> bool:
    return not os.access(root, os.W_OK) or (db.exists() and not os.access(db, os.W_OK))


def connect(db: Path, root: Path, *, writer: bool) -> sqlite3.Connection:
    """Open ``db`` (a writer: WAL, foreign keys). A reader of a folder it cannot write opens it
    immutable, which needs no -shm or -wal file; LibraryError when an unread -wal would be skipped."""
    read_only = not writer and folder_is_read_only(root, db)
    wal = db.with_name(db.name + "-wal")
    if read_only and wal.is_file() and wal.stat().st_size > 0:
        raise LibraryError(
            "the folder is read-only and library.sqlite-wal holds changes not yet in library.sqlite",
            path=root,
            hint="let its writer finish and close it, or copy the whole library folder somewhere writable",
        )
    try:
        if read_only:
            conn = sqlite3.connect(
                f"file:{db}?immutable=1",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                factory=CheckedConnection,
            )
        else:
            conn = sqlite3.connect(
                str(db),
                isolation_level=None,
                timeout=30.0,
                check_same_thread=False,
                factory=CheckedConnection,
            )
        assert isinstance(conn, CheckedConnection)
        raw = sqlite3.Connection.execute  # not yet checked: an unreadable file gets the message below
        if writer:
            raw(conn, "PRAGMA journal_mode=WAL")
            raw(conn, "PRAGMA synchronous=NORMAL")
        raw(conn, "PRAGMA foreign_keys=ON")
        raw(conn, "SELECT COUNT(*) FROM sqlite_master").fetchone()
        conn.db_path = db
    except sqlite3.DatabaseError as exc:
        raise LibraryError(
            f"library.sqlite is not a readable database ({exc})",
            path=root,
            hint="restore it from a backup, or index into a new --library folder",
        ) from exc
    return conn
