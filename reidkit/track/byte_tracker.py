"""A ByteTrack-style multi-object tracker (Zhang et al., "ByteTrack: Multi-Object Tracking by
Associating Every Detection Box", ECCV 2022), written for reidkit.

Per processed frame:

1. every live track is moved forward by a constant-velocity Kalman filter, over as many source frames
   as have passed since the previous call (the indexer may only process every Nth frame);
2. **high-score** detections are matched to all tracked *and lost* tracks by IoU (optionally weighted
   by the detection score);
3. **low-score** detections - typically people who are partly hidden - are matched to the tracks that
   were being followed and are still unmatched, so an occluded person keeps their track instead of
   being dropped;
4. still-unmatched high-score detections are offered to tentative tracks, then start new tentative
   tracks, which are confirmed (and receive an id) after ``min_hits`` consecutive matches - at once on
   the first frame of a media file;
5. tracks missed for more than ``buffer`` source frames are forgotten; until then a lost track is
   re-activated with its old id when a detection matches its prediction.

No appearance features are used: this stage must be cheap on a laptop CPU. Identities across long gaps
are recovered later by the ReID embedding stage.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.core.types import Detections, Tracks
from reidkit.detect.boxes import box_iou
from reidkit.track.kalman import KalmanFilter, xyah_to_xyxy, xyxy_to_xyah
from reidkit.track.matching import expand_boxes, linear_assignment


@dataclass
class TrackerConfig:
    """Thresholds of :class:`ByteTracker`; the defaults suit 10-30 fps pedestrian video."""

    # Detections scoring at least this take part in the first association and may start tracks.
    # A detector's own value comes from its registry entry: see `for_detector`.
    track_high: float = 0.5
    track_low: float = 0.1  # detections below this are ignored entirely
    # An unmatched high-score detection needs this score to start a (tentative) track. ByteTrack uses
    # high + 0.1 with a large detector; a tentative track must still be matched min_hits times in a
    # row before it counts, so a box good enough to follow is good enough to start one (+2-5 points
    # of walk coverage on bench/crosscam/recall.py). Only high-score boxes start tracks: values below
    # track_high act as track_high.
    new_track: float = 0.5
    match_iou: float = 0.2  # first association: minimal IoU (times the score when fuse_score) to pair
    match_iou_low: float = 0.5  # second association (low-score detections): minimal plain IoU
    match_iou_tentative: float = 0.3  # unconfirmed tracks: minimal IoU of the expanded boxes (below)
    tentative_expand: float = 0.5  # widen boxes by this fraction of their size per side to match new tracks
    buffer: int = 30  # source frames a lost track is kept for re-activation (independent of stride)
    min_hits: int = 2  # consecutive matches before a new track is confirmed and reported
    fuse_score: bool = True  # weight IoU by the detection score in the high-score associations
    duplicate_iou: float = 0.85  # a lost track overlapping a tracked one this much is a duplicate
    # Low-score detections may also resume tracks lost at most this many source frames ago. Off by
    # default: on bench/tracking.py's crosscam videos 5 gave +2 IDF1 at stride 1, +0 at stride 2, and
    # more id switches; the knob stays for experiments on other footage.
    low_recent: int = 0

    @classmethod
    def for_detector(cls, detector: object, **overrides: Any) -> TrackerConfig:
        """The defaults with ``track_high`` and ``new_track`` at the level the detector's registry entry
        gives (``ModelSpec.track_high``), then ``overrides``. ``detector``: a registry name, a path or
        a detector object with a ``name``; unknown ones keep the defaults."""
        from reidkit.zoo.registry import MODELS

        name = detector if isinstance(detector, str) else getattr(detector, "name", None)
        if isinstance(detector, Path):
            name = next((s.name for s in MODELS.values() if s.filename == detector.name), None)
        spec = MODELS.find(name) if isinstance(name, str) else None
        values: dict[str, Any] = {}
        if spec is not None and spec.track_high is not None:
            values = {"track_high": spec.track_high, "new_track": spec.track_high}
        return cls(**{**values, **overrides})

    def __post_init__(self) -> None:
        if not 0.0 <= self.track_low <= self.track_high <= 1.0:
            raise ValueError("TrackerConfig needs 0 <= track_low <= track_high <= 1")
        if self.buffer < 0 or self.min_hits < 1:
            raise ValueError("TrackerConfig needs buffer >= 0 and min_hits >= 1")


class TrackState(enum.Enum):
    TENTATIVE = "tentative"  # born recently, not yet reported
    TRACKED = "tracked"  # matched in the latest frame
    LOST = "lost"  # missed, kept for re-activation


class _Track:
    __slots__ = ("box", "cov", "hits", "last_frame", "mean", "score", "start_frame", "state", "track_id")

    def __init__(self, mean: np.ndarray, cov: np.ndarray, score: float, box: np.ndarray, frame: int):
        self.mean = mean
        self.cov = cov
        self.score = score
        self.box = box  # the matched detection's box, kept for reporting
        self.track_id = 0  # assigned on confirmation, so reported ids are 1, 2, 3, ... without gaps
        self.state = TrackState.TENTATIVE
        self.hits = 1
        self.start_frame = frame
        self.last_frame = frame

    @property
    def predicted_box(self) -> np.ndarray:
        return xyah_to_xyxy(self.mean[:4])


class ByteTracker:
    """Links per-frame detections of one media file into tracks (implements ``core.types.Tracker``).

    ::

        tracker = ByteTracker(TrackerConfig(buffer=30))
        for frame in media.frames(stride=2):
            tracks = tracker.update(detector.detect(frame.image), frame.index)
        tracker.reset()  # before the next file

    ``frame_index`` must increase between calls; gaps (frame stride, skipped frames) are fine.
    Reported boxes are the Kalman-filtered boxes after the update with the matched detection.
    """

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self.kalman = KalmanFilter()
        self.reset()

    @property
    def buffer(self) -> int:
        """Source frames a lost track is kept for re-activation (``config.buffer``)."""
        return self.config.buffer

    def reset(self) -> None:
        self._tracks: list[_Track] = []
        self._frame: int | None = None
        self._next_id = 1

    @property
    def frame_index(self) -> int | None:
        """The frame of the latest update, or None before the first one."""
        return self._frame

    def update(self, detections: Detections, frame_index: int) -> Tracks:
        cfg = self.config
        first_frame = self._frame is None
        if self._frame is not None and frame_index <= self._frame:
            raise ValueError(
                f"frame_index must increase (got {frame_index} after {self._frame}); "
                "call reset() before a new media file"
            )
        dt = 1 if self._frame is None else frame_index - self._frame
        self._frame = frame_index
        self._predict(dt)

        boxes = np.asarray(detections.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(detections.scores, dtype=np.float64).reshape(-1)
        usable = (scores >= cfg.track_low) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        high = np.flatnonzero(usable & (scores >= cfg.track_high))
        low = np.flatnonzero(usable & (scores < cfg.track_high))

        confirmed = [t for t in self._tracks if t.state is not TrackState.TENTATIVE]
        tentative = [t for t in self._tracks if t.state is TrackState.TENTATIVE]

        # 1. High-score detections against every confirmed track, lost ones included.
        matches, left_tracks, left_high = self._associate(
            confirmed, boxes[high], scores[high], cfg.match_iou, cfg.fuse_score
        )
        for ti, di in matches:
            self._apply(confirmed[ti], boxes[high[di]], scores[high[di]], frame_index)
        high = high[left_high]

        # 2. Low-score detections against tracks followed until the previous frame (or lost only just).
        followed = [
            confirmed[i]
            for i in left_tracks
            if confirmed[i].state is TrackState.TRACKED
            or frame_index - confirmed[i].last_frame <= cfg.low_recent
        ]
        matches, left_followed, _ = self._associate(
            followed, boxes[low], scores[low], cfg.match_iou_low, fuse=False
        )
        for ti, di in matches:
            self._apply(followed[ti], boxes[low[di]], scores[low[di]], frame_index)
        for i in left_followed:
            followed[i].state = TrackState.LOST

        # 3. Remaining high-score detections against tentative tracks; a tentative miss ends the track.
        # A new track has no velocity yet, so at low frame rates (or strides) a walking person may have
        # moved most of a body width: compare buffered (expanded) boxes, as in C-BIoU (Yang et al. 2023).
        matches, left_tentative, left_high = self._associate(
            tentative,
            boxes[high],
            scores[high],
            cfg.match_iou_tentative,
            fuse=False,
            expand=cfg.tentative_expand,
        )
        for ti, di in matches:
            self._apply(tentative[ti], boxes[high[di]], scores[high[di]], frame_index)
        dead = {id(tentative[i]) for i in left_tentative}
        high = high[left_high]

        # 4. Births.
        for di in high:
            if scores[di] < cfg.new_track:
                continue
            mean, cov = self.kalman.initiate(xyxy_to_xyah(boxes[di]))
            track = _Track(mean, cov, float(scores[di]), boxes[di].astype(np.float32), frame_index)
            self._tracks.append(track)
            if first_frame or cfg.min_hits <= 1:
                self._confirm(track)

        # 5. Forget what is too old or duplicated.
        self._tracks = [
            t
            for t in self._tracks
            if id(t) not in dead
            and not (t.state is TrackState.LOST and frame_index - t.last_frame > cfg.buffer)
        ]
        self._drop_duplicates()
        return self._report(frame_index)

    def _predict(self, dt: int) -> None:
        if not self._tracks:
            return
        means = np.stack([t.mean for t in self._tracks])
        covs = np.stack([t.cov for t in self._tracks])
        lost = np.array([t.state is TrackState.LOST for t in self._tracks])
        # A lost person's size is unknown; do not let a stale height velocity blow the box up or away.
        means[lost, 7] = 0.0
        means, covs = self.kalman.predict(means, covs, dt)
        for track, mean, cov in zip(self._tracks, means, covs, strict=True):
            track.mean, track.cov = mean, cov

    def _associate(
        self,
        tracks: list[_Track],
        boxes: np.ndarray,
        scores: np.ndarray,
        min_iou: float,
        fuse: bool,
        expand: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not tracks or len(boxes) == 0:
            return np.zeros((0, 2), np.int64), np.arange(len(tracks)), np.arange(len(boxes))
        predicted = np.stack([t.predicted_box for t in tracks])
        similarity = box_iou(expand_boxes(predicted, expand), expand_boxes(boxes, expand))
        if fuse:
            similarity = similarity * scores[None, :]
        return linear_assignment(1.0 - similarity, max_cost=1.0 - min_iou)

    def _apply(self, track: _Track, box: np.ndarray, score: float, frame_index: int) -> None:
        track.mean, track.cov = self.kalman.update(track.mean, track.cov, xyxy_to_xyah(box))
        track.score = float(score)
        track.box = box.astype(np.float32)
        if track.state is TrackState.TENTATIVE:
            # Confirmation needs consecutive matches: a miss deletes a tentative track (step 3).
            track.hits += 1
            if track.hits >= self.config.min_hits:
                self._confirm(track)
        else:
            track.hits = track.hits + 1 if track.state is TrackState.TRACKED else 1
            track.state = TrackState.TRACKED
        track.last_frame = frame_index

    def _confirm(self, track: _Track) -> None:
        track.state = TrackState.TRACKED
        track.track_id = self._next_id
        self._next_id += 1

    def _drop_duplicates(self) -> None:
        """A lost track re-created as a new one, or a track drifting onto another's detection: keep the
        one that has existed longer."""
        tracked = [t for t in self._tracks if t.state is TrackState.TRACKED]
        lost = [t for t in self._tracks if t.state is TrackState.LOST]
        if not tracked or not lost:
            return
        overlap = box_iou(
            np.stack([t.predicted_box for t in tracked]), np.stack([t.predicted_box for t in lost])
        )
        drop: set[int] = set()
        for i, j in zip(*np.nonzero(overlap > self.config.duplicate_iou), strict=True):
            a, b = tracked[i], lost[j]
            age_a, age_b = a.last_frame - a.start_frame, b.last_frame - b.start_frame
            drop.add(id(b) if age_a >= age_b else id(a))
        if drop:
            self._tracks = [t for t in self._tracks if id(t) not in drop]

    def _reported_box(self, track: _Track) -> np.ndarray:
        """The box a live track reports: the Kalman filter's (smoother than the detections)."""
        return track.predicted_box

    def _report(self, frame_index: int) -> Tracks:
        live = [t for t in self._tracks if t.state is TrackState.TRACKED and t.last_frame == frame_index]
        if not live:
            return Tracks.empty()
        live.sort(key=lambda t: t.track_id)
        return Tracks(
            boxes=np.stack([self._reported_box(t) for t in live]).astype(np.float32),
            scores=np.array([t.score for t in live], dtype=np.float32),
            track_ids=np.array([t.track_id for t in live], dtype=np.int64),
        )
