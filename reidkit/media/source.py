"""Open a video or an image as a stream of :class:`~reidkit.core.types.Frame`.

::

    source = open_media("walk.mp4")            # MediaError if it cannot be read
    source.fps, source.frame_count, source.duration, source.width, source.height
    for frame in source.frames(stride=2):       # every 2nd frame; frame.index / frame.time are true
        ...

Videos are decoded with PyAV (FFmpeg, threaded) and fall back to OpenCV when PyAV cannot open the
file. ``open_media`` decodes the first frame, so a file it returns has at least one picture.

Timing: ``frame.time`` is the frame's presentation time from the container, relative to the first
frame; streams without timestamps (a raw ``.264`` elementary stream) use ``index / fps``.

Strides: ``frames(stride)`` decodes only the frames it yields and those other frames are predicted
from, when it knows which frame each packet holds before decoding it: from the packets' timestamps
(H.264 and HEVC in MP4/MOV/Matroska) or, in a raw H.264 stream, from its slice headers
(:mod:`reidkit.media.h264`). FFmpeg skips the rest (B frames nothing refers to), and the frames,
indices and times are those of decoding everything. Other streams are decoded whole, numbering frames
by counting them, as a skipped frame there would shift every index after it.

Damage: packets that fail to decode are skipped and decoding goes on with the next ones; after a pass,
``lost_frames`` lists the frame ranges that could not be read (frame indices keep counting across them,
so times and indices stay those of the intact file). A file whose end is missing (the header promised
far more frames than there were) sets ``decoded_frames``. Frames are turned upright by the stream's
display matrix (a phone's "rotate" tag). Videos whose header says their frames are larger than
:data:`MAX_VIDEO_PIXELS` are refused before reidkit decodes them.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from reidkit.core.errors import MediaError
from reidkit.core.log import get_logger
from reidkit.core.types import Frame
from reidkit.media.files import is_image, is_video
from reidkit.media.image import check_pixels, read_image
from reidkit.media.recorded import recorded_at

log = get_logger(__name__)

# OpenCV's FFmpeg backend prints demuxer errors ("moov atom not found") straight to stderr; reidkit
# reports unreadable files itself, in one line. Read when the backend first opens a file.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

DEFAULT_FPS = 25.0  # used (with a warning) when a video does not say its frame rate
# Twice the pixels of 8K UHD: no camera records larger frames, and a decoder holds many frames at once.
MAX_VIDEO_PIXELS = 2 * 7680 * 4320
_FIX_VIDEO = "re-copy the file, or re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"


class MediaSource(ABC):
    """A video or image file opened for reading. Iterate :meth:`frames`; each call starts over."""

    path: Path
    kind: Literal["video", "image"]
    fps: float  # 0.0 for an image
    width: int
    height: int
    # After a pass: frames decoded when that is far fewer than the header promised (truncated file).
    decoded_frames: int | None = None
    # After a pass: (first, last) frame index of each run of frames that could not be decoded.
    lost_frames: tuple[tuple[int, int], ...] = ()
    # Clock time of frame 0 (UTC epoch seconds) as the file's metadata says (reidkit.media.recorded).
    recorded_at: float | None = None

    @property
    @abstractmethod
    def frame_count(self) -> int:
        """Number of frames (1 for an image); counted on first use when the header does not say."""

    @property
    def duration(self) -> float:
        """Seconds (0.0 for an image)."""
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    @abstractmethod
    def frames(self, stride: int = 1) -> Iterator[Frame]:
        """Yield every ``stride``-th frame (indices 0, stride, 2*stride, ...)."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, kind={self.kind!r}, {self.width}x{self.height}, "
            f"fps={self.fps:g})"
        )


