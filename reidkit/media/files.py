"""Which files are media, folder expansion, and content hashes.

Suffixes decide what a file is (``is_video`` / ``is_image``); :func:`iter_media_files` turns a mix of
files and folders into a sorted, de-duplicated list, and :func:`content_hash` identifies a file by its
bytes so that a library can skip what it has already indexed, whatever the file is called now.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reidkit.core.errors import MediaError
from reidkit.core.files import sha256_file

VIDEO_SUFFIXES = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".3gp", ".ogv",
        ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
        ".264", ".h264", ".265", ".h265", ".hevc",
        ".gif",  # FFmpeg reads an animation as a video; a still GIF is a 1-frame one
    }
)  # fmt: skip
# Photo formats a folder often holds that neither OpenCV nor FFmpeg here reads: each is one problem
# (with how to convert it), not a silent gap in what was indexed.
UNREADABLE_PHOTO_SUFFIXES = {
    ".heic": "HEIC", ".heif": "HEIF", ".avif": "AVIF", ".jxl": "JPEG XL",
    ".cr2": "raw", ".cr3": "raw", ".nef": "raw", ".arw": "raw", ".dng": "raw", ".orf": "raw", ".rw2": "raw",
}  # fmt: skip
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm", ".pbm"}
)  # fmt: skip


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_media(path: str | Path) -> bool:
    return is_video(path) or is_image(path)


@dataclass
class MediaScan:
    """What :func:`scan_media` found: the media files, and the parts of the folders it could not walk."""

    files: list[Path] = field(default_factory=list)
    # One error per folder that could not be listed and per symlink loop, naming it and the fix.
    problems: list[MediaError] = field(default_factory=list)


def iter_media_files(paths: str | Path | Iterable[str | Path], recursive: bool = True) -> list[Path]:
    """Expand files and folders into the supported videos and images they hold.

    Folders are walked (recursively by default) in name order, skipping hidden entries; files named
    explicitly are kept whatever their suffix, since FFmpeg may still read them. The result is
    de-duplicated and keeps the order of ``paths``, so the same arguments always give the same list.
    Raises the first problem :func:`scan_media` met (a folder it cannot list, a symlink loop).
    """
    scan = scan_media(paths, recursive)
    if scan.problems:
        raise scan.problems[0]
    return scan.files


def scan_media(
    paths: str | Path | Iterable[str | Path],
    recursive: bool = True,
    skip_folder: Callable[[Path], bool] | None = None,
) -> MediaScan:
    """:func:`iter_media_files` that skips what it cannot walk and reports it in ``problems``.

    A subfolder that cannot be listed, a symlink back to a folder being walked and a link to nothing
    are one problem each; the rest of the folder is still walked. A path named explicitly that does not
    exist raises MediaError: it is a typo to fix before a long run, not damage to work around.
    ``skip_folder``: folders not to walk, named or found (the indexer's: a library's own folder).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    scan = MediaScan()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            scan.files.append(path)

    skip = skip_folder or (lambda _folder: False)
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            if skip(path):
                continue
            for file in _walk(path, recursive, scan.problems, walking=set(), skip=skip):
                add(file)
        elif path.is_file():
            add(path)
        elif path.exists():  # a FIFO, a socket, a device: there, but nothing a decoder can seek in
            raise MediaError(
                "not a regular file (a pipe or device?)", path=path, hint="pass a video or image file"
            )
        else:
            raise MediaError("no such file or folder", path=path, hint="check the path")
    return scan


def _walk(
    folder: Path,
    recursive: bool,
    problems: list[MediaError],
    walking: set[tuple[int, int]],
    skip: Callable[[Path], bool],
) -> list[Path]:
    """The media files under ``folder``; ``walking``: (device, inode) of the folders above it."""
    files: list[Path] = []
    try:
        identity = _identity(folder)
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        problems.append(
            MediaError(f"cannot list folder ({exc.strerror})", path=folder, hint="check permissions")
        )
        return files
    if identity in walking:
        problems.append(
            MediaError(
                "symlink loop (links back to a folder above it)",
                path=folder,
                hint="remove the link or index the folder it points to",
            )
        )
        return files
    walking = walking | {identity}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()
        except OSError:  # a link looping on itself: neither a folder nor a file
            is_dir = is_file = False
        if is_dir:
            if recursive and not skip(path):
                files.extend(_walk(path, recursive, problems, walking, skip))
        elif is_file:
            if is_media(path):
                files.append(path)
            elif path.suffix.lower() in UNREADABLE_PHOTO_SUFFIXES:
                kind = UNREADABLE_PHOTO_SUFFIXES[path.suffix.lower()]
                problems.append(
                    MediaError(
                        f"{kind} photos are not read",
                        path=path,
                        hint="convert it to JPEG or PNG (your photo app's export, or e.g. `heif-convert`)",
                    )
                )
        elif entry.is_symlink() and is_media(path):  # what it names is gone (a moved or unmounted disk?)
            problems.append(
                MediaError("broken link", path=path, hint="restore what it points to, or remove the link")
            )
    return files


def _identity(folder: Path) -> tuple[int, int]:
    info = folder.stat()  # follows links: a link to a folder is that folder
    return info.st_dev, info.st_ino


def content_hash(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """sha256 of the file's bytes, as 64 hex digits (read in chunks: videos can be large)."""
    try:
        return sha256_file(path, chunk_size)
    except OSError as exc:
        raise MediaError(f"cannot read file ({exc.strerror})", path=path, hint="check the path") from exc
