"""Fill a library: media files -> detect -> track -> sample crops -> embed -> one atomic add per file.

::

    report = index_media(["videos/"], "lib/")          # YOLOX-nano + the registry's default ReID model
    for f in report.files:
        print(f.path, f.status, f.tracklets, f"{f.realtime_factor:.1f}x")

Videos are read once, at a stride chosen from their frame rate (:func:`default_stride`); frames are
never kept. Each track keeps a few candidate crops (:class:`~reidkit.embed.CropSampler`); when a
tracklet ends, ``k`` of them are embedded — batched with the other tracklets that ended — and pooled
into one vector. A still image is detected once and every person becomes a tracklet of length 1.
A file that cannot be read is reported and skipped; the others go on.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from reidkit.core.errors import LibraryError, MediaError, ModelError, ReidkitError
from reidkit.core.log import get_logger
from reidkit.core.prefetch import prefetch
from reidkit.core.runtime import default_threads
from reidkit.core.types import Detections, Detector, Embedder, Frame, Tracker, Tracklet, Tracks, model_file_of
from reidkit.embed.crops import CropSampler, CropSamplerConfig
from reidkit.embed.pooling import TrackletEmbedding, embed_tracklets, encode_thumbnail
from reidkit.embed.split import split_on_appearance
from reidkit.index.detect_ahead import DetectorPool, detect_ahead
from reidkit.index.library import DEFAULT_INDEX, Library, NewMedia, NewTracklet, is_storable_name
from reidkit.index.motion import MotionGate
from reidkit.media.recorded import read_photo_taken_at
from reidkit.zoo.calibration import calibration_for

if TYPE_CHECKING:
    from reidkit.detect import DetectorOptions
    from reidkit.media import MediaSource
    from reidkit.track import TrackerConfig

log = get_logger(__name__)

# Videos are processed at about this many frames per second of footage: enough for an IoU tracker
# to follow walking people, few enough to index many times faster than real time on a laptop CPU.
TARGET_PROCESSED_FPS = 5.0
IMAGE_MIN_SCORE = 0.5  # a still image has no tracker to confirm a detection, so ask for a clear one


def default_stride(fps: float, target: float = TARGET_PROCESSED_FPS) -> int:
    """Frames to advance per processed frame: 2 at 10 fps, 5 at 25 fps, 6 at 30 fps, 12 at 60 fps."""
    if not fps or fps <= 0 or not np.isfinite(fps):
        return 1
    return max(1, round(fps / target))


@dataclass
class StageTimes:
    """Seconds spent per stage of one file (decode = time waiting for the next frame)."""

    decode: float = 0.0
    detect: float = 0.0
    track: float = 0.0
    embed: float = 0.0
    index: float = 0.0

    def add(self, other: StageTimes) -> None:
        for name in ("decode", "detect", "track", "embed", "index"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, float]:
        return {
            "decode": self.decode,
            "detect": self.detect,
            "track": self.track,
            "embed": self.embed,
            "index": self.index,
        }


@dataclass
class FileReport:
    path: str
    status: Literal["indexed", "skipped", "failed"]
    kind: str = ""
    message: str = ""  # why a file was skipped or failed
    media_id: int | None = None
    frames_total: int = 0  # frames in the file
    frames_processed: int = 0  # frames decoded at the stride
    frames_detected: int = 0  # processed frames the detector ran on (static, empty frames are skipped)
    stride: int = 1
    duration: float = 0.0  # seconds of video
    tracklets: int = 0
    boxes: int = 0  # detections over all processed frames: what embedding every box would cost
    tracked_boxes: int = 0  # boxes of confirmed tracks over all processed frames
    crops_embedded: int = 0  # ReID inferences actually run
    embed_calls: int = 0  # embedder.embed() batches
    tracklets_split: int = 0  # extra tracklets from cutting tracks that jumped between two people
    # (first, last) frames of a video that could not be decoded: it is indexed, partly
    lost_frames: tuple[tuple[int, int], ...] = ()
    wall: float = 0.0
    times: StageTimes = field(default_factory=StageTimes)

    @property
    def realtime_factor(self) -> float:
        """Seconds of video indexed per second of wall time (0 for images)."""
        return self.duration / self.wall if self.wall > 0 and self.duration > 0 else 0.0

    @property
    def reid_ratio(self) -> float:
        """ReID inferences run per box seen (1.0 = a naive pipeline that embeds every box)."""
        return self.crops_embedded / self.boxes if self.boxes else 0.0


@dataclass
class IndexReport:
    library: Path
    model: str
    detector: str
    files: list[FileReport] = field(default_factory=list)

    def by_status(self, status: str) -> list[FileReport]:
        return [f for f in self.files if f.status == status]

    @property
    def indexed(self) -> list[FileReport]:
        return self.by_status("indexed")

    @property
    def skipped(self) -> list[FileReport]:
        return self.by_status("skipped")

    @property
    def failed(self) -> list[FileReport]:
        return self.by_status("failed")


@dataclass
class IndexOptions:
    stride: int | None = None  # None: default_stride(fps)
    crops: CropSamplerConfig = field(default_factory=CropSamplerConfig)
    min_tracklet_length: int = 3  # observations (processed frames); shorter tracks are noise
    embed_batch: int = 32  # embed finished tracklets once this many crops are waiting
    image_min_score: float = IMAGE_MIN_SCORE
    # Decode up to this many frames ahead in a thread (0: inline). Overlapping decode with the
    # detector gave 15-20% more frames/s on 2 busy cores (bench/index_speed.py).
    prefetch: int = 4
    progress: bool | None = None  # None: a progress bar when stderr is a terminal
    # Skip the detector on frames where nothing moves and no track is open (empty rooms, parked
    # cameras); every `keyframe_seconds` the detector runs anyway, for people who stand still.
    skip_static: bool = True
    keyframe_seconds: float = 2.0
    # Video frames detected at once, each by its own single-threaded detector (reidkit.index.detect_ahead).
    # None: one per core (default_threads) when the indexer builds the detector by name, else 1.
    detect_workers: int | None = None
    # Detector confidence for videos when the detector is built here by name. None: the tracker's
    # `track_low`, so ByteTrack's second association sees the low-score boxes of partly hidden or
    # blurred people (a detector's own 0.35 default hides them; new tracks still need `new_track`).
    detect_conf: float | None = None
    # Longest side of the detector input for a detector built here by name (frames keep their aspect
    # ratio); None: the detector's default (640 for yolox-nano). Larger finds smaller people.
    detect_input_side: int | None = None
    # Cut a video tracklet where its crops stop looking like one person (a tracker jumping between two
    # people who cross): at the model's calibrated "same person" cosine. Off for unmeasured models,
    # whose default threshold is a guess. See reidkit/embed/split.py.
    split_tracklets: bool = True


class _Pending:
    """Finished tracklets waiting to be embedded together."""

    def __init__(self) -> None:
        self.tracklets: list[Tracklet] = []
        self.crops: list[list[Any]] = []

    def __len__(self) -> int:
        return sum(len(c) for c in self.crops)

    def add(self, tracklet: Tracklet, crops: list[Any]) -> None:
        if crops:
            self.tracklets.append(tracklet)
            self.crops.append(crops)

    def drain(self) -> tuple[list[Tracklet], list[list[Any]]]:
        out = (self.tracklets, self.crops)
        self.tracklets, self.crops = [], []
        return out


@dataclass
class FileAnalysis:
    """What analysing one file produced, before anything is written: a report, the media and its tracklets.

    Plain data (numpy arrays, JPEG bytes), so a remote worker can send it back to the one process that
    writes the library. ``media`` is None when the file failed (``report.status == "failed"``).
    """

    report: FileReport
    media: NewMedia | None = None
    tracklets: list[NewTracklet] = field(default_factory=list)


class MediaAnalyser:
    """Turns one media file into tracklets with pooled and per-crop vectors; writes nothing.

    One detector, tracker and embedder, reused file after file. :class:`MediaIndexer` pairs it with a
    library; :mod:`reidkit.index.distributed` runs one per Ray worker.
    """

    def __init__(
        self,
        detector: Detector,
        embedder: Embedder,
        *,
        options: IndexOptions | None = None,
        tracker_config: TrackerConfig | None = None,
        tracker_factory: Callable[[], Tracker] | None = None,
        video_detectors: Sequence[Detector] | None = None,
    ):
        """``video_detectors``: one detector per thread detecting a video's frames side by side
        (:attr:`IndexOptions.detect_workers`; an object may repeat when its ``detect`` is thread-safe,
        :func:`reidkit.detect.build_detectors`); None: ``detector``, one frame at a time."""
        self.detector = detector
        self.embedder = embedder
        self.options = options or IndexOptions()
        frame_detectors = list(video_detectors) if video_detectors else [detector]
        workers = self.options.detect_workers
        if workers is not None and workers != len(frame_detectors):
            raise ReidkitError(
                f"detect_workers={workers}: needs >= 1, and more than 1 needs a detector built by name "
                "(each worker gets its own; a given detector object may not be thread-safe)"
                if video_detectors is None or workers < 1
                else f"detect_workers={workers}, but {len(frame_detectors)} video detectors were given"
            )
        self.video_detectors = frame_detectors
        self._pool: DetectorPool | None = None
        if tracker_config is None:  # the detector's own thresholds (small detectors score lower)
            from reidkit.track import TrackerConfig

            tracker_config = TrackerConfig.for_detector(detector)
        self._tracker_config = tracker_config
        self._tracker_factory = tracker_factory
        calibration = calibration_for(embedder.name, model_file_of(embedder))
        # None: video tracklets are not cut (switched off, or the model's threshold is a guess).
        self._split_threshold = (
            calibration.threshold if self.options.split_tracklets and calibration.measured else None
        )

    def close(self) -> None:
        """Stop the video detectors' threads (they are started by the first video)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def analyse(self, path: Path, sha: str | None = None) -> FileAnalysis:
        """Analyse one file (``sha``: its content hash, computed here when None).

        A file that cannot be read gives a "failed" report instead of an exception; model errors,
        which are not about this file, are raised.
        """
        from reidkit.media import content_hash, is_image, open_media

        started = time.perf_counter()
        kind = "image" if is_image(path) else "video"
        unstorable = unstorable_name(path)
        if unstorable is not None:  # before minutes of decoding: the library could not record it
            return _failed(path, kind, unstorable, started)
        try:
            if sha is None:
                sha = content_hash(path)
            if kind == "image":
                analysis = self._analyse_image(path, sha)
            else:
                analysis = self._analyse_video(open_media(path), sha)
        except (ModelError, LibraryError):
            raise  # not about this file: stop the batch
        except ReidkitError as exc:
            return _failed(path, kind, str(exc), started)
        except (OSError, ValueError, RuntimeError) as exc:  # decoders raise their own types mid-stream
            message = f"{path}: cannot be indexed ({exc.__class__.__name__}: {exc})"
            return _failed(path, kind, message, started)
        analysis.report.wall = time.perf_counter() - started
        return analysis

    def _analyse_image(self, path: Path, sha: str) -> FileAnalysis:
        from reidkit.media import read_image

        report = FileReport(
            str(path), "indexed", "image", frames_total=1, frames_processed=1, frames_detected=1
        )
        t0 = time.perf_counter()
        image = read_image(path)
        t1 = time.perf_counter()
        detections = self.detector.detect(image)
        t2 = time.perf_counter()
        report.boxes = len(detections)
        entries = self._still_tracklets(Frame(image, 0, 0.0), detections, report)
        height, width = image.shape[:2]
        media = NewMedia(
            str(path.resolve()), sha, "image", 0.0, 1, 0.0, width, height, read_photo_taken_at(path)
        )
        report.times.decode, report.times.detect = t1 - t0, t2 - t1
        report.tracklets = len(entries)
        return FileAnalysis(report, media, entries)

    def _still_tracklets(self, frame: Frame, detections: Detections, report: FileReport) -> list[NewTracklet]:
        """Each person detected in one frame as a tracklet of that frame alone (a photo's people; the
        people of a clip too short to track)."""
        keep = detections.scores >= self.options.image_min_score
        boxes, scores = detections.boxes[keep], detections.scores[keep]
        tracks = Tracks(boxes, scores, np.arange(1, len(boxes) + 1, dtype=np.int64))
        sampler = CropSampler(self.options.crops)
        sampler.observe(frame, tracks)
        pending = _Pending()
        for i, track_id in enumerate(tracks.track_ids):
            tracklet = Tracklet(
                int(track_id),
                np.full(1, frame.index, np.int64),
                np.full(1, frame.time),
                boxes[i : i + 1],
                scores[i : i + 1],
            )
            pending.add(tracklet, sampler.select(int(track_id)))
        report.tracked_boxes += len(tracks)
        return self._embed(pending, report, split=False)

    def _analyse_video(self, source: MediaSource, sha: str) -> FileAnalysis:
        from reidkit.track import ByteTracker, TrackletBuilder

        opts = self.options
        stride = opts.stride or default_stride(source.fps)
        report = FileReport(
            str(source.path), "indexed", "video", frames_total=int(source.frame_count), stride=stride
        )
        times = report.times
        tracker: Tracker
        if self._tracker_factory is not None:
            tracker = self._tracker_factory()
        else:
            tracker = ByteTracker(self._tracker_config)
        tracker.reset()
        buffer = tracker.buffer
        builder = TrackletBuilder(min_length=opts.min_tracklet_length, max_idle=buffer)
        sampler = CropSampler(opts.crops)
        pending = _Pending()
        entries: list[NewTracklet] = []
        last_index, last_time = -1, 0.0
        busiest: tuple[Frame, Detections] | None = None  # the processed frame with the most people

        def collect(finished: list[Tracklet], frame_index: int | None) -> None:
            for tracklet in finished:
                pending.add(tracklet, sampler.select(tracklet.track_id))
            if frame_index is not None:
                # Tracks the builder ended but dropped as too short: forget their crops too.
                sampler.drop_idle(frame_index, buffer)

        gate = MotionGate(opts.keyframe_seconds) if opts.skip_static else None
        frames: Iterator[Frame] = iter(source.frames(stride))
        if opts.prefetch > 0:
            frames = prefetch(frames, opts.prefetch)
        bar = _progress(opts.progress, max(1, -(-int(source.frame_count) // stride)), Path(source.path).name)
        if self._pool is None:
            self._pool = DetectorPool(self.video_detectors)
        detected = detect_ahead(
            _timed(frames, times), self._pool, gate, open_tracks=lambda: builder.open_count > 0
        )
        try:
            while True:
                t0, decoding = time.perf_counter(), times.decode
                item = next(detected, None)
                t1 = time.perf_counter()
                times.detect += (t1 - t0) - (times.decode - decoding)  # the wait for detections
                if item is None:
                    break
                frame, detections = item.frame, item.detections
                report.frames_detected += item.detected
                if busiest is None or len(detections) > len(busiest[1]):
                    busiest = (frame, detections)
                tracks = tracker.update(detections, frame.index)
                builder.add(frame, tracks)
                sampler.observe(frame, tracks)
                collect(builder.pop_finished(frame.index), frame.index)
                times.track += time.perf_counter() - t1
                report.frames_processed += 1
                report.boxes += len(detections)
                report.tracked_boxes += len(tracks)
                last_index, last_time = frame.index, frame.time
                if len(pending) >= opts.embed_batch:
                    entries.extend(self._embed(pending, report))
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            detected.close()
            close = getattr(frames, "close", None)  # a prefetching generator: stop its thread
            if close is not None:
                close()
        t0 = time.perf_counter()
        collect(builder.finish(), None)
        times.track += time.perf_counter() - t0
        entries.extend(self._embed(pending, report))
        if not entries and busiest is not None and report.frames_processed < opts.min_tracklet_length:
            # Too few frames for any track to be confirmed (a 1-frame video, a clip of a fraction of a
            # second): its people as a photo's, from its frame with the most of them.
            entries = self._still_tracklets(*busiest, report)
        if report.frames_processed == 0:
            raise MediaError("no frame could be decoded", path=source.path, hint="check the file")
        report.lost_frames = tuple(source.lost_frames)
        if report.lost_frames:
            from reidkit.media.source import frame_ranges

            report.message = f"{source.path}: {frame_ranges(report.lost_frames)} unreadable (corrupt data)"
        decoded = source.decoded_frames
        if decoded is not None:
            # Indexing the readable part silently would hide that the rest of the footage is missing.
            raise MediaError(
                f"truncated: only {decoded} of {report.frames_total} frames could be decoded",
                path=source.path,
                hint="re-copy the file, or to index what is there: ffmpeg -i IN -c copy OUT.mp4",
            )
        fps = float(source.fps)
        frame_count = max(int(source.frame_count), last_index + 1)
        duration = float(source.duration) or (frame_count / fps if fps > 0 else last_time)
        report.duration = duration
        report.frames_total = frame_count
        media = NewMedia(
            str(Path(source.path).resolve()),
            sha,
            "video",
            fps,
            frame_count,
            duration,
            int(source.width),
            int(source.height),
            source.recorded_at,
        )
        report.tracklets = len(entries)
        return FileAnalysis(report, media, entries)

    # ------------------------------------------------------------------------------------------ embed
    def _embed(self, pending: _Pending, report: FileReport, split: bool = True) -> list[NewTracklet]:
        tracklets, groups = pending.drain()
        if not tracklets:
            return []
        t0 = time.perf_counter()
        embeddings = embed_tracklets(self.embedder, groups)
        report.times.embed += time.perf_counter() - t0
        report.embed_calls += 1
        report.crops_embedded += sum(len(g) for g in groups)
        threshold = self._split_threshold if split else None
        out: list[NewTracklet] = []
        for tracklet, embedding in zip(tracklets, embeddings, strict=True):
            if embedding is None:
                continue
            pieces = (
                [(tracklet, embedding)]
                if threshold is None
                else split_on_appearance(tracklet, embedding, threshold)
            )
            report.tracklets_split += len(pieces) - 1
            out.extend(to_new_tracklet(t, e) for t, e in pieces)
        return out


def unstorable_name(path: Path) -> str | None:
    """Why a library cannot record ``path``, or None. The library stores paths as text (UTF-8), and a
    name written in another encoding (Latin-1 from an old camera or a Windows share) is not text."""
    if is_storable_name(str(Path(path).resolve())):
        return None
    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
    return (
        f"{shown}: its name is not valid UTF-8, which the library cannot store; rename the file "
        "(e.g. `convmv -f latin1 -t utf-8 --notest FILE`) and index it again"
    )


def _timed(frames: Iterator[Frame], times: StageTimes) -> Iterator[Frame]:
    """``frames``, adding the time spent waiting for each to ``times.decode``."""
    while True:
        t0 = time.perf_counter()
        frame = next(frames, None)
        times.decode += time.perf_counter() - t0
        if frame is None:
            return
        yield frame


def _failed(path: Path, kind: str, message: str, started: float) -> FileAnalysis:
    return FileAnalysis(FileReport(str(path), "failed", kind, message, wall=time.perf_counter() - started))


def write_analysis(library: Library, analysis: FileAnalysis) -> FileReport:
    """Add an analysed file to ``library`` in one atomic step; returns its report, completed.

    The report gains the media id and the write time (``times.index``, also added to ``wall``). A failed
    analysis is returned as it is. A file the library held under this path with other content (replaced
    since, e.g. a camera's clip overwritten) is removed once the new content is in: searches then find
    what the file shows now, never both, and a failed add keeps the old one.
    """
    report = analysis.report
    if analysis.media is None:
        return report
    t0 = time.perf_counter()
    earlier = library.media_by_path(analysis.media.path)
    try:
        report.media_id = library.add_media(analysis.media, analysis.tracklets)
    except ValueError as exc:  # e.g. tracklet arrays that do not fit together: lose this file only
        report.status, report.message = "failed", f"{report.path}: cannot be indexed ({exc})"
    if report.status != "failed" and earlier is not None and earlier.sha256 != analysis.media.sha256:
        library.remove_media(earlier.id)
        report.message = "its content changed since it was indexed: the earlier content was replaced"
    elapsed = time.perf_counter() - t0
    report.times.index += elapsed
    report.wall += elapsed
    return report


class MediaIndexer:
    """Indexes media files one by one into a library: a :class:`MediaAnalyser` plus the library writes."""

    def __init__(self, library: Library, analyser: MediaAnalyser):
        if library.model != analyser.embedder.name:
            raise LibraryError(f"library model {library.model!r} != embedder {analyser.embedder.name!r}")
        self.library = library
        self.analyser = analyser

    def index_file(self, path: Path) -> FileReport:
        """Index one file; a file that cannot be read gives a "failed" report instead of an exception."""
        from reidkit.media import content_hash, is_image

        started = time.perf_counter()
        kind = "image" if is_image(path) else "video"
        unstorable = unstorable_name(path)
        if unstorable is not None:
            return _failed(path, kind, unstorable, started).report
        try:
            before = _file_stamp(path)
            sha = content_hash(path)
        except MediaError as exc:  # unreadable (permissions, I/O error): lose this file only
            return _failed(path, kind, str(exc), started).report
        media_id = self.library.media_id(sha)
        if media_id is not None:
            held = self.library.media(media_id)
            if Path(held.path).exists():
                return FileReport(str(path), "skipped", kind, "already in the library")
            # The same content, and the file it was indexed from is gone: moved or renamed. The library
            # follows it (else its moments would point at a missing file, and the new copy stay unseen).
            self.library.move_media(media_id, path)
            message = f"already in the library, indexed from {held.path}, which is gone: now found here"
            return FileReport(str(path), "skipped", kind, message, media_id=media_id)
        analysis = self.analyser.analyse(path, sha)
        if analysis.media is not None and _file_stamp(path) != before:
            # Its hash and what was analysed are of a file still being written: adding it would store
            # part of it under a hash no later, complete copy matches (the next run would add it twice).
            message = (
                f"{path}: changed while it was being indexed (still being copied or recorded?); nothing "
                "of it was added — index it again once it is complete"
            )
            return _failed(path, kind, message, started).report
        report = write_analysis(self.library, analysis)
        report.wall = time.perf_counter() - started
        return report


def _file_stamp(path: Path) -> tuple[int, int] | None:
    """(size, modification time in ns): what changes while a file is being written; None when gone."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def to_new_tracklet(tracklet: Tracklet, embedding: TrackletEmbedding) -> NewTracklet:
    best = embedding.best
    return NewTracklet(
        track_id=int(tracklet.track_id),
        frames=tracklet.frames,
        times=tracklet.times,
        boxes=tracklet.boxes,
        vector=embedding.vector,
        crop_vectors=embedding.crop_vectors,
        best_frame=int(best.frame),
        best_box=np.asarray(best.box, np.float32),
        thumbnail_jpeg=encode_thumbnail(best.image),
        quality=float(best.quality),
        crop_frames=np.array([c.frame for c in embedding.crops], np.int64),
        crop_qualities=np.array([c.quality for c in embedding.crops], np.float32),
    )


def _progress(enabled: bool | None, total: int, name: str) -> Any:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="frame", leave=False, file=sys.stderr, dynamic_ncols=True)


def index_detector_options(
    detector: str | Path,
    options: IndexOptions,
    tracker_config: TrackerConfig | None = None,
    threads: int | None = None,
) -> DetectorOptions:
    """The options of a detector the indexer builds by name: those of ``reidkit track``
    (:func:`~reidkit.track.video.tracking_detector_options`), with ``options.detect_conf``,
    ``options.detect_input_side`` and ``threads`` when set."""
    from reidkit.track import TrackerConfig
    from reidkit.track.video import tracking_detector_options

    overrides: dict[str, Any] = {}
    if options.detect_conf is not None:
        overrides["conf"] = options.detect_conf
    if options.detect_input_side is not None:
        overrides["input_side"] = options.detect_input_side
    if threads is not None:
        overrides["threads"] = threads
    config = tracker_config or TrackerConfig.for_detector(detector)
    return tracking_detector_options(detector, config, **overrides)


def _resolve_embedder(model: str | Path | Embedder | None, threads: int | None) -> Embedder:
    if model is not None and isinstance(model, Embedder):
        return model
    from reidkit.embed.factory import build_embedder

    return build_embedder(model, threads=threads)


def index_media(
    paths: str | Path | Sequence[str | Path],
    library_root: str | Path,
    *,
    detector: str | Path | Detector = "yolox-nano",
    model: str | Path | Embedder | None = None,
    stride: int | None = None,
    options: IndexOptions | None = None,
    index: str = DEFAULT_INDEX,
    nprobe: int | None = None,
    ef_search: int | None = None,
    tracker_config: TrackerConfig | None = None,
    tracker_factory: Callable[[], Tracker] | None = None,
    on_file: Callable[[FileReport], None] | None = None,
    threads: int | None = None,
) -> IndexReport:
    """Index every video and image under ``paths`` into the library at ``library_root``.

    ``model`` is a registry name, an .onnx path or an Embedder (None: the registry default);
    ``detector`` likewise; ``threads`` is the onnxruntime threads per model (None:
    :func:`~reidkit.core.runtime.default_threads`). Files already in the library (same content hash) are skipped; unreadable
    files are reported as failed and skipped. ``on_file`` is called with each file's report as it ends.
    ``index``, ``nprobe`` and ``ef_search`` are the Faiss index and its search settings, stored in the
    library (:meth:`Library.create_or_open`; docs/search.md says which to choose).
    """
    options = with_stride(options, stride)
    files, unwalkable = find_media_to_index(paths)
    analyser = build_analyser(
        detector,
        model,
        options=options,
        tracker_config=tracker_config,
        tracker_factory=tracker_factory,
        threads=threads,
    )
    try:
        embedder = analyser.embedder
        name = getattr(analyser.detector, "name", str(detector))
        report = IndexReport(Path(library_root), embedder.name, name)
        for problem in unwalkable:
            report.files.append(folder_failed(problem, on_file))
        if not files:
            return report  # only folders that could not be listed: no library to create
        with Library.create_or_open(
            library_root,
            embedder.name,
            embedder.dim,
            index=index,
            nprobe=nprobe,
            ef_search=ef_search,
            model_file=model_file_of(embedder),
        ) as library:
            indexer = MediaIndexer(library, analyser)
            for path in files:
                file_report = indexer.index_file(Path(path))
                if file_report.status == "failed":
                    log.info("%s", file_report.message)  # in the report; the caller decides how to show it
                report.files.append(file_report)
                if on_file is not None:
                    on_file(file_report)
    finally:
        analyser.close()
    return report


def find_media_to_index(paths: str | Path | Sequence[str | Path]) -> tuple[list[Path], list[MediaError]]:
    """The media files under ``paths`` and the folders that could not be walked (symlink loops too).

    MediaError when there is neither: an empty folder must not silently become an empty library.
    """
    from reidkit.index.library import is_library_folder
    from reidkit.media import scan_media

    named = [paths] if isinstance(paths, (str, Path)) else list(paths)
    scan = scan_media(named, skip_folder=is_library_folder)
    if not scan.files and not scan.problems:
        raise MediaError(
            "no media found (no video or image files; reidkit library folders are not indexed)",
            path=", ".join(str(p) for p in named),
            hint="pass folders or files with videos (.mp4, .mkv, ...) or images (.jpg, .png, ...)",
        )
    return scan.files, scan.problems


def folder_failed(problem: MediaError, on_file: Callable[[FileReport], None] | None) -> FileReport:
    """A "failed" report for a folder that could not be walked, passed to ``on_file`` like a file's."""
    report = FileReport(str(problem.path), "failed", "folder", str(problem))
    log.info("%s", report.message)
    if on_file is not None:
        on_file(report)
    return report


def with_stride(options: IndexOptions | None, stride: int | None) -> IndexOptions:
    """``options`` (or the defaults) with ``stride`` applied when given; rejects a stride below 1."""
    options = options or IndexOptions()
    if stride is not None:
        if stride < 1:
            raise ReidkitError(f"stride must be >= 1, got {stride}")
        options.stride = stride
    return options


def build_analyser(
    detector: str | Path | Detector,
    model: str | Path | Embedder | None,
    *,
    options: IndexOptions,
    tracker_config: TrackerConfig | None = None,
    tracker_factory: Callable[[], Tracker] | None = None,
    threads: int | None = None,
) -> MediaAnalyser:
    """Resolve the detector and embedder (names, paths or objects) into a :class:`MediaAnalyser`.

    A detector built here by name gets :func:`index_detector_options`, and a video's frames are
    detected by single-threaded detectors side by side (:attr:`IndexOptions.detect_workers`, by default
    one per core: ``threads``, else :func:`~reidkit.core.runtime.default_threads`): one shared object
    when it is thread-safe (:func:`~reidkit.detect.build_detectors`). Those are built here, so that a
    bad model fails before any library is touched; the detector for still images (on ``threads``)
    is built on the first image, as a run of videos never needs it.
    """
    embedder = _resolve_embedder(model, threads)
    video_detectors: list[Detector] | None = None
    if not isinstance(detector, Detector):
        from functools import partial

        from reidkit.detect import DeferredDetector, build_detector, build_detectors

        workers = options.detect_workers
        if workers is None:
            workers = threads or default_threads()
            options = replace(options, detect_workers=workers)
        if workers < 1:
            raise ReidkitError(f"detect_workers={workers}: needs >= 1")
        image_options = index_detector_options(detector, options, tracker_config, threads)
        frame_options = replace(image_options, threads=1)
        video_detectors = build_detectors(detector, frame_options, workers)
        if frame_options == replace(image_options, threads=image_options.threads or default_threads()):
            detector = video_detectors[0]  # one thread for images too: the same detector
        else:
            name = video_detectors[0].name
            detector = DeferredDetector(partial(build_detector, detector, image_options), name)
    return MediaAnalyser(
        detector,
        embedder,
        options=options,
        tracker_config=tracker_config,
        tracker_factory=tracker_factory,
        video_detectors=video_detectors,
    )
