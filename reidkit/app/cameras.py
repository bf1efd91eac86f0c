"""Cameras the app records and indexes: each one a thread turning its stream into segment files.

Each finished segment (``LIBRARY/cameras/<camera>/<camera>-<start>.mp4``,
:func:`reidkit.index.camera.camera_folder`) is queued on the library's one writer
like an uploaded video, so it is searchable minutes after it was filmed, the watchlist is checked
against it (alerts), and playback, clips and the annotated export work on it as on any file.
The cameras are kept in ``LIBRARY/app/cameras.json`` and start again with the server.
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
from typing import Any, Literal

import numpy as np

from reidkit.core.errors import ReidkitError
from reidkit.core.log import get_logger
from reidkit.index.camera import camera_folder, camera_slug, check_keep_hours
from reidkit.media.camera import CameraRecorder, CameraSegment, describe_source

log = get_logger(__name__)

CameraStatus = Literal["recording", "stopped", "failed", "finished"]
MAX_CAMERAS = 16


@dataclass
class Camera:
    id: int
    name: str
    source: str
    segment_seconds: float
    keep_hours: float | None = None  # older segments are removed from the library and deleted
    status: CameraStatus = "recording"
    message: str = ""
    recorder: CameraRecorder | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def to_dict(self) -> dict[str, Any]:
        recorder = self.recorder
        return {
            "id": self.id,
            "name": self.name,
            "source": describe_source(self.source),
            "segment_seconds": self.segment_seconds,
            "keep_hours": self.keep_hours,
            "status": self.status,
            "message": self.message,
            "frames": recorder.frames if recorder else 0,
            "segments": recorder.segments if recorder else 0,
            "last_frame_age": (
                round(time.time() - recorder.last_frame_time, 1)
                if recorder and recorder.last_frame_time
                else None
            ),
        }


class Cameras:
    """The app's cameras; ``submit(name, path)`` queues a finished segment for indexing."""

    def __init__(
        self,
        library_root: Path,
        app_dir: Path,
        submit: Callable[[str, Path], object],
        on_change: Callable[[], None],
        check_source: Callable[[str], str] = lambda source: source,
        expire: Callable[[Path, float], object] = lambda folder, hours: None,
    ):
        self.library_root = library_root
        self._check_source = check_source
        self._expire = expire
        self.store = app_dir / "cameras.json"
        self._submit = submit
        self._on_change = on_change
        self._lock = threading.Lock()
        self._cameras: dict[int, Camera] = {}
        self._ids = itertools.count(1)

    def restore(self) -> None:
        """Start the cameras saved by an earlier run (a damaged file is reported and left as it is)."""
        if not self.store.is_file():
            return
        try:
            saved = json.loads(self.store.read_text())
            entries = [
                (str(c["name"]), str(c["source"]), float(c["segment_seconds"]), c.get("keep_hours"))
                for c in saved
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: cannot read the saved cameras (%s); fix or delete the file", self.store, exc)
            return
        for name, source, seconds, keep in entries:
            try:  # checked again: the server may have been started with other --allow-root folders
                self.add(
                    name,
                    self._check_source(source),
                    seconds,
                    None if keep is None else float(keep),
                    save=False,
                    wait_for_camera=True,  # it may come up after the server
                )
            except Exception as exc:  # the page's UserError or a ReidkitError: skip it, start the others
                log.warning("saved camera %s not started: %s", name, getattr(exc, "message", exc))

    def add(
        self,
        name: str,
        source: str,
        segment_seconds: float,
        keep_hours: float | None = None,
        *,
        save: bool = True,
        wait_for_camera: bool = False,
    ) -> Camera:
        with self._lock:
            if len(self._cameras) >= MAX_CAMERAS:
                raise ReidkitError(f"at most {MAX_CAMERAS} cameras; stop one first")
            check_keep_hours(keep_hours)
            camera = Camera(next(self._ids), name, source, segment_seconds, keep_hours)
            # Validates the source and the segment length before anything is stored.
            camera.recorder = CameraRecorder(
                source,
                camera_folder(self.library_root, name),
                segment_seconds=segment_seconds,
                on_segment=lambda segment: self._segment_done(camera, segment),
                prefix=camera_slug(name) + "-",
                wait_for_camera=wait_for_camera,
            )
            self._cameras[camera.id] = camera
            if save:
                self._save()
        camera.thread = threading.Thread(
            target=self._record, args=(camera,), name=f"reidkit-camera-{camera.id}", daemon=True
        )
        camera.thread.start()
        self._on_change()
        return camera

    def all(self) -> list[Camera]:
        with self._lock:
            return list(self._cameras.values())

    def latest_frame(self, camera_id: int) -> np.ndarray | None:
        """The camera's newest frame (None: no such camera, or no frame yet)."""
        with self._lock:
            camera = self._cameras.get(camera_id)
        return None if camera is None or camera.recorder is None else camera.recorder.latest_frame

    def remove(self, camera_id: int) -> Camera | None:
        """Stop recording (the segment in progress is kept and indexed) and forget the camera."""
        with self._lock:
            camera = self._cameras.pop(camera_id, None)
            if camera is not None:
                self._save()
        if camera is not None:
            camera.stop.set()
            if camera.thread is not None:
                camera.thread.join(timeout=10)
            if camera.status == "recording":
                camera.status = "stopped"
            self._on_change()
        return camera

    def stop_all(self) -> None:
        for camera in self.all():
            camera.stop.set()
        for camera in self.all():
            if camera.thread is not None:
                camera.thread.join(timeout=10)

    def _record(self, camera: Camera) -> None:
        assert camera.recorder is not None
        try:
            camera.recorder.run(camera.stop)
            camera.status = "stopped" if camera.stop.is_set() else "finished"
        except ReidkitError as exc:
            camera.status, camera.message = "failed", exc.message
            log.warning("camera %s: %s", camera.name, exc)
        except Exception as exc:  # a bug must not pass silently: the camera says it failed
            log.exception("camera %s failed", camera.name)
            camera.status, camera.message = "failed", f"recording failed ({type(exc).__name__})"
        self._on_change()

    def _segment_done(self, camera: Camera, segment: CameraSegment) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(segment.started))
        self._submit(f"{camera.name} {stamp}", segment.path)
        if camera.keep_hours is not None:
            self._expire(segment.path.parent, camera.keep_hours)
        self._on_change()

    def _save(self) -> None:
        entries = [
            {
                "name": c.name,
                "source": c.source,
                "segment_seconds": c.segment_seconds,
                "keep_hours": c.keep_hours,
            }
            for c in self._cameras.values()
        ]
        self.store.parent.mkdir(parents=True, exist_ok=True)
        partial = self.store.with_name(f".{self.store.name}.{os.getpid()}")
        partial.write_text(json.dumps(entries, indent=1))
        os.replace(partial, self.store)
