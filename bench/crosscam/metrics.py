"""Moment retrieval metrics: did search return the right stretches of the right videos, best first?

A returned moment is a hit when it lies in the right video and its frame range overlaps a not-yet-matched
ground-truth interval of the queried person with temporal IoU >= 0.5 (each interval can be found once;
a second moment on the same interval is a false positive, as in detection AP). Per query:

    AP = sum over hits of (precision at that rank) / number of ground-truth intervals
    R1 = 1 when the first moment is a hit

Mean over queries gives mAP and R1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np

from reidkit.evaluate.metrics import percent


@dataclass(frozen=True)
class Moment:
    """A stretch of one video, frames inclusive. ``video`` is compared by file name."""

    video: str
    start_frame: int
    end_frame: int
    score: float = 0.0


@dataclass
class MomentMetrics:
    mAP: float
    rank1: float
    n_queries: int
    per_query: dict[str, float] = field(default_factory=dict)  # query id -> AP

    def as_row(self) -> dict[str, float]:
        return {"mAP": percent(self.mAP), "R1": percent(self.rank1)}


def video_key(video: str) -> str:
    return PurePath(video).name


def temporal_iou(a_start: int, a_end: int, b_start: int, b_end: int) -> float:
    """IoU of two inclusive frame ranges."""
    inter = min(a_end, b_end) - max(a_start, b_start) + 1
    if inter <= 0:
        return 0.0
    union = (a_end - a_start + 1) + (b_end - b_start + 1) - inter
    return inter / union


def match_moments(moments: Sequence[Moment], truth: Sequence[Moment], min_iou: float = 0.5) -> list[bool]:
    """Hit flags for ``moments`` (taken in the given order), greedily matching each to the free
    ground-truth interval it overlaps most."""
    free = list(range(len(truth)))
    hits = []
    for moment in moments:
        key = video_key(moment.video)
        best, best_iou = -1, min_iou
        for i in free:
            gt = truth[i]
            if video_key(gt.video) != key:
                continue
            iou = temporal_iou(moment.start_frame, moment.end_frame, gt.start_frame, gt.end_frame)
            if iou >= best_iou:
                best, best_iou = i, iou
        if best >= 0:
            free.remove(best)
        hits.append(best >= 0)
    return hits


def average_precision(hits: Sequence[bool], n_truth: int) -> float:
    if n_truth == 0:
        return 0.0
    flags = np.asarray(hits, dtype=bool)
    if not flags.any():
        return 0.0
    precision = np.cumsum(flags) / np.arange(1, len(flags) + 1)
    return float(precision[flags].sum() / n_truth)


def moment_ap(moments: Sequence[Moment], truth: Sequence[Moment], min_iou: float = 0.5) -> tuple[float, bool]:
    """(AP, rank-1 hit) of one query's ranked moments against that person's ground-truth intervals."""
    hits = match_moments(moments, truth, min_iou)
    return average_precision(hits, len(truth)), bool(hits and hits[0])


def evaluate_moments(
    results: Mapping[str, Sequence[Moment]],
    truth: Mapping[str, Sequence[Moment]],
    min_iou: float = 0.5,
) -> MomentMetrics:
    """Score every query in ``truth``; a query missing from ``results`` counts as returning nothing."""
    aps: dict[str, float] = {}
    firsts = []
    for query, intervals in truth.items():
        ap, first = moment_ap(results.get(query, ()), intervals, min_iou)
        aps[query] = ap
        firsts.append(first)
    n = len(truth)
    return MomentMetrics(
        mAP=float(np.mean(list(aps.values()))) if n else 0.0,
        rank1=float(np.mean(firsts)) if n else 0.0,
        n_queries=n,
        per_query=aps,
    )


def identity_blind_results(
    everything: Sequence[Moment], queries: Sequence[str], seed: int = 0
) -> dict[str, list[Moment]]:
    """The control: every detected stretch, in a seeded random order that ignores the query.

    A benchmark that measures identity must score this near zero.
    """
    rng = np.random.default_rng(seed)
    return {q: [everything[i] for i in rng.permutation(len(everything))] for q in queries}


def coverage(
    stretches: Sequence[Moment], truth: Mapping[str, Sequence[Moment]], min_iou: float = 0.5
) -> float:
    """Fraction of ground-truth intervals that some stretch matches (temporal IoU >= ``min_iou``).

    The recall ceiling of any ranking over these stretches: what detection, tracking and linking allow.
    """
    by_video: dict[str, list[Moment]] = {}
    for s in stretches:
        by_video.setdefault(video_key(s.video), []).append(s)
    intervals = [gt for gts in truth.values() for gt in gts]
    found = sum(
        any(
            temporal_iou(s.start_frame, s.end_frame, gt.start_frame, gt.end_frame) >= min_iou
            for s in by_video.get(video_key(gt.video), ())
        )
        for gt in intervals
    )
    return found / len(intervals) if intervals else 0.0
