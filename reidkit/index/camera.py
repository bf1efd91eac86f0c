"""Index a live camera: record it into segments (:mod:`reidkit.media.camera`) and index each one as it
is finished, with one set of models for the whole run (``reidkit watch`` and the app's cameras).

Segments are kept in ``LIBRARY/cameras/<camera>/``: the library refers to them for playback, clips
and thumbnails, like any other indexed file.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reidkit.core.errors import ReidkitError
from reidkit.core.log import get_logger
from reidkit.core.types import Detector, Embedder, model_file_of
from reidkit.index.indexer import (
    DEFAULT_INDEX,
    FileReport,
    IndexOptions,
    IndexReport,
    MediaIndexer,
    build_analyser,
    with_stride,
)
from reidkit.index.library import Library
from reidkit.media.camera import CameraRecorder, CameraSegment

log = get_logger(__name__)


def camera_slug(name: str) -> str:
    """``Front door`` -> ``front-door``: the camera's name as a folder and file-name prefix."""
    return re.sub(r"[^0-9a-z]+", "-", name.lower()).strip("-")[:40] or "camera"


def camera_folder(library_root: str | Path, name: str) -> Path:
    """Where a camera's segments are kept, inside its library."""
    return Path(library_root) / "cameras" / camera_slug(name)


def check_keep_hours(keep_hours: float | None) -> None:
    """How long a camera's segments are kept: None (all of them) or more than 0 hours."""
    if keep_hours is not None and not keep_hours > 0:
        raise ReidkitError(f"keep hours must be more than 0, not {keep_hours}")


def expired_segments(folder: str | Path, keep_hours: float, *, now: float | None = None) -> list[Path]:
    """A camera's segments finished more than ``keep_hours`` ago (by their files' modification time,
    which is when they were closed), oldest first; files being written (hidden) are never listed."""
    check_keep_hours(keep_hours)
    cutoff = (time.time() if now is None else now) - keep_hours * 3600.0
    found = []
    for path in Path(folder).glob("*.mp4"):
        if path.name.startswith("."):
            continue
        try:
            finished = path.stat().st_mtime
        except OSError:  # removed meanwhile
            continue
        if finished < cutoff:
            found.append((finished, path))
    return [path for _, path in sorted(found)]


def drop_expired(library: Library, folder: str | Path, keep_hours: float) -> list[Path]:
    """Remove the expired segments of a camera from ``library`` and then from the disk (a kill between the
    two leaves a file the library no longer holds, deleted the next time). Returns the files deleted."""
    dropped = []
    for path in expired_segments(folder, keep_hours):
        library.remove_media(path)  # None when it was never indexed: the file goes all the same
        path.unlink(missing_ok=True)
        dropped.append(path)
    if dropped:
        log.info("%s: %d segment(s) older than %g h removed", folder, len(dropped), keep_hours)
    return dropped


def index_camera(
    source: str,
    library_root: str | Path,
    *,
    name: str = "camera",
    segment_seconds: float = 60.0,
    detector: str | Path | Detector = "yolox-nano",
    model: str | Path | Embedder | None = None,
    stride: int | None = None,
    options: IndexOptions | None = None,
    index: str = DEFAULT_INDEX,
    on_file: Callable[[FileReport], None] | None = None,
    stop: threading.Event | None = None,
    reconnect_attempts: int = 5,
    keep_hours: float | None = None,
) -> IndexReport:
    """Record ``source`` and index each finished segment until ``stop`` is set, a video file given as
    the source ends, or the camera is gone for good (then the recorder's ``MediaError`` is raised after
    every finished segment is indexed). ``keep_hours``: after each segment, the camera's segments older
    than that are removed from the library and deleted (None: all are kept). Returns the segments'
    reports."""
    stop = stop or threading.Event()
    check_keep_hours(keep_hours)  # before the models load
    folder = camera_folder(library_root, name)
    options = with_stride(options, stride)
    finished: queue.Queue[CameraSegment | None] = queue.Queue()
    recorder = CameraRecorder(
        source,
        folder,
        segment_seconds=segment_seconds,
        on_segment=finished.put,
        reconnect_attempts=reconnect_attempts,
        prefix=camera_slug(name) + "-",
    )
    failure: list[ReidkitError] = []

    def record() -> None:
        try:
            recorder.run(stop)
        except ReidkitError as exc:
            failure.append(exc)
        finally:
            finished.put(None)

    analyser = build_analyser(detector, model, options=options)
    thread = threading.Thread(target=record, name="reidkit-camera", daemon=True)
    try:
        embedder = analyser.embedder
        report = IndexReport(
            Path(library_root), embedder.name, getattr(analyser.detector, "name", str(detector))
        )
        with Library.create_or_open(
            library_root, embedder.name, embedder.dim, index=index, model_file=model_file_of(embedder)
        ) as library:
            indexer = MediaIndexer(library, analyser)
            thread.start()
            current: CameraSegment | None = None
            while True:
                try:
                    current = current or finished.get()
                    if current is None:
                        break
                    file_report = indexer.index_file(current.path)
                    current = None
                    report.files.append(file_report)
                    if on_file is not None:
                        on_file(file_report)
                    if keep_hours is not None:
                        drop_expired(library, folder, keep_hours)
                except KeyboardInterrupt:
                    if stop.is_set():  # the second Ctrl-C: leave now (the next run indexes what is left)
                        raise
                    stop.set()
                    log.warning(
                        "stopping: the segment being recorded is closed and indexed first (Ctrl-C again to leave now)"
                    )
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=30)
        analyser.close()
    if failure:
        raise failure[0]
    return report
