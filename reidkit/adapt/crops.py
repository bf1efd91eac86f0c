"""The library's own people, as crops re-read from its media files (the training data of ``adapt``).

A library keeps, per tracklet, every tracked frame and box but only the few crop vectors that were
embedded. Adaptation wants more views of each person than that, so :func:`library_crops` decodes each
video once and cuts up to ``per_tracklet`` crops per tracklet, spread over its life, exactly as the
indexer cuts them (:func:`reidkit.embed.crops.cut_crop`, same margin and height). A media file that is
gone or unreadable is skipped with a warning: its tracklets keep their stored crop vectors only.

Re-reading and embedding the crops is most of what adaptation costs, so a ``budget`` caps the crops in
all (:func:`crop_counts`): a library too large for ``per_tracklet`` each reads fewer per tracklet, and
past one each, one for some of its tracklets only. The cost of that stage then stops growing with the
library, and every tracklet still trains on its stored crop vectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reidkit.core.errors import MediaError
from reidkit.core.log import get_logger
from reidkit.embed.crops import CropQualityConfig, CropSamplerConfig, box_quality, cut_crop

if TYPE_CHECKING:
    from reidkit.index.library import Library, MediaRecord, TrackletRecord

log = get_logger(__name__)


@dataclass(frozen=True)
class CropBatch:
    """Crops of one media file: ``images[i]`` is a view of tracklet ``tracklet_ids[i]`` at ``frames[i]``."""

    media_id: int
    tracklet_ids: np.ndarray  # (N,) int64
    frames: np.ndarray  # (N,) int64
    images: list[np.ndarray]  # BGR uint8


def spread_frames(record: TrackletRecord, per_tracklet: int, width: int, height: int) -> np.ndarray:
    """Up to ``per_tracklet`` of the tracklet's frames, evenly spread in time among its usable boxes.

    Boxes the indexer would not embed (too small, degenerate) are left out; cut-off boxes are kept
    only when nothing better exists (the indexer's quality rule, with the detector score unknown).
    """
    quality_cfg = CropQualityConfig()
    quality = np.array(
        [box_quality(box, 1.0, width or 1 << 16, height or 1 << 16, quality_cfg) for box in record.boxes]
    )
    usable = np.flatnonzero(quality > 0)
    if len(usable) == 0:
        return np.zeros(0, np.int64)
    good = usable[quality[usable] >= CropSamplerConfig().keep_ratio * quality[usable].max()]
    if len(good) > per_tracklet:
        good = good[np.unique(np.linspace(0, len(good) - 1, per_tracklet).round().astype(int))]
    return np.asarray(record.frames[good], np.int64)


def crop_counts(tracklets: int, per_tracklet: int, budget: int | None) -> np.ndarray:
    """(tracklets,) int: how many crops each tracklet re-reads, at most ``per_tracklet`` and ``budget``
    in all (None: no cap), shared out as evenly as the budget allows (the extra ones evenly spaced)."""
    if budget is None or tracklets * per_tracklet <= budget:
        return np.full(tracklets, per_tracklet, np.int64)
    base = budget // tracklets
    counts = np.full(tracklets, base, np.int64)
    extra = budget - base * tracklets
    if extra:
        counts[np.linspace(0, tracklets - 1, extra).round().astype(np.int64)] += 1
    return counts


def library_crops(library: Library, per_tracklet: int = 8, budget: int | None = None) -> Iterator[CropBatch]:
    """One :class:`CropBatch` per readable media file of ``library`` with crops to re-read: up to
    ``per_tracklet`` for each tracklet and ``budget`` in all (see the module docstring)."""
    from reidkit.media import open_media, read_image

    media_list = library.media_list()
    per_media = [library.tracklets(media.id) for media in media_list]
    counts = iter(crop_counts(sum(map(len, per_media)), per_tracklet, budget).tolist())
    for media, records in zip(media_list, per_media, strict=True):
        wanted: dict[int, list[tuple[int, np.ndarray]]] = {}
        for record in records:
            count = next(counts)
            if count == 0:
                continue
            boxes = dict(zip(record.frames.tolist(), record.boxes, strict=True))
            for frame in spread_frames(record, count, media.width, media.height).tolist():
                wanted.setdefault(int(frame), []).append((record.id, boxes[frame]))
        if not wanted:
            continue
        ids: list[int] = []
        frames: list[int] = []
        images: list[np.ndarray] = []
        try:
            if media.kind == "image":
                pictures: Iterator[tuple[int, np.ndarray]] = iter([(0, read_image(Path(media.path)))])
            else:
                pictures = ((f.index, f.image) for f in open_media(Path(media.path)).frames(1))
            last = max(wanted)
            for index, image in pictures:
                for tracklet_id, box in wanted.get(index, ()):
                    crop = cut_crop(image, box, CropSamplerConfig().margin, CropSamplerConfig().max_height)
                    if crop.size:
                        ids.append(tracklet_id)
                        frames.append(index)
                        images.append(crop)
                if index >= last:
                    break
        except (MediaError, OSError, ValueError, RuntimeError) as exc:
            log.warning(
                "%s: cannot be re-read for adaptation (%s); its stored crops are used", media.path, exc
            )
            continue
        if images:
            yield CropBatch(media.id, np.array(ids, np.int64), np.array(frames, np.int64), images)


def media_by_id(library: Library) -> dict[int, MediaRecord]:
    return {m.id: m for m in library.media_list()}


def photometric_views(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A view of ``crop`` as another camera might give it: colour gains, contrast, blur or sharpening,
    a slightly different cut. Training on these teaches the head what a camera change must not change."""
    import cv2

    h, w = crop.shape[:2]
    dx, dy = int(rng.integers(0, max(1, w // 10))), int(rng.integers(0, max(1, h // 20)))
    view = crop[
        dy : h - int(rng.integers(0, max(1, h // 20))), dx : w - int(rng.integers(0, max(1, w // 10)))
    ]
    image = view.astype(np.float32)
    gains = rng.uniform(0.7, 1.3) * rng.uniform(0.85, 1.15, size=3)
    mean = image.mean(axis=(0, 1), keepdims=True)
    image = (image - mean) * rng.uniform(0.7, 1.3) + mean
    image = image * gains[None, None, :]
    sigma = rng.uniform(-1.0, 1.5)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    elif sigma < -0.3:
        image = cv2.addWeighted(image, 1.6, cv2.GaussianBlur(image, (0, 0), 1.0), -0.6, 0)
    return np.clip(image, 0, 255).astype(np.uint8)
