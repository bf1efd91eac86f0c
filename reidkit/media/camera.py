"""Record a live camera into segment files, so each finished segment can be indexed like any video.

::

    recorder = CameraRecorder("rtsp://user:pass@10.0.0.5/stream1", Path("lib/cameras/door"),
                              segment_seconds=60, on_segment=lambda seg: print(seg.path))
    recorder.run(stop_event)        # blocks until stop_event is set or the camera is gone for good

A camera is a source OpenCV opens: an ``rtsp://``, ``http(s)://`` URL, a device number (``0``: the
first webcam), or a video file, which is played once as if it were live (how the tests and demos
feed it): with ``realtime`` its frames are fed at its frame rate, and either way its segments are
stamped by the video's own time from when it started playing, not by how fast it was read.

Searching needs the pictures afterwards (playback, clips, thumbnails), so the frames are written to
files, not only analysed: each segment is ``<folder>/<prefix><start, UTC>.mp4``, written under a
hidden name and renamed when complete, so nothing ever reads a half-written segment.

A live stream that stops sending frames is reopened with a growing pause (1, 2, 4 ... 30 s); after
``reconnect_attempts`` failures in a row the recorder gives up with a ``MediaError`` naming the camera.
The segment in progress when the stream dropped is kept (it is complete up to the drop).
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from reidkit.core.errors import MediaError
from reidkit.core.log import get_logger
from reidkit.media.image import check_pixels
from reidkit.media.source import MAX_VIDEO_PIXELS

log = get_logger(__name__)

FALLBACK_FPS = 10.0  # a stream that does not say its frame rate (many MJPEG cameras)
_CHECK_SOURCE = "check the URL, its user name and password, and that this machine can reach it"
_CHECK_DEVICE = "check that the camera is plugged in and its number (0 is the first camera)"
_CHECK_FILE = "pass a video file with pictures (.mp4, .mkv, ...), a camera's URL or a device number"
_URL = re.compile(r"^(rtsps?|https?)://", re.IGNORECASE)


@dataclass(frozen=True)
class CameraSegment:
    path: Path
    started: float  # seconds since the epoch of its first frame
    frames: int
    fps: float


def describe_source(source: str) -> str:
    """The source as it may be shown and logged: a URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", source)


def is_stream(source: str) -> bool:
    """Whether ``source`` names a live camera (a device number or a stream URL) rather than a file."""
    text = source.strip()
    return text.isdigit() or bool(_URL.match(text))


def _hint(source: int | str) -> str:
    """What to check when ``source`` cannot be opened: a webcam's number, or a stream's URL."""
    return _CHECK_DEVICE if isinstance(source, int) else _CHECK_SOURCE


