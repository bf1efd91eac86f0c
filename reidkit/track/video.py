"""Track the people of one media file: the loop behind ``reidkit track`` and ``bench/tracking.py``.

::

    config = TrackerConfig.for_detector("yolox-nano")
    detector = build_tracking_detector("yolox-nano", config)
    rows = track_media("walk.mp4", detector, config, stride=2)   # (N, 10) MOTChallenge rows
    write_mot("tracks.txt", rows)

Detection and tracking are split (:func:`track_detections` takes ``(frame_index, Detections)`` pairs) so
a benchmark can replay cached detections through exactly the tracking code the command runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.core.types import Detections, Detector, Frame, Tracker
from reidkit.detect.options import DetectorOptions
from reidkit.track.byte_tracker import ByteTracker, TrackerConfig
from reidkit.track.mot import N_COLUMNS, tracks_to_mot


def tracking_detector_options(
    name_or_path: str | Path, config: TrackerConfig, **overrides: Any
) -> DetectorOptions:
    """The options of a detector that feeds the tracker (``reidkit track``, ``reidkit index``): its
    registered defaults with ``conf`` at ``config.track_low``, then ``overrides``. ByteTrack's second
    association feeds on the low-score boxes (partly hidden people) that a detector's default threshold
    would drop; new tracks still need ``config.new_track``."""
    from reidkit.detect import detector_options

    return detector_options(name_or_path, **{"conf": config.track_low, **overrides})


def build_tracking_detector(name_or_path: str | Path, config: TrackerConfig, **overrides: Any) -> Detector:
    """A detector built with :func:`tracking_detector_options`."""
    from reidkit.detect import build_detector

    return build_detector(name_or_path, tracking_detector_options(name_or_path, config, **overrides))


def track_detections(per_frame: Iterable[tuple[int, Detections]], tracker: Tracker) -> np.ndarray:
    """Feed ``(frame_index, detections)`` pairs (0-based, increasing) to ``tracker``.

    Returns the reported tracks as ``(N, 10)`` MOTChallenge rows (frames 1-based), in frame order.
    """
    rows = [tracks_to_mot(index, tracker.update(detections, index)) for index, detections in per_frame]
    return np.concatenate(rows) if rows else np.zeros((0, N_COLUMNS))


def media_frames(
    path: str | Path, stride: int = 1, max_frames: int | None = None
) -> tuple[Iterator[Frame], int | None]:
    """Frames of ``path`` at ``stride`` (only source frames ``< max_frames`` when given), and how many
    will come when the container says (for a progress bar)."""
    from reidkit.media import open_media

    source = open_media(path)
    total = int(source.frame_count) or None
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    frames: Iterator[Frame] = iter(source.frames(stride))
    if max_frames is not None:
        frames = itertools.takewhile(lambda f: f.index < max_frames, frames)
    return frames, None if total is None else -(-total // stride)


def track_media(
    path: str | Path,
    detector: Detector,
    config: TrackerConfig | None = None,
    *,
    stride: int = 1,
    max_frames: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Detect and track people through a video (or one image) -> ``(N, 10)`` MOTChallenge rows.

    Every ``stride``-th frame is processed; the tracker's Kalman filter bridges the skipped ones.
    ``config`` None: the detector's own thresholds (:meth:`TrackerConfig.for_detector`).
    """
    from tqdm import tqdm

    frames, total = media_frames(path, stride, max_frames)
    bar = tqdm(frames, total=total, unit="frame", disable=not progress, leave=False)
    try:
        tracker = ByteTracker(config or TrackerConfig.for_detector(detector))
        return track_detections(((f.index, detector.detect(f.image)) for f in bar), tracker)
    finally:
        bar.close()
