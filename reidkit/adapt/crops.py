"""The library's own people, as crops re-read from its media files (the training data of ``adapt``).

A library keeps, per tracklet, every tracked frame and box but only the few crop vectors that were
embedded. Adaptation wants more views of each person than that, so :func:`library_crops` decodes each
video once and cuts up to ``per_tracklet`` crops per tracklet, spread over its life, exactly as the
indexer cuts them (:func:`reidkit.embed.crops.cut_crop`, same margin and height). A media file that is
gone or unreadable is skipped with a warning: its tracklets keep their stored crop vectors only.
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


def library_crops(library: Library, per_tracklet: int = 8) -> Iterator[CropBatch]:
    """One :class:`CropBatch` per readable media file of ``library`` (see the module docstring)."""
    from reidkit.media import open_media, read_image

    for media in library.media_list():
        records = library.tracklets(media.id)
        wanted: dict[int, list[tuple[int, np.ndarray]]] = {}
        for record in records:
            boxes = dict(zip(record.frames.tolist(), record.boxes, strict=True))
            for frame in spread_frames(record, per_tracklet, media.width, media.height).tolist():
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
