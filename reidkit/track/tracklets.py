"""Collect per-frame tracks into :class:`~reidkit.core.types.Tracklet` objects.

::

    builder = TrackletBuilder(min_length=3, max_idle=tracker.config.buffer)
    for frame in media.frames(stride):
        builder.add(frame, tracker.update(detector.detect(frame.image), frame.index))
        for tracklet in builder.pop_finished(frame.index):  # bounded memory on long videos
            handle(tracklet)
    for tracklet in builder.finish():
        handle(tracklet)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reidkit.core.log import get_logger
from reidkit.core.types import Frame, Tracklet, Tracks

log = get_logger(__name__)


@dataclass
class _Open:
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


class TrackletBuilder:
    """Accumulates observations per track id and hands out finished tracklets.

    ``min_length``: tracklets with fewer observations are dropped (spurious tracks, flicker).
    ``max_idle``: :meth:`pop_finished` treats a track unseen for more than this many source frames as
    finished. Keep it at least the tracker's ``buffer``: a lost track can come back with its old id until
    then, and a track popped too early would come back as a second tracklet with the same id.
    """

    def __init__(self, min_length: int = 3, max_idle: int = 30):
        if min_length < 1 or max_idle < 0:
            raise ValueError("TrackletBuilder needs min_length >= 1 and max_idle >= 0")
        self.min_length = min_length
        self.max_idle = max_idle
        self._open: dict[int, _Open] = {}
        self._popped: set[int] = set()
        self._last_frame: int | None = None

    def add(self, frame: Frame, tracks: Tracks) -> None:
        """Record the tracks reported for ``frame``; frames must come in increasing order."""
        if self._last_frame is not None and frame.index <= self._last_frame:
            raise ValueError(f"frame {frame.index} after {self._last_frame}: frames must increase")
        self._last_frame = frame.index
        for box, score, track_id in zip(tracks.boxes, tracks.scores, tracks.track_ids, strict=True):
            tid = int(track_id)
            if tid < 1:
                raise ValueError(f"track ids must be >= 1, got {tid}")
            if tid in self._popped:
                log.warning(
                    "track %d came back after it was popped; raise max_idle to the tracker buffer", tid
                )
                self._popped.discard(tid)
            entry = self._open.setdefault(tid, _Open())
            entry.frames.append(frame.index)
            entry.times.append(frame.time)
            entry.boxes.append(np.asarray(box, dtype=np.float32))
            entry.scores.append(float(score))

    __call__ = add

    def pop_finished(self, frame_index: int) -> list[Tracklet]:
        """Tracklets whose last observation is more than ``max_idle`` frames before ``frame_index``."""
        done = [tid for tid, o in self._open.items() if frame_index - o.frames[-1] > self.max_idle]
        self._popped.update(done)
        return self._close(done)

    def finish(self) -> list[Tracklet]:
        """All remaining tracklets (end of the media file); the builder is empty afterwards."""
        out = self._close(list(self._open))
        self._popped.clear()
        self._last_frame = None
        return out

    @property
    def open_count(self) -> int:
        return len(self._open)

    def _close(self, track_ids: list[int]) -> list[Tracklet]:
        out = []
        for tid in sorted(track_ids, key=lambda t: (self._open[t].frames[0], t)):
            entry = self._open.pop(tid)
            if len(entry.frames) < self.min_length:
                continue
            out.append(
                Tracklet(
                    track_id=tid,
                    frames=np.asarray(entry.frames, dtype=np.int64),
                    times=np.asarray(entry.times, dtype=np.float64),
                    boxes=np.stack(entry.boxes).astype(np.float32),
                    scores=np.asarray(entry.scores, dtype=np.float32),
                )
            )
        return out
