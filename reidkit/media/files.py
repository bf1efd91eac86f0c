"""Which files are media, folder expansion, and content hashes.

Suffixes decide what a file is (``is_video`` / ``is_image``); :func:`iter_media_files` turns a mix of
files and folders into a sorted, de-duplicated list, and :func:`content_hash` identifies a file by its
bytes so that a library can skip what it has already indexed, whatever the file is called now.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from reidkit.core.errors import MediaError
from reidkit.core.files import sha256_file

VIDEO_SUFFIXES = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".3gp", ".ogv",
        ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
        ".264", ".h264", ".265", ".h265", ".hevc",
    }
)  # fmt: skip
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm", ".pbm"}
)  # fmt: skip


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_media(path: str | Path) -> bool:
    return is_video(path) or is_image(path)


def iter_media_files(paths: str | Path | Iterable[str | Path], recursive: bool = True) -> list[Path]:
    """Expand files and folders into the supported videos and images they hold.

    Folders are walked (recursively by default) in name order, skipping hidden entries; files named
    explicitly are kept whatever their suffix, since FFmpeg may still read them. The result is
    de-duplicated and keeps the order of ``paths``, so the same arguments always give the same list.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(path)

    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            for file in _walk(path, recursive):
                add(file)
        elif path.is_file():
            add(path)
        else:
            raise MediaError("no such file or folder", path=path, hint="check the path")
    return found


def _walk(folder: Path, recursive: bool) -> list[Path]:
    files: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise MediaError(
            f"cannot list folder ({exc.strerror})", path=folder, hint="check permissions"
        ) from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_dir():
            if recursive:
                files.extend(_walk(path, recursive))
        elif entry.is_file() and is_media(path):
            files.append(path)
    return files


def content_hash(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """sha256 of the file's bytes, as 64 hex digits (read in chunks: videos can be large)."""
    try:
        return sha256_file(path, chunk_size)
    except OSError as exc:
        raise MediaError(f"cannot read file ({exc.strerror})", path=path, hint="check the path") from exc