def open_media(path: str | Path) -> MediaSource:
    """Open a video or image file; MediaError (one line: the file and the fix) when it cannot be read."""
    path = Path(path).expanduser()
    _check_file(path)
    if is_image(path):
        return ImageSource(path)
    errors: list[str] = []
    for opener in (PyAVVideo, OpenCVVideo):
        try:
            return opener(path)
        except _OpenFailed as exc:
            errors.append(f"{opener.backend}: {exc}")
    if not is_video(path):  # unknown suffix, not a video either: maybe an image
        try:
            return ImageSource(path)
        except MediaError:
            pass
        raise MediaError(
            "not a readable video or image",
            path=path,
            hint="pass an mp4/mkv/avi/... video or a JPEG/PNG image",
        )
    raise MediaError(f"cannot read video ({'; '.join(errors)})", path=path, hint=_FIX_VIDEO)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError("no such file", path=path, hint="check the path")
    if not path.is_file():
        raise MediaError(
            "not a file", path=path, hint="pass a video or image file (folders: iter_media_files)"
        )
    if path.stat().st_size == 0:
        raise MediaError("file is empty (0 bytes)", path=path, hint="re-copy or re-download it")


class _OpenFailed(Exception):
    """A backend could not open or decode the file (the next backend is tried)."""


class ImageSource(MediaSource):
    kind: Literal["video", "image"] = "image"
    fps = 0.0

    def __init__(self, path: Path):
        self.path = path
        self._image: np.ndarray | None = read_image(path)  # validates now; kept until the first pass
        self.height, self.width = self._image.shape[:2]

    @property
    def frame_count(self) -> int:
        return 1

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        _check_stride(stride)
        image, self._image = self._image, None
        yield Frame(image if image is not None else read_image(self.path), 0, 0.0)


def _check_stride(stride: int) -> None:
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")


def _fps_or_default(path: Path, fps: float | None) -> float:
    if fps is not None and 0 < fps < 1000:
        return float(fps)
    log.warning("%s: frame rate unknown, assuming %g fps", path, DEFAULT_FPS)
    return DEFAULT_FPS


