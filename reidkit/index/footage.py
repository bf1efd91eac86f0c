"""What a library's own footage says about its scores, with no labels.

Footage supplies both kinds of pair for free:

* **different people**: two tracklets of one video on screen in the same frames, with boxes that never
  meet, are two people (one person is not in two places at once). Their pooled vectors' cosine is an
  impostor score of this footage: same camera, same light, same time;
* **one person**: the crops of one tracklet are one person (the indexer cuts tracklets whose crops
  stop agreeing, :mod:`reidkit.embed.split`). Their cosines are genuine scores of this footage.

:class:`FootageScores` keeps running statistics of both, updated with every file added (in the same
transaction as the file), so they grow with the library and never need a pass over it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from reidkit.core.vectors import l2_normalise

# Frames two tracklets must share to count as on screen together (one shared frame can be a hand-over).
MIN_SHARED_FRAMES = 3


@dataclass
class ScoreStats:
    """Count, mean, spread and maximum of a stream of cosine scores."""

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    maximum: float = -1.0

    def add(self, scores: Sequence[float] | np.ndarray) -> None:
        values = np.asarray(scores, np.float64).reshape(-1)
        if values.size == 0:
            return
        self.count += int(values.size)
        self.total += float(values.sum())
        self.total_sq += float((values * values).sum())
        self.maximum = max(self.maximum, float(values.max()))

    def merge(self, other: ScoreStats) -> None:
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq
        self.maximum = max(self.maximum, other.maximum)

    def subtract(self, other: ScoreStats) -> None:
        """Take ``other``'s scores out again (its maximum cannot be: see :meth:`FootageScores.set_maxima`)."""
        self.count -= other.count
        self.total -= other.total
        self.total_sq -= other.total_sq
        if self.count <= 0:
            self.count, self.total, self.total_sq, self.maximum = 0, 0.0, 0.0, -1.0

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        if self.count < 2:
            return 0.0
        variance = (self.total_sq - self.count * self.mean**2) / (self.count - 1)
        return math.sqrt(max(variance, 0.0))


@dataclass
class FootageScores:
    negatives: ScoreStats = field(default_factory=ScoreStats)  # two people on screen together
    positives: ScoreStats = field(default_factory=ScoreStats)  # two crops of one tracklet

    def merge(self, other: FootageScores) -> None:
        self.negatives.merge(other.negatives)
        self.positives.merge(other.positives)

    def subtract(self, other: FootageScores) -> None:
        self.negatives.subtract(other.negatives)
        self.positives.subtract(other.positives)

    def set_maxima(self, parts: Sequence[FootageScores]) -> None:
        """Maxima re-read from the per-file scores that make up these (after a :meth:`subtract`)."""
        self.negatives.maximum = max((p.negatives.maximum for p in parts), default=-1.0)
        self.positives.maximum = max((p.positives.maximum for p in parts), default=-1.0)

    def to_json(self) -> str:
        return json.dumps({"negatives": self.negatives.__dict__, "positives": self.positives.__dict__})

    @staticmethod
    def from_json(text: str) -> FootageScores:
        data: dict[str, Any] = json.loads(text)
        return FootageScores(ScoreStats(**data["negatives"]), ScoreStats(**data["positives"]))

    def summary(self) -> dict[str, float | int]:
        return {
            "different_people_pairs": self.negatives.count,
            "different_people_mean": round(self.negatives.mean, 4),
            "different_people_std": round(self.negatives.std, 4),
            "same_person_pairs": self.positives.count,
            "same_person_mean": round(self.positives.mean, 4),
        }


class ObservedTracklet(Protocol):
    """What :func:`media_footage_scores` reads of a tracklet (a new or a stored one)."""

    @property
    def frames(self) -> np.ndarray: ...
    @property
    def boxes(self) -> np.ndarray: ...


def _apart_on_screen(a: ObservedTracklet, b: ObservedTracklet) -> bool:
    """True when ``a`` and ``b`` share at least MIN_SHARED_FRAMES frames and their boxes never meet."""
    from reidkit.detect.boxes import paired_box_iou

    shared, ia, ib = np.intersect1d(
        np.asarray(a.frames), np.asarray(b.frames), assume_unique=True, return_indices=True
    )
    if len(shared) < MIN_SHARED_FRAMES:
        return False
    return bool(np.all(paired_box_iou(np.asarray(a.boxes)[ia], np.asarray(b.boxes)[ib]) == 0.0))


def media_footage_scores(
    tracklets: Sequence[ObservedTracklet], vectors: np.ndarray, crop_vectors: Sequence[np.ndarray]
) -> FootageScores:
    """The pairs of one media file: ``vectors`` (N, D) pooled and unit; ``crop_vectors`` per tracklet."""
    scores = FootageScores()
    vectors = np.asarray(vectors, np.float32)
    # Only tracklets whose frame spans overlap can share frames: the others are never compared (most
    # pairs of a long video), so one file costs its overlapping pairs, not all n^2 of them.
    firsts = np.array([int(np.asarray(t.frames)[0]) if len(t.frames) else 0 for t in tracklets])
    lasts = np.array([int(np.asarray(t.frames)[-1]) if len(t.frames) else -1 for t in tracklets])
    overlapping = np.minimum.outer(lasts, lasts) >= np.maximum.outer(firsts, firsts)
    for i, j in zip(*np.nonzero(np.triu(overlapping, k=1)), strict=True):
        if _apart_on_screen(tracklets[i], tracklets[j]):
            scores.negatives.add([float(vectors[i] @ vectors[j])])
    for crops in crop_vectors:
        crops = np.asarray(crops, np.float32)
        if len(crops) >= 2:
            unit = l2_normalise(crops)
            cosines = unit @ unit.T
            scores.positives.add(cosines[np.triu_indices(len(unit), k=1)])
    return scores
