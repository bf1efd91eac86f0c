"""Cameras the app records and indexes: each one a thread turning its stream into segment files.

Each finished segment (``LIBRARY/cameras/<camera>/<camera>-<start>.mp4``,
:func:`reidkit.index.camera.camera_folder`) is queued on the library's one writer
like an uploaded video, so it is searchable minutes after it was filmed, the watchlist is checked
against it (alerts), and playback, clips and the annotated export work on it as on any file.
The cameras are kept in ``LIBRARY/app/cameras.json`` with how each one was left: a live camera
starts again with the server unless the user stopped it; a video file is played once (as if live,
at its frame rate), so it comes back finished or stopped, and plays again only when started.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from reidkit.core.errors import ReidkitError
from reidkit.core.log import get_logger
from reidkit.index.camera import camera_folder, camera_slug, check_keep_hours
from reidkit.media.camera import CameraRecorder, CameraSegment, describe_source, is_stream

log = get_logger(__name__)

CameraStatus = Literal["recording", "stopped", "failed", "finished"]
STATUSES: tuple[CameraStatus, ...] = get_args(CameraStatus)
MAX_CAMERAS = 16
MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS = 1.0, 3600.0


def check_segment_seconds(seconds: float) -> None:
    """A segment length the app records: 1 s to an hour (NaN is refused too)."""
    if not MIN_SEGMENT_SECONDS <= seconds <= MAX_SEGMENT_SECONDS:
        raise ReidkitError(
            f"the segment length must be {MIN_SEGMENT_SECONDS:g} to {MAX_SEGMENT_SECONDS:g} seconds, not {seconds:g}"
        )


@dataclass
class Camera:
    id: int
    name: str
    source: str
    segment_seconds: float
    keep_hours: float | None = None  # older segments are removed from the library and deleted
    status: CameraStatus = "recording"
    message: str = ""
    recorder: CameraRecorder | None = None  # the latest run's (None: not started since the server was)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    stopped_by_user: bool = False  # then it is not started again with the server
    earlier_frames: int = 0  # recorded by its earlier runs (and earlier servers)
    earlier_segments: int = 0

    @property
    def is_file(self) -> bool:
        """A video file played as a camera (played once), not a live stream or webcam."""
        return not is_stream(self.source)

    @property
    def frames(self) -> int:
        return self.earlier_frames + (self.recorder.frames if self.recorder else 0)

    @property
    def segments(self) -> int:
        return self.earlier_segments + (self.recorder.segments if self.recorder else 0)

    def saved_status(self) -> CameraStatus:
        """How the next server finds it: a live camera is recording again unless the user stopped it
        (one that failed is retried, like a dropped stream); a file comes back as it ended."""
        if self.is_file:
            return self.status
        return "stopped" if self.stopped_by_user else "recording"

    def to_saved(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "segment_seconds": self.segment_seconds,
            "keep_hours": self.keep_hours,
            "status": self.saved_status(),
            "message": self.message if self.is_file else "",
            "frames": self.frames,
            "segments": self.segments,
        }

    def to_dict(self) -> dict[str, Any]:
        recorder = self.recorder
        return {
            "id": self.id,
            "name": self.name,
            "source": describe_source(self.source),
            "file": self.is_file,
            "segment_seconds": self.segment_seconds,
            "keep_hours": self.keep_hours,
            "status": self.status,
            "message": self.message,
            "frames": self.frames,
            "segments": self.segments,
            "last_frame_age": (
                round(time.time() - recorder.last_frame_time, 1)
                if recorder and recorder.last_frame_time
                else None
            ),
        }


class Cameras:
    """The app's cameras; ``submit(name, path)`` queues a finished segment for indexing.

    ``realtime``: a video file is fed at its frame rate, as if live (off: as fast as it is read, for
    tests)."""

    def __init__(
        self,
        library_root: Path,
        app_dir: Path,
        submit: Callable[[str, Path], object],
        on_change: Callable[[], None],
        check_source: Callable[[str], str] = lambda source: source,
        expire: Callable[[Path, float], object] = lambda folder, hours: None,
        realtime: bool = True,
    ):
        self.library_root = library_root
        self._check_source = check_source
        self._expire = expire
        self.realtime = realtime
        self.store = app_dir / "cameras.json"
        self._submit = submit
        self._on_change = on_change
        self._lock = threading.Lock()
        self._cameras: dict[int, Camera] = {}
        self._ids = itertools.count(1)

    # ---------------------------------------------------------------------------------- restore
    def restore(self) -> None:
        """List the cameras saved by an earlier run and start those left recording (a damaged file is
        reported and left as it is). A file is never started again here: it was played already."""
        if not self.store.is_file():
            return
        try:
            saved = [_saved_camera(entry) for entry in json.loads(self.store.read_text())]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: cannot read the saved cameras (%s); fix or delete the file", self.store, exc)
            return
        for camera in saved:
            try:  # checked again: the server may have been started with other --allow-root folders
                camera.source = self._check_source(camera.source)
                if camera.status != "stopped" and not camera.is_file:
                    self._start(camera, wait_for_camera=True, save=False)  # it may come up later
                else:
                    if camera.status == "recording":  # a file whose server ended mid-play
                        camera.status = "stopped"
                    self._register(camera)
            except Exception as exc:  # the page's UserError or a ReidkitError: skip it, start the others
                log.warning("saved camera %s not started: %s", camera.name, getattr(exc, "message", exc))

    # ------------------------------------------------------------------------ what the page asks for
    def add(self, name: str, source: str, segment_seconds: float, keep_hours: float | None = None) -> Camera:
        """A new camera, recording; a source that cannot be opened is a ``ReidkitError`` (with what to
        check) and nothing is saved."""
        check_segment_seconds(segment_seconds)
        check_keep_hours(keep_hours)
        camera = Camera(0, name, source, segment_seconds, keep_hours)
        self._start(camera, wait_for_camera=False)
        return camera

    def start(self, camera_id: int) -> Camera | None:
        """Start a camera that is not recording (a file plays again from its start); None: no such
        camera. A recording one is left as it is."""
        camera = self._get(camera_id)
        if camera is None or camera.status == "recording":
            return camera
        camera.source = self._check_source(camera.source)  # the allowed folders may have changed
        self._start(camera, wait_for_camera=False)
        return camera

    def stop(self, camera_id: int) -> Camera | None:
        """Stop recording (the segment in progress is kept and indexed) and keep the camera, stopped:
        not started again with the server. None: no such camera."""
        camera = self._get(camera_id)
        if camera is None:
            return None
        camera.stopped_by_user = True
        self._end(camera)
        if camera.status in ("recording", "failed"):  # a finished file stays finished
            camera.status, camera.message = "stopped", ""
        with self._lock:
            self._save()
        self._on_change()
        return camera

    def remove(self, camera_id: int) -> Camera | None:
        """Stop recording (the segment in progress is kept and indexed) and forget the camera."""
        with self._lock:
            camera = self._cameras.pop(camera_id, None)
            if camera is not None:
                self._save()
        if camera is not None:
            camera.stopped_by_user = True
            self._end(camera)
            if camera.status == "recording":
                camera.status = "stopped"
            self._on_change()
        return camera

    def all(self) -> list[Camera]:
        with self._lock:
            return list(self._cameras.values())

    def latest_frame(self, camera_id: int) -> np.ndarray | None:
        """The camera's newest frame (None: no such camera, or no frame since the server started)."""
        camera = self._get(camera_id)
        return None if camera is None or camera.recorder is None else camera.recorder.latest_frame

    def stop_all(self) -> None:
        """The server stops: each camera's last segment is kept; how they were is saved for the next."""
        for camera in self.all():
            camera.stop.set()
        for camera in self.all():
            if camera.thread is not None:
                camera.thread.join(timeout=10)

    # -------------------------------------------------------------------------------- recording
    def _get(self, camera_id: int) -> Camera | None:
        with self._lock:
            return self._cameras.get(camera_id)

    def _start(self, camera: Camera, *, wait_for_camera: bool, save: bool = True) -> None:
        """A new recorder for ``camera`` (opened first unless ``wait_for_camera``), listed, saved and
        recording in its own thread."""
        recorder = CameraRecorder(
            camera.source,
            camera_folder(self.library_root, camera.name),
            segment_seconds=camera.segment_seconds,
            on_segment=lambda segment: self._segment_done(camera, segment),
            prefix=camera_slug(camera.name) + "-",
            wait_for_camera=wait_for_camera,
            realtime=self.realtime,
        )
        if not wait_for_camera:
            _open_now(recorder)  # outside the lock: a dead URL can take seconds to say so
        try:
            with self._lock:
                if self._cameras.get(camera.id) is camera and camera.status == "recording":
                    recorder.release()  # started by another request meanwhile
                    return
                if camera.id not in self._cameras and len(self._cameras) >= MAX_CAMERAS:
                    raise ReidkitError(f"at most {MAX_CAMERAS} cameras; remove one first")
                camera.earlier_frames, camera.earlier_segments = camera.frames, camera.segments
                camera.recorder, camera.stop = recorder, threading.Event()
                camera.status, camera.message, camera.stopped_by_user = "recording", "", False
                self._list(camera)
                if save:
                    self._save()
        except BaseException:
            recorder.release()
            raise
        camera.thread = threading.Thread(
            target=self._record, args=(camera,), name=f"reidkit-camera-{camera.id}", daemon=True
        )
        camera.thread.start()
        self._on_change()

    def _register(self, camera: Camera) -> None:
        """List a restored camera that is not recording."""
        with self._lock:
            self._list(camera)
        self._on_change()

    def _list(self, camera: Camera) -> None:
        """Give a new camera its id and list it (under the lock)."""
        if camera.id not in self._cameras:
            camera.id = next(self._ids)
            self._cameras[camera.id] = camera

    def _end(self, camera: Camera) -> None:
        """Stop ``camera``'s thread and wait for its last segment to be queued."""
        camera.stop.set()
        if camera.thread is not None:
            camera.thread.join(timeout=10)

    def _record(self, camera: Camera) -> None:
        assert camera.recorder is not None
        try:
            camera.recorder.run(camera.stop)
            camera.status = "stopped" if camera.stop.is_set() else "finished"
        except ReidkitError as exc:
            camera.status, camera.message = "failed", " — ".join(filter(None, (exc.message, exc.hint)))
            log.warning("camera %s: %s", camera.name, exc)
        except Exception as exc:  # a bug must not pass silently: the camera says it failed
            log.exception("camera %s failed", camera.name)
            camera.status, camera.message = "failed", f"recording failed ({type(exc).__name__})"
        with self._lock:
            if self._cameras.get(camera.id) is camera:  # not removed meanwhile
                self._save()  # a file that finished is not played again by the next server
        self._on_change()

    def _segment_done(self, camera: Camera, segment: CameraSegment) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(segment.started))
        self._submit(f"{camera.name} {stamp}", segment.path)
        if camera.keep_hours is not None:
            self._expire(segment.path.parent, camera.keep_hours)
        with self._lock:
            if self._cameras.get(camera.id) is camera:
                self._save()  # its segment count
        self._on_change()

    def _save(self) -> None:
        """Write the cameras (under the lock) to a hidden file renamed into place."""
        entries = [c.to_saved() for c in self._cameras.values()]
        self.store.parent.mkdir(parents=True, exist_ok=True)
        partial = self.store.with_name(f".{self.store.name}.{os.getpid()}")
        partial.write_text(json.dumps(entries, indent=1))
        os.replace(partial, self.store)


def _open_now(recorder: CameraRecorder) -> None:
    """Open the camera's source while the user waits; when it cannot be, the whole line, source
    (password hidden) and what to check, is the error (the page shows ``message`` alone)."""
    try:
        recorder.open()
    except ReidkitError as exc:
        raise ReidkitError(str(exc)) from None


def _saved_camera(entry: dict[str, Any]) -> Camera:
    """A camera as ``cameras.json`` keeps it (files from before statuses were saved: recording)."""
    status = entry.get("status", "recording")
    if status not in STATUSES:
        raise ValueError(f"unknown camera status {status!r}")
    keep = entry.get("keep_hours")
    return Camera(
        0,
        str(entry["name"]),
        str(entry["source"]),
        float(entry["segment_seconds"]),
        None if keep is None else float(keep),
        status=status,
        message=str(entry.get("message", "")),
        stopped_by_user=status == "stopped",
        earlier_frames=int(entry.get("frames", 0)),
        earlier_segments=int(entry.get("segments", 0)),
    )