class PyAVVideo(MediaSource):
    """FFmpeg through PyAV: threaded decoding, container timestamps."""

    backend = "pyav"
    kind: Literal["video", "image"] = "video"

    def __init__(self, path: Path):
        import av

        self.path = path
        try:
            container = av.open(str(path))
        except Exception as exc:  # av raises FFmpegError subclasses, OSError, UnicodeDecodeError...
            raise _OpenFailed(_short(exc)) from exc
        try:
            if not container.streams.video:
                raise _OpenFailed("no video stream")
            stream = container.streams.video[0]
            header_width, header_height = stream.codec_context.width, stream.codec_context.height
            if header_width and header_height:  # before decoding: frames this size may not fit in memory
                check_pixels(path, header_width, header_height, limit=MAX_VIDEO_PIXELS, what="video")
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.fps = _fps_or_default(path, float(rate) if rate else None)
            self._header_frames = int(stream.frames or 0)
            self._container_duration = (container.duration or 0) / 1_000_000
            self.recorded_at = recorded_at(dict(container.metadata), dict(stream.metadata))
            first = _first_frame(container, stream)
            # Counter-clockwise degrees the display matrix turns each frame by (phones record sideways).
            self._rotation = round(float(first.rotation or 0) / 90) * 90 % 360
            self.width, self.height = first.width, first.height
            if self._rotation in (90, 270):
                self.width, self.height = self.height, self.width
        finally:
            container.close()
        self._frame_count: int | None = self._header_frames or None
        # Set by a full pass that decoded far fewer frames than the header says (a truncated file).
        self.decoded_frames: int | None = None
        self._order: _DisplayOrder | None = None  # read by the first pass at a stride
        self._order_read = False
        # After a pass: the pictures FFmpeg decoded (fewer than the frames when it skipped unwanted ones).
        self.pictures_decoded: int | None = None

    @property
    def frame_count(self) -> int:
        if self._frame_count is None:
            self._frame_count = self._count_packets()
        return self._frame_count

    @property
    def duration(self) -> float:
        if self._frame_count is None and self._container_duration > 0:
            return self._container_duration
        return self.frame_count / self.fps

    def _count_packets(self) -> int:
        """Count frames without decoding: demuxing a raw stream is ~100x faster than decoding it."""
        import av

        count = 0
        try:
            with av.open(str(self.path)) as container:
                for packet in container.demux(container.streams.video[0]):
                    count += packet.size > 0
        except Exception as exc:
            log.warning("%s: could not count frames past %d (%s)", self.path, count, _short(exc))
        return max(count, 1)

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        """Every ``stride``-th frame; see the module docstring for what is decoded."""
        _check_stride(stride)
        order = self._display_order()
        if order is None:
            yield from self._decode_counting(stride)
        else:
            yield from self._decode_by_timestamp(stride, order)

    def _display_order(self) -> _DisplayOrder | None:
        """Every frame's timestamp in display order, when they say exactly which frame each packet
        holds (:class:`_DisplayOrder`); None when decoding must count frames instead. Read once."""
        if self._order_read:
            return self._order
        self._order_read = True
        self._order = _read_display_order(self.path)
        return self._order

    def _open_for_decoding(self) -> tuple[Any, Any]:
        import av

        try:
            container = av.open(str(self.path))
        except Exception as exc:
            raise MediaError(f"cannot open video ({_short(exc)})", path=self.path, hint=_FIX_VIDEO) from exc
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            # One decoding thread: the indexer decodes in a thread of its own beside the models, and
            # FFmpeg's frame threads took the detector's second core (bench/index_speed.py). It also
            # makes a change of ``skip_frame`` apply to the very next packet (_decode_by_timestamp).
            stream.codec_context.thread_count = 1
        except Exception:
            container.close()
            raise
        return container, stream

    def _demuxed(self, container: Any, stream: Any, next_index: Callable[[], int]) -> Iterator[Any]:
        """The stream's packets, up to where the container cannot be read on (``next_index()``: the
        frame there, for the warning); what was decoded before is kept."""
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except Exception as exc:
                _warn_cut(self.path, next_index(), exc)
                return
            yield packet

    def _decode_counting(self, stride: int) -> Iterator[Frame]:
        """Decode every frame, numbering them by count; convert every ``stride``-th.

        For streams whose packets do not say which frame they hold. After a damaged packet, timestamps
        (when there are any) say how many frames were lost."""
        container, stream = self._open_for_decoding()
        index = -1
        pictures = 0
        lost: list[tuple[int, int]] = []
        failed = 0  # packets that failed to decode since the last frame came out
        damaged = False  # some packet failed: from then on, timestamps say which frames are missing
        try:
            time_base = stream.time_base
            start_pts: int | None = None
            last_time = -1.0
            # The lambda reads the frame index when the container fails: late binding is the point.
            for packet in self._demuxed(container, stream, lambda: index + 1):  # noqa: B023
                try:
                    decoded = packet.decode()
                except Exception:  # a damaged packet: skip it, the decoder resyncs at the next good one
                    failed += 1
                    damaged = True
                    continue
                pictures += len(decoded)
                for frame in decoded:
                    if damaged:
                        missing = _missing_frames(index, frame.pts, start_pts, time_base, self.fps, failed)
                        if missing:
                            lost.append((index + 1, index + missing))
                            index += missing
                        failed = 0
                    index += 1
                    if start_pts is None and frame.pts is not None:
                        start_pts = frame.pts
                    if index % stride:
                        continue  # decoded (needed for the next frames) but not converted
                    if frame.pts is not None and time_base is not None and start_pts is not None:
                        time = float((frame.pts - start_pts) * Fraction(time_base))
                    else:
                        time = index / self.fps
                    # Never go back in time, even if the container's timestamps do.
                    time = last_time = max(time, last_time)
                    yield Frame(_upright(_to_bgr(frame), self._rotation), index, time)
        finally:
            container.close()
        if index < 0:
            raise MediaError("video has no decodable frames", path=self.path, hint=_FIX_VIDEO)
        count = index + 1
        cut_short = self._cut_short(count)
        if failed and not cut_short:  # the last packets were damaged: those frames are lost, not cut off
            lost.append((count, count + failed - 1))
        self._finish_pass(lost)
        self.pictures_decoded = pictures
        if self._frame_count is None or (stride == 1 and self._frame_count != count):
            self._frame_count = count  # a full pass is the truth

    def _decode_by_timestamp(self, stride: int, order: _DisplayOrder) -> Iterator[Frame]:
        """Every ``stride``-th frame, decoding only those and the frames others are predicted from.

        Each packet's timestamp says which frame it holds before it is decoded, so the decoder is told
        to skip it (``skip_frame = "NONREF"``: FFmpeg drops it unless later frames refer to it) when
        that frame is not wanted; at stride 1 every frame is decoded. The frames, indices and times of
        an intact file are those of :meth:`_decode_counting`; after damage, a frame's index is still
        its own (a decoder that lost its place lets frames out of order: those are dropped, as lost).
        Frames skipped unread cannot be known lost, except one lying between two lost frames.
        """
        container, stream = self._open_for_decoding()
        codec = stream.codec_context
        count = len(order.pts)
        demuxed = np.zeros(count, bool)
        expected = np.zeros(count, bool)  # decoded with skipping off: each of these must come out
        produced = np.zeros(count, bool)
        failed = np.zeros(count, bool)
        # After a damaged packet every frame is decoded, so that frames the decoder could not rebuild
        # (it drops them without an error) show as missing instead of as skipped.
        decode_everything = False
        skipping = False
        last_index, last_time = -1, -1.0
        last_yielded = -1
        misnumbered = False  # a raw stream's frames came out of the order its slice headers gave
        numbered = 0  # packets with data so far
        try:
            time_base = Fraction(stream.time_base)
            for packet in self._demuxed(container, stream, lambda: last_index + 1):  # noqa: B023
                if order.packet_indices is not None and packet.size:  # a raw stream: number the packet
                    packet.pts = (
                        order.packet_indices[numbered] if numbered < len(order.packet_indices) else None
                    )
                    numbered += 1
                rank = order.rank(packet.pts) if packet.size else None
                if rank is not None:
                    demuxed[rank] = True
                wanted = decode_everything or rank is None or rank % stride == 0
                if wanted is skipping:
                    codec.skip_frame = "DEFAULT" if wanted else "NONREF"
                    skipping = not wanted
                if wanted and rank is not None:
                    expected[rank] = True
                try:
                    decoded = packet.decode()
                except Exception:  # a damaged packet: skip it, the decoder resyncs at the next good one
                    if rank is not None:
                        failed[rank] = True
                    decode_everything = True
                    continue
                for frame in decoded:
                    index = order.rank(frame.pts)
                    if index is None or index <= last_index:
                        # In a raw stream still intact, the slice headers were misread (reidkit.media.h264
                        # does not follow every feature of H.264): number the rest by counting.
                        misnumbered = order.packet_indices is not None and not failed.any()
                        if misnumbered:
                            break
                        continue  # not a frame of the file's own timeline (cannot happen in an intact file)
                    produced[index] = True
                    last_index = index
                    if index % stride:
                        continue  # a frame others refer to: decoded but not converted
                    if order.packet_indices is None:
                        time = float((frame.pts - order.start) * time_base)
                    else:
                        time = index / self.fps  # as for any stream without timestamps
                    time = last_time = max(time, last_time)
                    last_yielded = index
                    yield Frame(_upright(_to_bgr(frame), self._rotation), index, time)
                if misnumbered:
                    break
        finally:
            container.close()
        if misnumbered:
            log.warning("%s: frames came out of the order its headers give; decoding every frame", self.path)
            self._order = None
            yield from (f for f in self._decode_counting(stride) if f.index > last_yielded)
            return
        if not produced.any():
            raise MediaError("video has no decodable frames", path=self.path, hint=_FIX_VIDEO)
        lost = failed | (expected & ~produced) | ~demuxed
        unread = demuxed & ~expected & ~produced & ~failed  # skipped: whether they decode is unknown
        self._cut_short(count)
        self._finish_pass(_lost_runs(lost, unread))
        self.pictures_decoded = int(produced.sum())
        if self._frame_count is None:
            self._frame_count = count

    def _cut_short(self, count: int) -> bool:
        """Record a pass that read ``count`` frames where the header promised far more (a truncated file)."""
        if self._header_frames and self._header_frames - count > max(2, 0.02 * self._header_frames):
            self.decoded_frames = count
            return True
        return False

    def _finish_pass(self, lost: list[tuple[int, int]]) -> None:
        self.lost_frames = tuple(_merge_ranges(lost))
        if self.lost_frames:  # info: callers report lost_frames (reidkit index does, in one line)
            log.info("%s: %s unreadable (corrupt data), skipped", self.path, frame_ranges(self.lost_frames))


