"""A tracklet's crops -> one appearance vector (plus the per-crop vectors, which the library keeps too)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from reidkit.core.types import Crop, Embedder
from reidkit.core.vectors import mean_direction


@dataclass(frozen=True)
class TrackletEmbedding:
    vector: np.ndarray  # (D,) float32, unit: the mean of the crop vectors (core.vectors.mean_direction)
    crop_vectors: np.ndarray  # (k, D) float32, unit rows, best crop first
    crops: list[Crop]  # the crops embedded, best first (crops[0] is the thumbnail)

    @property
    def best(self) -> Crop:
        return self.crops[0]

    @property
    def quality(self) -> float:
        return float(self.crops[0].quality)


def pool_vectors(vectors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean of unit rows, re-normalised. Non-positive or missing weights fall back to a plain mean."""
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(f"expected a non-empty (k, D) array, got shape {vectors.shape}")
    w = np.ones(len(vectors), np.float32) if weights is None else np.asarray(weights, np.float32)
    if w.shape != (len(vectors),) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        w = np.ones(len(vectors), np.float32)
    pooled = (w[:, None] * vectors).sum(axis=0)
    norm = float(np.linalg.norm(pooled))
    if norm < 1e-12:  # opposite vectors cancelled out: the best crop is the safest answer
        pooled, norm = vectors[int(np.argmax(w))], float(np.linalg.norm(vectors[int(np.argmax(w))]))
    return (pooled / max(norm, 1e-12)).astype(np.float32)


def embed_tracklets(embedder: Embedder, groups: Sequence[Sequence[Crop]]) -> list[TrackletEmbedding | None]:
    """Embed the crops of many tracklets in ONE embedder call; None for a tracklet without crops."""
    ordered = [sorted(group, key=lambda c: -c.quality) for group in groups]
    flat = [crop.image for group in ordered for crop in group]
    vectors = embedder.embed(flat) if flat else np.zeros((0, embedder.dim), np.float32)
    out: list[TrackletEmbedding | None] = []
    start = 0
    for group in ordered:
        if not group:
            out.append(None)
            continue
        rows = np.asarray(vectors[start : start + len(group)], np.float32)
        start += len(group)
        out.append(TrackletEmbedding(mean_direction(rows), rows, list(group)))
    return out


def embed_tracklet(embedder: Embedder, crops: Sequence[Crop]) -> TrackletEmbedding:
    """K crops of one tracklet -> pooled vector + per-crop vectors. Raises ValueError without crops."""
    result = embed_tracklets(embedder, [crops])[0]
    if result is None:
        raise ValueError("a tracklet needs at least one crop to be embedded")
    return result


def encode_thumbnail(image: np.ndarray, max_height: int = 160, quality: int = 88) -> bytes:
    """A crop as JPEG bytes, shrunk to ``max_height`` (thumbnails are for people to look at)."""
    if image.shape[0] > max_height:
        width = max(1, round(image.shape[1] * max_height / image.shape[0]))
        image = cv2.resize(image, (width, max_height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a thumbnail of shape {image.shape}")
    return data.tobytes()
