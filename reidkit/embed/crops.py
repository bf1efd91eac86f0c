"""Choosing which person crops of a track get embedded, during a single pass over a video.

Frames cannot be kept, so :class:`CropSampler` cuts crops as the frames go by. For every track it keeps
a bounded number of candidates: the track's frames are split into time bins and each bin holds its
single best crop. When a track outlives its bins, the bin width doubles and neighbouring bins merge
(keeping the better crop), so memory stays bounded however long the track is while the candidates stay
spread over its whole life. A crop is only cut when it would win its bin, so most boxes cost a few
arithmetic operations, not a resize.

At the end, :meth:`CropSampler.select` returns up to ``k`` crops, spread in time and biased to quality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from reidkit.core.types import Crop, Frame, Tracks
from reidkit.detect.boxes import box_iou


@dataclass(frozen=True)
class CropQualityConfig:
    """How a box's suitability for ReID is scored (a product of factors in [0, 1])."""

    full_height: float = 128.0  # boxes this tall or taller get the full size factor
    min_height: float = 24.0  # shorter boxes are not worth embedding at all
    min_width: float = 8.0
    border_px: float = 2.0  # a box within this many pixels of the frame edge is taken as cut off
    border_factor: float = 0.35  # quality multiplier for a box cut by the frame border
    aspect_range: tuple[float, float] = (0.2, 0.8)  # sane width/height of a standing or walking person
    aspect_factor: float = 0.4  # quality multiplier outside that range (a partial or merged box)