# Codecs whose decoder skips frames nothing refers to when told to (``skip_frame``), in containers that
# store one frame per packet with its presentation time (a sample in MP4/MOV, a block in Matroska), so
# a packet's timestamp says which frame it is. Elsewhere a packet may hold a field or no picture, or
# have no timestamp (AVI, some MPEG-TS), and frames are numbered by counting. Raw H.264 streams have no
# timestamps, but their slice headers give the display order (reidkit.media.h264).
_SKIPPING_CODECS = frozenset({"h264", "hevc"})
_TIMED_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
_RAW_H264 = "h264"  # FFmpeg's name of the raw H.264 demuxer


class _DisplayOrder:
    """The timestamps of all frames of a stream in display order: frame ``i`` has ``pts[i]``.

    From the container, or, for a raw H.264 stream, the frame indices themselves, which the decoding
    pass gives each packet (``packet_indices``, in decoding order; None for a packet without a picture).
    """

    def __init__(self, pts: np.ndarray, packet_indices: list[int | None] | None = None):
        self.pts = pts
        self.start = int(pts[0])
        self.packet_indices = packet_indices

    def rank(self, pts: int | None) -> int | None:
        """The index of the frame with timestamp ``pts``; None when no frame has it."""
        if pts is None:
            return None
        at = int(np.searchsorted(self.pts, pts))
        return at if at < len(self.pts) and self.pts[at] == pts else None


