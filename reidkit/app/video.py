"""Video for the browser: playable H.264 mp4 (the source itself or a cached transcode), clips, annotated video.

Browsers play H.264 (yuv420p) in an mp4 container. A source that already is one is served as it is;
any other video (a raw ``.264`` stream, other codecs or containers) is transcoded once with PyAV into
``<cache>/<content hash>.mp4`` and served from there. Frames are written at the library's frame rate
with one tick per source frame, so a moment's ``start`` (seconds) is the same instant in both files.

The cache is bounded (:class:`VideoCache`): the least recently used files go when it is over budget.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from reidkit.app.text import draw_label
from reidkit.core.errors import MediaError
from reidkit.core.log import get_logger

log = get_logger(__name__)

BOX_COLOUR = (40, 220, 255)  # BGR: amber reads on indoor and outdoor footage alike
MAX_CLIP_SECONDS = 600.0


def is_browser_playable(path: str | Path) -> bool:
    """True for an mp4/mov file whose first video stream is H.264 in yuv420p (what every browser plays)."""
    import av

    if Path(path).suffix.lower() not in (".mp4", ".m4v", ".mov"):
        return False
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return False
            codec = container.streams.video[0].codec_context
            return codec.name == "h264" and codec.pix_fmt in ("yuv420p", "yuvj420p")
    except Exception:  # an unreadable file is not playable; the transcode reports why
        return False


@dataclass(frozen=True)
class Overlay:
    """Boxes to draw: per source frame index, a list of (x1, y1, x2, y2, label)."""

    boxes: dict[int, list[tuple[float, float, float, float, str]]]

    @staticmethod
    def from_tracks(tracks: Iterable[tuple[np.ndarray, np.ndarray, str]]) -> Overlay:
        """``(frames, boxes, label)`` per tracklet; boxes between processed frames are interpolated."""
        out: dict[int, list[tuple[float, float, float, float, str]]] = {}
        for frames, boxes, label in tracks:
            frames = np.asarray(frames, np.int64).reshape(-1)
            boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
            if len(frames) == 0:
                continue
            every = np.arange(int(frames[0]), int(frames[-1]) + 1)
            filled = np.stack([np.interp(every, frames, boxes[:, i]) for i in range(4)], axis=1)
            for index, box in zip(every, filled, strict=True):
                out.setdefault(int(index), []).append((*(float(v) for v in box), label))  # type: ignore[arg-type]
        return Overlay(out)


def draw_box(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    label: str = "",
    colour: tuple[int, int, int] = BOX_COLOUR,
    thickness: int = 2,
) -> None:
    """Draw ``box`` onto ``image`` (in place), its label in black on a tab of its colour above it."""
    import cv2

    p1, p2 = (round(box[0]), round(box[1])), (round(box[2]), round(box[3]))
    cv2.rectangle(image, p1, p2, colour, thickness)
    if label.strip():
        draw_label(image, label, p1, colour)


def draw_caption(image: np.ndarray, text: str) -> None:
    """``text`` in white on a dark tab in the frame's bottom-left corner (in place): the clock time."""
    import cv2

    scale = max(0.5, image.shape[0] / 720)  # readable on a phone's 4K as on a 480p camera
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    pad = round(6 * scale)
    bottom = image.shape[0] - pad
    cv2.rectangle(image, (pad, bottom - h - base - 2 * pad), (3 * pad + w, bottom), (20, 20, 20), -1)
    cv2.putText(
        image, text, (2 * pad, bottom - base - pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
        cv2.LINE_AA,
    )  # fmt: skip


def write_mp4(
    source: str | Path,
    target: Path,
    fps: float,
    spans: list[tuple[int, int]] | None = None,
    overlay: Overlay | None = None,
    should_stop: Callable[[], bool] | None = None,
    caption: Callable[[int], str] | None = None,
) -> Path:
    """Write ``source``'s frames (all, or those in the inclusive frame ``spans``) as browser-playable mp4,
    with ``overlay``'s boxes and ``caption(frame index)`` (the clock time) drawn on them.

    Frames keep one tick each at ``fps``, so time ``t`` in a full transcode is source time ``t``. Written
    to a temporary name and renamed, so a half-written file is never served.
    """
    import av

    from reidkit.media import open_media

    media = open_media(source)
    rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
    width, height = media.width - media.width % 2, media.height - media.height % 2
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "23"}
            stream.codec_context.time_base = 1 / rate
            written = 0
            last = max((end for _, end in spans), default=-1) if spans else None
            for frame in media.frames():
                if should_stop is not None and should_stop():
                    raise InterruptedError("stopped")
                if last is not None and frame.index > last:
                    break
                if spans is not None and not any(a <= frame.index <= b for a, b in spans):
                    continue
                image = frame.image[:height, :width]
                boxes = overlay.boxes.get(frame.index, []) if overlay is not None else []
                if boxes or caption is not None:
                    image = np.ascontiguousarray(image)  # drawn on: contiguous, as OpenCV draws
                    for x1, y1, x2, y2, label in boxes:
                        draw_box(image, (x1, y1, x2, y2), label)
                    if caption is not None:
                        draw_caption(image, caption(frame.index))
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
                picture.pts = written if spans is not None else frame.index
                written += 1
                for packet in stream.encode(picture):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        if written == 0 and spans is not None:
            raise MediaError("no frames in the requested time range", path=Path(source).name)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


class VideoCache:
    """Transcoded and exported mp4 files in one folder, at most ``max_bytes`` in all (least recently used go first).

    One lock per key: two requests for the same file wait for one transcode.
    """

    def __init__(self, folder: Path, max_bytes: int = 4 << 30):
        self.folder = folder
        self.max_bytes = max_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.mp4"

    def get(self, key: str, make: Callable[[Path], Path]) -> Path:
        """The cached file for ``key``, made with ``make(target)`` when missing."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            target = self.path(key)
            if target.is_file():
                os.utime(target)  # its last use, for eviction
                return target
            started = time.perf_counter()
            make(target)
            log.info("wrote %s in %.1f s", target.name, time.perf_counter() - started)
            self._evict(keep=target)
            return target

    def _evict(self, keep: Path) -> None:
        files = sorted(self._files(), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for path in files:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            total -= path.stat().st_size
            path.unlink(missing_ok=True)

    def _files(self) -> Iterator[Path]:
        if self.folder.is_dir():
            yield from (p for p in self.folder.glob("*.mp4") if p.is_file())

    def size(self) -> int:
        return sum(p.stat().st_size for p in self._files())