def _file_problem(path: Path) -> str:
    """Why a video file that OpenCV could not open cannot be played, as FFmpeg (PyAV) sees it."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.streams.video:
                return "cannot decode its video stream"
            kinds = sorted({stream.type for stream in container.streams})
    except Exception as exc:  # av raises FFmpegError subclasses, OSError, UnicodeDecodeError...
        return f"not a readable video ({exc.__class__.__name__})"
    return f"no video stream (only {', '.join(kinds)})" if kinds else "no video stream"


def parse_source(source: str) -> int | str:
    """A device number, a URL or an existing video file; anything else is a ``MediaError``."""
    text = source.strip()
    if text.isdigit():
        return int(text)
    if is_stream(text) or Path(text).is_file():
        return text
    raise MediaError(
        "not a camera: give an rtsp:// or http(s):// URL, a device number such as 0, or a video file",
        path=describe_source(source),
    )


class CameraRecorder:
    """Frames of ``source`` -> segment files of ``segment_seconds`` each, handed to ``on_segment``."""

    def __init__(
        self,
        source: str,
        folder: str | Path,
        *,
        segment_seconds: float = 60.0,
        on_segment: Callable[[CameraSegment], None],
        reconnect_attempts: int = 5,
        open_capture: Callable[..., Any] | None = None,
        max_pause: float = 30.0,
        prefix: str = "",
        clock: Callable[[], float] = time.monotonic,
        wait_for_camera: bool = False,
        realtime: bool = False,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if segment_seconds <= 0:
            raise MediaError(f"a camera segment must be longer than 0 s, not {segment_seconds}")
        self.source = parse_source(source)
        self.name = describe_source(source)
        self.folder = Path(folder)
        self.segment_seconds = float(segment_seconds)
        self.on_segment = on_segment
        self.reconnect_attempts = reconnect_attempts
        self.max_pause = max_pause
        self.prefix = prefix  # of each segment's file name, e.g. the camera's name
        self.clock = clock  # when a live frame arrived
        # A camera that cannot be opened at first is retried like a dropped one (a server that starts
        # before its cameras after a power cut); off, a wrong URL fails at once, as a user typing it wants.
        self.wait_for_camera = wait_for_camera
        # A file's frames fed at its frame rate, as a camera sends them (the app's cameras: a live
        # preview to watch); off, as fast as they are read (``reidkit watch``, tests).
        self.realtime = realtime
        self._sleep = sleep  # waits for a file's next frame; None: the stop event's wait (a stop ends it)
        self._open_capture = open_capture or cv2.VideoCapture
        self._opened: tuple[Any, float] | None = None  # by open(), for run()
        self.is_file = isinstance(self.source, str) and Path(self.source).is_file()
        self.frames = 0  # frames recorded so far
        self.segments = 0  # segments finished so far
        self.last_frame_time: float | None = None
        # The newest frame, for a live preview (a reference: each read gives a new array).
        self.latest_frame: np.ndarray | None = None

    # ------------------------------------------------------------------------------------ capture
    def _open(self) -> tuple[Any, float]:
        capture = self._open_capture(self.source)
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            if self.is_file:  # a URL's hint (user name, password) says nothing about a file
                raise MediaError(_file_problem(Path(self.name)), path=self.name, hint=_CHECK_FILE)
            raise MediaError("cannot open the camera", path=self.name, hint=_hint(self.source))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or not 1.0 <= fps <= 240.0:
            fps = FALLBACK_FPS
        return capture, fps

    def open(self) -> None:
        """Open the source now, so a wrong URL or device fails while the user is there (``MediaError``,
        with what to check); :meth:`run` then records from this capture."""
        if self._opened is None:
            self._opened = self._open()

    def release(self) -> None:
        """Let go of a source opened by :meth:`open` that will not be recorded after all."""
        if self._opened is not None:
            self._opened[0].release()
            self._opened = None

    def run(self, stop: threading.Event) -> None:
        """Record until ``stop`` is set, a file source ends, or a live source is gone for good."""
        failures = 0
        playback: _Playback | None = None  # a file's own time, when it is the source
        try:
            capture, fps = self._opened or self._open()
            self._opened = None
        except MediaError:
            if not self.wait_for_camera or self.is_file:
                raise
            capture, fps, failures = self._reconnect(stop, 0)
            if capture is None:
                return
        writer: _SegmentWriter | None = None
        try:
            while not stop.is_set():
                ok, frame = capture.read()
                if not ok or frame is None:
                    if writer is not None:
                        self._finish(writer)
                        writer = None
                    if self.is_file:
                        return
                    capture.release()
                    capture, fps, failures = self._reconnect(stop, failures)
                    if capture is None:
                        return
                    continue
                failures = 0
                if self.is_file:
                    playback = playback or _Playback(fps, self.clock)
                    if self.realtime:
                        playback.wait_for_next(self._sleep or stop.wait)
                    if stop.is_set():  # while it waited: the frame read is not recorded
                        break
                # A live camera's frames are placed in time by their arrival (cameras often send fewer
                # than the rate they announce, so counting frames would run their clock fast); a file's
                # frames one tick apart.
                arrived = None if self.is_file else self.clock()
                if writer is not None and not writer.fits(arrived):
                    self._finish(writer)
                    writer = None
                if writer is None:
                    check_pixels(
                        self.name, frame.shape[1], frame.shape[0], limit=MAX_VIDEO_PIXELS, what="camera frame"
                    )
                    writer = _SegmentWriter(
                        self.folder,
                        self.prefix,
                        fps,
                        frame.shape,
                        round(fps * self.segment_seconds),
                        started=None if playback is None else playback.wall_time(),
                    )
                writer.write(frame, arrived)
                if playback is not None:
                    playback.played += 1
                self.frames += 1
                self.latest_frame, self.last_frame_time = frame, time.time()
        finally:
            if writer is not None:
                self._finish(writer)
            if capture is not None:
                capture.release()

    def _reconnect(self, stop: threading.Event, failures: int) -> tuple[Any, float, int]:
        while failures < self.reconnect_attempts:
            pause = min(self.max_pause, 2.0**failures)
            failures += 1
            log.warning(
                "camera %s stopped sending frames; reconnecting in %.0f s (%d/%d)",
                self.name,
                pause,
                failures,
                self.reconnect_attempts,
            )
            if stop.wait(pause):
                return None, 0.0, failures
            try:
                capture, fps = self._open()
            except MediaError:
                continue
            return capture, fps, failures
        raise MediaError(
            f"the camera stopped sending frames and {self.reconnect_attempts} "
            f"reconnection{'' if self.reconnect_attempts == 1 else 's'} failed",
            path=self.name,
            hint=_hint(self.source),
        )

    def _finish(self, writer: _SegmentWriter) -> None:
        segment = writer.close()
        if segment is None:
            return
        self.segments += 1
        self.on_segment(segment)


class _Playback:
    """A video file played as if live: frame ``n`` is due ``n / fps`` after the first (by ``clock``),
    and its wall-clock time is that much after the file started playing."""

    def __init__(self, fps: float, clock: Callable[[], float]) -> None:
        self.fps = fps
        self.clock = clock
        self.started_clock = clock()
        self.started_wall = time.time()
        self.played = 0  # frames fed so far

    def wait_for_next(self, sleep: Callable[[float], object]) -> None:
        """Wait until the next frame is due. Due times are absolute, so a slow encoder catches up
        rather than drifting behind the video's time."""
        delay = self.started_clock + self.played / self.fps - self.clock()
        if delay > 0:
            sleep(delay)

    def wall_time(self) -> float:
        """When the next frame is, on the video's own time (seconds since the epoch)."""
        return self.started_wall + self.played / self.fps