def _read_display_order(path: Path) -> _DisplayOrder | None:
    """Every frame's timestamp from a demuxing pass (no decoding: a small fraction of decoding's cost),
    or None when they cannot be trusted to number the frames (see ``_SKIPPING_CODECS``)."""
    import av

    from reidkit.media.h264 import display_indices

    stamps: list[int] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if container.format.name == _RAW_H264 and stream.codec_context.name == "h264":
                indices = display_indices(bytes(p) for p in container.demux(stream) if p.size)
                if indices is None or not any(i is not None for i in indices):
                    return None
                return _DisplayOrder(np.arange(1 + max(i for i in indices if i is not None)), indices)
            if (
                container.format.name not in _TIMED_CONTAINERS
                or stream.codec_context.name not in _SKIPPING_CODECS
            ):
                return None
            for packet in container.demux(stream):
                if not packet.size or packet.is_discard:  # the flush packet; frames an edit list cuts
                    continue
                if packet.pts is None:
                    return None
                stamps.append(packet.pts)
    except Exception as exc:  # damaged past some point: decode everything, which reports what is lost
        log.debug("%s: no frame timestamps (%s)", path, _short(exc))
        return None
    pts = np.array(stamps, np.int64)
    pts.sort()
    if not len(pts) or (np.diff(pts) <= 0).any():  # two frames at one time: the timestamps are made up
        return None
    return _DisplayOrder(pts)