def box_quality(
    box: np.ndarray, score: float, frame_width: int, frame_height: int, cfg: CropQualityConfig
) -> float:
    """A box's crop quality in [0, 1], or 0.0 for a box that must not be embedded (tiny, degenerate)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2, score)):
        return 0.0
    # Quality is judged on the visible part: trackers may predict boxes that leave the frame.
    vx1, vy1 = max(x1, 0.0), max(y1, 0.0)
    vx2, vy2 = min(x2, float(frame_width)), min(y2, float(frame_height))
    width, height = vx2 - vx1, vy2 - vy1
    if width < cfg.min_width or height < cfg.min_height:
        return 0.0
    quality = min(1.0, height / cfg.full_height) * min(1.0, max(0.0, score))
    b = cfg.border_px
    if x1 <= b or y1 <= b or x2 >= frame_width - b or y2 >= frame_height - b:
        quality *= cfg.border_factor
    low, high = cfg.aspect_range
    if not low <= width / height <= high:
        quality *= cfg.aspect_factor
    return quality


def cut_crop(image: np.ndarray, box: np.ndarray, margin: float = 0.05, max_height: int = 256) -> np.ndarray:
    """Cut ``box`` (+ ``margin`` of its size on every side) out of ``image``, shrunk to ``max_height``.

    The result is a copy, so the frame can be released. Returns an empty (0x0x3) array when the box
    has no pixels inside the image.
    """
    frame_h, frame_w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    pad_x, pad_y = margin * (x2 - x1), margin * (y2 - y1)
    ix1, iy1 = max(0, math.floor(x1 - pad_x)), max(0, math.floor(y1 - pad_y))
    ix2, iy2 = min(frame_w, math.ceil(x2 + pad_x)), min(frame_h, math.ceil(y2 + pad_y))
    if ix2 <= ix1 or iy2 <= iy1:
        return np.zeros((0, 0, 3), np.uint8)
    crop = image[iy1:iy2, ix1:ix2]
    if crop.shape[0] > max_height:
        new_w = max(1, round(crop.shape[1] * max_height / crop.shape[0]))
        return cv2.resize(crop, (new_w, max_height), interpolation=cv2.INTER_AREA)
    return crop.copy()


@dataclass(frozen=True)
class CropSamplerConfig:
    k: int = 8  # crops embedded per long tracklet
    observations_per_crop: int = 8  # shorter tracklets get one crop per this many observations ...
    min_k: int = 2  # ... but at least this many (ReID cost follows track length, not box count)
    # A tracklet that met someone (its box overlapping another tracked person's) may count those
    # observations at one crop per `crowded_observations_per_crop` instead, up to `crowded_extra` crops
    # more. Meetings are where a tracker swaps identities: the cut in embed/split.py and linking in
    # search/ need views on both sides of one. On bench/crosscam (up to 3 people at once, crossing) one
    # more crop took walk coverage from 88 to 92 % and moment mAP from 73.9 to 77.5, for 12 % more
    # ReID calls. Up to two more gave the same there, but people-detection.264 then needed 1/19 of
    # the naive calls, above the 1/20 target of bench/index_speed.py.
    crowded_observations_per_crop: int = 4
    crowded_extra: int = 1
    bins: int = 16  # candidates kept per track (one per time bin); >= k
    initial_bin_frames: int = 1  # bin width at the start of a track, in frames; doubles as needed
    margin: float = 0.05  # context around the box, as a fraction of its size
    max_height: int = 256  # crops are stored at most this tall (the ReID input height)
    keep_ratio: float = 0.5  # at selection, candidates below this fraction of the best quality are dropped
    quality: CropQualityConfig = field(default_factory=CropQualityConfig)


class _TrackCandidates:
    """The best crop of each time bin of one track."""

    __slots__ = ("bin_frames", "by_bin", "crowded", "first_frame", "last_seen", "seen")

    def __init__(self, first_frame: int, bin_frames: int):
        self.first_frame = first_frame
        self.last_seen = first_frame
        self.seen = 0
        self.crowded = 0  # observations with another tracked person's box overlapping this one
        self.bin_frames = bin_frames
        self.by_bin: dict[int, Crop] = {}

    def bin_of(self, frame: int) -> int:
        return (frame - self.first_frame) // self.bin_frames

    def coarsen(self) -> None:
        self.bin_frames *= 2
        merged: dict[int, Crop] = {}
        for crop in self.by_bin.values():
            key = self.bin_of(crop.frame)
            if key not in merged or crop.quality > merged[key].quality:
                merged[key] = crop
        self.by_bin = merged


class CropSampler:
    """Keeps a bounded, time-spread set of good crops per track id while frames stream by::

    sampler = CropSampler()
    for frame in frames:
        tracks = tracker.update(detector.detect(frame.image), frame.index)
        sampler.observe(frame, tracks)
    crops = sampler.select(track_id)     # up to k Crops, best first; the track is forgotten
    """

    def __init__(self, config: CropSamplerConfig | None = None):
        self.config = config or CropSamplerConfig()
        if self.config.bins < self.config.k:
            raise ValueError(f"bins ({self.config.bins}) must be >= k ({self.config.k})")
        self._tracks: dict[int, _TrackCandidates] = {}
        self.crops_cut = 0  # how many crops were actually cut and resized (for the benchmark)

    def __len__(self) -> int:
        return len(self._tracks)

    def observe(self, frame: Frame, tracks: Tracks) -> None:
        cfg = self.config
        frame_h, frame_w = frame.image.shape[:2]
        crowded = overlapping(np.asarray(tracks.boxes, np.float32).reshape(-1, 4))
        for i, (box, score, track_id) in enumerate(
            zip(tracks.boxes, tracks.scores, tracks.track_ids, strict=True)
        ):
            tid = int(track_id)
            candidates = self._tracks.get(tid)
            if candidates is None:
                candidates = self._tracks[tid] = _TrackCandidates(frame.index, cfg.initial_bin_frames)
            candidates.last_seen = frame.index
            candidates.seen += 1
            candidates.crowded += int(crowded[i])
            quality = box_quality(box, float(score), frame_w, frame_h, cfg.quality)
            if quality <= 0.0:
                continue
            key = candidates.bin_of(frame.index)
            while key >= cfg.bins:
                candidates.coarsen()
                key = candidates.bin_of(frame.index)
            current = candidates.by_bin.get(key)
            if current is not None and current.quality >= quality:
                continue
            image = cut_crop(frame.image, box, cfg.margin, cfg.max_height)
            if image.size == 0:
                continue
            self.crops_cut += 1
            candidates.by_bin[key] = Crop(
                image=image,
                frame=frame.index,
                time=frame.time,
                box=np.asarray(box[:4], np.float32).copy(),
                score=float(score),
                quality=quality,
            )

    def candidates(self, track_id: int) -> list[Crop]:
        """The crops currently kept for a track, in time order (for inspection and tests)."""
        held = self._tracks.get(int(track_id))
        return [] if held is None else sorted(held.by_bin.values(), key=lambda c: c.frame)

    def select(self, track_id: int, k: int | None = None) -> list[Crop]:
        """Up to ``k`` crops for a track, best first, and forget the track. Empty if it had no usable box.

        Without ``k``: :meth:`budget` - ``config.k`` for a long track, fewer (one per
        ``observations_per_crop``, at least ``min_k``) for a short one, a few more for a track that met
        other people.
        """
        held = self._tracks.pop(int(track_id), None)
        if held is None:
            return []
        if k is None:
            k = self.budget(held.seen, held.crowded)
        return select_spread(list(held.by_bin.values()), k, self.config.keep_ratio)

    def budget(self, seen: int, crowded: int) -> int:
        """How many crops a track of ``seen`` observations, ``crowded`` of them overlapping another
        tracked person's box, gets (see :class:`CropSamplerConfig`); never fewer than with no meeting."""
        cfg = self.config
        usual = min(cfg.k, max(cfg.min_k, -(-seen // cfg.observations_per_crop)))
        apart = -(-(seen - crowded) // cfg.observations_per_crop)
        met = min(cfg.crowded_extra, -(-crowded // cfg.crowded_observations_per_crop))
        return min(cfg.bins, max(usual, min(cfg.k, apart) + met))

    def discard(self, track_id: int) -> None:
        self._tracks.pop(int(track_id), None)

    def drop_idle(self, frame_index: int, max_idle: int) -> list[int]:
        """Forget tracks not seen for more than ``max_idle`` frames (ended without being selected)."""
        idle = [t for t, c in self._tracks.items() if frame_index - c.last_seen > max_idle]
        for tid in idle:
            del self._tracks[tid]
        return idle

    def track_ids(self) -> list[int]:
        return sorted(self._tracks)


def overlapping(boxes: np.ndarray) -> np.ndarray:
    """For each box (N, 4), whether another box overlaps it."""
    met = np.asarray(box_iou(boxes, boxes) > 0)
    np.fill_diagonal(met, False)
    return np.asarray(met.any(axis=1))


def select_spread(crops: list[Crop], k: int, keep_ratio: float = 0.5) -> list[Crop]:
    """Pick ``k`` crops spread over time: the best of each of ``k`` equal time slices, then the best rest.

    Candidates far worse than the best one (below ``keep_ratio`` of its quality: cut by the border,
    tiny, low score) are dropped first, unless that would leave fewer than one. Returned best first.
    """
    if not crops:
        return []
    best = max(c.quality for c in crops)
    pool = [c for c in crops if c.quality >= keep_ratio * best]
    if len(pool) <= k:
        return sorted(pool, key=lambda c: -c.quality)
    first, last = min(c.frame for c in pool), max(c.frame for c in pool)
    span = max(1, last - first + 1)
    slices: dict[int, Crop] = {}
    for crop in pool:
        key = min(k - 1, (crop.frame - first) * k // span)
        if key not in slices or crop.quality > slices[key].quality:
            slices[key] = crop
    chosen = list(slices.values())
    chosen_ids = {id(c) for c in chosen}
    rest = sorted((c for c in pool if id(c) not in chosen_ids), key=lambda c: -c.quality)
    chosen.extend(rest[: k - len(chosen)])
    return sorted(chosen, key=lambda c: -c.quality)
