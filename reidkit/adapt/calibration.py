"""The adapted model's calibration, measured on the library it was adapted to.

A calibration (:mod:`reidkit.zoo.calibration`) places "likely the same person" at a known false-positive
rate of *impostor* pairs. The library holds no labels, but it holds plenty of impostors: almost every
pair of tracklets from two different videos is two different people. Their scores' bulk (median and 90th
percentile, :func:`reidkit.search.verdict.bulk_stats`, which the few true pairs do not reach) gives the
impostors' location and spread under each model. The base model's thresholds are carried over at the
same place in that distribution, in units of its spread: a threshold 2.5 impostor spreads above the
impostors' centre before adaptation stays 2.5 spreads above it after. The logistic's slope scales by the
ratio of spreads and its bias keeps ``p(threshold)``, so probabilities keep their meaning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reidkit.search.verdict import bulk_stats
from reidkit.zoo.calibration import ScoreCalibration

MAX_PAIRS = 200_000  # impostor pairs sampled from a large library


def cross_video_pairs(cameras: np.ndarray, rng: np.random.Generator, limit: int = MAX_PAIRS) -> np.ndarray:
    """(P, 2) rows of tracklets from two different videos, all of them or ``limit`` drawn at random."""
    n = len(cameras)
    if n * (n - 1) // 2 <= limit:
        i, j = np.triu_indices(n, k=1)
    else:
        i, j = rng.integers(0, n, size=(2, limit))
    keep = cameras[i] != cameras[j]
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64)


def pair_scores(vectors: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]]).astype(np.float64)


def carry_over(base: ScoreCalibration, before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    """The calibration numbers for the adapted vectors (see the module docstring).

    ``before`` and ``after`` are the same impostor pairs' cosines under the base and the adapted model.
    """
    mean0, std0 = bulk_stats(np.asarray(before))
    mean1, std1 = bulk_stats(np.asarray(after))
    ratio = std1 / max(std0, 1e-9)

    def move(score: float) -> float:
        return float(mean1 + (score - mean0) * ratio)

    threshold, link = move(base.threshold), move(base.link_threshold)
    slope = base.slope / max(ratio, 1e-9)
    bias = base.slope * base.threshold + base.bias - slope * threshold
    return {
        "threshold": round(threshold, 4),
        "logit_slope": round(slope, 3),
        "logit_bias": round(bias, 3),
        "link_threshold": round(link, 4),
        "impostor_pairs": len(before),
        "impostors_before": [round(mean0, 4), round(std0, 4)],
        "impostors_after": [round(mean1, 4), round(std1, 4)],
    }


def as_calibration(numbers: dict[str, Any]) -> ScoreCalibration:
    return ScoreCalibration(
        float(numbers["threshold"]),
        float(numbers["logit_slope"]),
        float(numbers["logit_bias"]),
        measured=True,
        link_threshold=float(numbers["link_threshold"]),
    )