def _lost_runs(lost: np.ndarray, unread: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) runs of the frames flagged in ``lost``, joined across frames that were only
    ``unread`` (skipped between two lost ones, they are most likely lost with them)."""
    runs: list[tuple[int, int]] = []
    for index in np.flatnonzero(lost).tolist():
        if runs and unread[runs[-1][1] + 1 : index].all():
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def _missing_frames(
    index: int, pts: int | None, start_pts: int | None, time_base: Any, fps: float, failed_packets: int
) -> int:
    """Frames lost before the one after ``index``, in a stream where packets have failed to decode.

    With timestamps, a frame's time says which frame it is (a threaded decoder first lets out the frames
    that were in flight, so the gap shows a few frames after the failures); without them, each of the
    ``failed_packets`` since the last frame was one frame.
    """
    if pts is None or start_pts is None or time_base is None:
        return failed_packets
    expected = round(float((pts - start_pts) * Fraction(time_base)) * fps)
    return max(0, expected - (index + 1))


def frame_ranges(ranges: Sequence[tuple[int, int]]) -> str:
    """``[(686, 687), (900, 900)]`` -> ``"frames 686-687, 900"``."""
    parts = [f"{first}-{last}" if last > first else f"{first}" for first, last in ranges]
    return ("frames " if len(ranges) > 1 or ranges[0][1] > ranges[0][0] else "frame ") + ", ".join(parts)


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` turned ``rotation`` degrees counter-clockwise, as a player shows it."""
    if rotation == 90:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    if rotation == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if rotation == 270:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    return image


def _first_frame(container: Any, stream: Any) -> Any:
    try:
        for frame in container.decode(stream):
            return frame
    except Exception as exc:
        raise _OpenFailed(f"cannot decode ({_short(exc)})") from exc
    raise _OpenFailed("no decodable frames")


def _to_bgr(frame: Any) -> np.ndarray:
    # OpenCV's I420 -> BGR is ~3x faster than libswscale's bgr24 path; both use BT.601 limited range.
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        image: np.ndarray = cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)
        return image
    converted: np.ndarray = frame.to_ndarray(format="bgr24")
    return converted


class OpenCVVideo(MediaSource):
    """OpenCV's VideoCapture: the fallback for files PyAV cannot open. Times are ``index / fps``."""

    backend = "opencv"
    kind: Literal["video", "image"] = "video"

    def __init__(self, path: Path):
        self.path = path
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                raise _OpenFailed("cannot open")
            header_width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            header_height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if header_width > 0 and header_height > 0:
                check_pixels(path, header_width, header_height, limit=MAX_VIDEO_PIXELS, what="video")
            # OpenCV turns frames upright by the display matrix itself (CAP_PROP_ORIENTATION_AUTO).
            ok, first = capture.read()
            if not ok or first is None:
                raise _OpenFailed("no decodable frames")
            self.height, self.width = first.shape[:2]
            self.fps = _fps_or_default(path, capture.get(cv2.CAP_PROP_FPS))
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            # Raw streams report nonsense (negative or astronomically large) counts.
            self._frame_count: int | None = int(count) if 0 < count < 1e8 else None
        finally:
            capture.release()

    @property
    def frame_count(self) -> int:
        if self._frame_count is None:
            capture = cv2.VideoCapture(str(self.path))
            count = 0
            while capture.grab():
                count += 1
            capture.release()
            self._frame_count = max(count, 1)
        return self._frame_count

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        _check_stride(stride)
        capture = cv2.VideoCapture(str(self.path))
        index = -1
        try:
            while True:
                try:
                    if not capture.grab():  # grab decodes; retrieve converts only the frames we keep
                        break
                    index += 1
                    if index % stride:
                        continue
                    ok, image = capture.retrieve()
                except cv2.error as exc:
                    _warn_cut(self.path, index, exc)
                    break
                if not ok or image is None:
                    _warn_cut(self.path, index, None)
                    break
                yield Frame(image, index, index / self.fps)
        finally:
            capture.release()
        if index < 0:
            raise MediaError("video has no decodable frames", path=self.path, hint=_FIX_VIDEO)
        if stride == 1:
            self._frame_count = index + 1


def _warn_cut(path: Path, index: int, exc: BaseException | None) -> None:
    reason = f" ({_short(exc)})" if exc is not None else ""
    log.log(logging.WARNING, "%s: stream ends early at frame %d: corrupt data%s", path, index, reason)


def _short(exc: BaseException) -> str:
    # FFmpeg errors carry the file name in str(exc); strerror alone keeps the message to one short line.
    text = getattr(exc, "strerror", None) or str(exc)
    text = text.strip().splitlines()[0] if text.strip() else ""
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
