"""Grouping a library's visits (or a search's moments) into people: the one rule, used by
:mod:`reidkit.search.people` (who is in the footage), :mod:`reidkit.search.one_person` (which of a
search's moments are the person found) and :mod:`reidkit.adapt.labels` (pseudo-identities).

* Two items are alike by how far their cosine clears the higher of their two *own* verdict thresholds
  (:func:`own_thresholds`: each item asked for as a query against a cohort of others, as a photo is,
  :func:`reidkit.search.verdict.decide`), so the bar follows this footage's impostor scores for each
  of them and never falls below the model's calibration (:func:`verdict_margins`).
* Two items on screen at the same time in one video, or two people in one photo, are two people
  (:func:`on_screen_together`), and so is any merge that would put them in one cluster.
* Clusters merge by average linkage while the mean margin over their cross pairs is >= 0
  (:func:`average_linkage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from reidkit.search.verdict import VerdictRule, decide

if TYPE_CHECKING:
    from reidkit.zoo.calibration import ScoreCalibration


def own_thresholds(
    cohort_scores: Iterable[np.ndarray], calibration: ScoreCalibration, rule: VerdictRule
) -> np.ndarray:
    """(N,): each item's verdict threshold, from its cosines to a cohort of (almost all) other people."""
    return np.array([decide(np.asarray(row), calibration, rule).threshold for row in cohort_scores])


def verdict_margins(similarity: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(N, N): how far each pair's cosine clears the higher of the pair's two own thresholds."""
    return np.asarray(similarity, np.float64) - np.maximum(thresholds[:, None], thresholds[None, :])


def on_screen_together(
    media: Sequence[int],
    is_image: Sequence[bool],
    starts: Sequence[float],
    ends: Sequence[float],
    max_overlap: float,
) -> np.ndarray:
    """(N, N) bool: items of one video overlapping by more than ``max_overlap`` seconds, or of one photo."""
    media_ids = np.asarray(media)
    image = np.asarray(is_image, bool)
    start, end = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
    overlap = np.minimum(end[:, None], end[None, :]) - np.maximum(start[:, None], start[None, :])
    together = (media_ids[:, None] == media_ids[None, :]) & ((overlap > max_overlap) | image[:, None])
    np.fill_diagonal(together, False)
    return together


def average_linkage(similarity: np.ndarray, cannot_link: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster labels (N,) from an (N, N) ``similarity`` by average linkage, stopping below ``threshold``.

    Two clusters merge when the mean similarity over their cross pairs is the highest of all allowed pairs
    and at least ``threshold``; pairs with a ``cannot_link`` member pair never merge. Ties go to the
    lowest indices, so the result is deterministic.
    """
    n = len(similarity)
    sums = np.array(similarity, np.float64)  # sum of similarities between the clusters' members
    sizes = np.ones(n)
    blocked = cannot_link.copy()
    np.fill_diagonal(blocked, True)
    active = np.ones(n, bool)
    labels = np.arange(n)

    def best_partners(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = sums[rows] / (sizes[rows, None] * sizes[None, :])
        mean[blocked[rows] | ~active[None, :]] = -np.inf
        partner = mean.argmax(axis=1)
        return partner, mean[np.arange(len(rows)), partner]

    if n == 0:
        return labels
    partner, best = best_partners(np.arange(n))
    while True:
        candidates = np.where(active, best, -np.inf)
        i = int(candidates.argmax())
        if not candidates[i] >= threshold:
            break
        j = int(partner[i])
        keep, gone = min(i, j), max(i, j)
        sums[keep] += sums[gone]
        sums[:, keep] = sums[keep]
        sizes[keep] += sizes[gone]
        blocked[keep] |= blocked[gone]
        blocked[:, keep] = blocked[keep]
        active[gone] = False
        labels[labels == gone] = keep
        stale = np.flatnonzero(active & ((partner == keep) | (partner == gone)))
        stale = np.union1d(stale, [keep])
        partner[stale], best[stale] = best_partners(stale)
    return labels