class _SegmentWriter:
    """One segment as browser-playable H.264 mp4 (no transcode before playback), written under a hidden
    name and renamed into place when closed. x264's fastest preset: a recorder must keep up with the
    camera while the same cores index the segments before it."""

    def __init__(
        self,
        folder: Path,
        prefix: str,
        fps: float,
        shape: tuple[int, ...],
        capacity: int,
        started: float | None = None,  # when its first frame was filmed (None: now, a live frame)
    ) -> None:
        import av

        self.started = time.time() if started is None else started
        self._clock_start: float | None = None
        self._last_pts = -1
        stamp = datetime.fromtimestamp(self.started, tz=timezone.utc).strftime("%Y%m%d-%H%M%S")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{prefix}{stamp}.mp4"
        n = 1
        while (folder / name).exists():
            name, n = f"{prefix}{stamp}-{n}.mp4", n + 1
        self.path = folder / name
        self.partial = folder / f".{name}.part"
        self.fps = fps
        self.width, self.height = int(shape[1]) - int(shape[1]) % 2, int(shape[0]) - int(shape[0]) % 2
        self.capacity = max(1, capacity)
        self.count = 0
        rate = Fraction(fps).limit_denominator(1001)
        try:
            self._out = av.open(str(self.partial), mode="w", format="mp4", options={"movflags": "+faststart"})
            # When it was filmed, where players and tools look for it (file names are not metadata).
            self._out.metadata["creation_time"] = datetime.fromtimestamp(
                self.started, tz=timezone.utc
            ).isoformat()
            self._stream = self._out.add_stream("libx264", rate=rate)
        except (OSError, av.FFmpegError) as exc:
            raise MediaError(
                f"cannot write a camera segment ({exc})",
                path=self.partial,
                hint="check the disk and its permissions",
            ) from exc
        self._stream.width, self._stream.height, self._stream.pix_fmt = self.width, self.height, "yuv420p"
        self._stream.options = {"preset": "ultrafast", "crf": "23"}
        self._stream.codec_context.time_base = 1 / rate

    def _pts(self, arrived: float | None) -> int:
        """The tick (1 / fps) of a frame that ``arrived`` then (a monotonic clock), or the next one."""
        if arrived is None or self._clock_start is None:
            return self._last_pts + 1
        return max(self._last_pts + 1, round((arrived - self._clock_start) * self.fps))

    def fits(self, arrived: float | None) -> bool:
        """Whether a frame arriving then falls inside this segment's length."""
        return self._pts(arrived) < self.capacity

    def write(self, frame: np.ndarray, arrived: float | None = None) -> None:
        """Append ``frame``, placed in time by ``arrived`` (see :meth:`_pts`)."""
        import av

        if frame.ndim == 2:  # cameras that send grey or BGRA pictures
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        if frame.shape[0] < self.height or frame.shape[1] < self.width:  # the camera changed resolution
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        picture = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(frame[: self.height, : self.width]), format="bgr24"
        )
        if arrived is not None and self._clock_start is None:
            self._clock_start = arrived
        picture.pts = self._last_pts = self._pts(arrived)
        for packet in self._stream.encode(picture):
            self._out.mux(packet)
        self.count += 1

    def close(self) -> CameraSegment | None:
        for packet in self._stream.encode():
            self._out.mux(packet)
        self._out.close()
        if self.count == 0:
            self.partial.unlink(missing_ok=True)
            return None
        os.replace(self.partial, self.path)
        return CameraSegment(self.path, self.started, self.count, self.fps)
