"""Measure a ReID model's score calibration on a labelled dataset (``reidkit calibrate``).

The numbers are the *prior* every verdict starts from (:mod:`reidkit.zoo.calibration`); a library then
learns its own footage's scores (:mod:`reidkit.index.footage`, :mod:`reidkit.search.verdict`). Measure
on people the model never saw, never on the data you report: e.g. CUHK03 train's last 100 identities
(``-o holdout=100``) with a model trained on the others.

For every (query, gallery) pair of different cameras, positives share the identity:

* ``threshold``: the cosine at FPR = 1e-2 (a pair is accepted when strictly above it);
* ``link_threshold``: the cosine at FPR = 1e-3, used to join tracklets of one video into a visit
  without the query (``reidkit.index.visits.link``): a wrong link hides a person;
* ``logit_slope`` / ``logit_bias``: a logistic fit of P(same | cosine) with positives and negatives
  weighted equally (a 50/50 prior: the library's size enters at search time, not here).

``reidkit calibrate --write`` stores them in the model's sidecar (``model.json``), so an exported model
carries its own calibration.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

FPR = 1e-2
LINK_FPR = 1e-3


def fit_logistic(scores: np.ndarray, labels: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """(slope, bias) of ``P(1 | s) = 1 / (1 + exp(-(slope * s + bias)))`` with balanced class weights.

    Newton's method on the weighted log-likelihood (two parameters, converges in a handful of steps).
    """
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, np.float64)
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a logistic fit needs both positive and negative pairs")
    weight = np.where(y > 0, 0.5 / n_pos, 0.5 / n_neg)
    x = np.stack([s, np.ones_like(s)], axis=1)
    theta = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -60, 60)))
        gradient = x.T @ (weight * (y - p))
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        theta += step
        if np.abs(step).max() < 1e-8:
            break
    return float(theta[0]), float(theta[1])


def calibration_numbers(
    query: np.ndarray,
    gallery: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_cams: np.ndarray,
    g_cams: np.ndarray,
) -> dict[str, float]:
    """Calibration of L2-normalised features: cross-camera pairs, positives share the identity."""
    from reidkit.evaluate import evaluate_features

    metrics = evaluate_features(query, gallery, q_pids, g_pids, q_cams, g_cams, fprs=(FPR, LINK_FPR))
    scores = query @ gallery.T
    valid = q_cams[:, None] != g_cams[None, :]
    same = q_pids[:, None] == g_pids[None, :]
    slope, bias = fit_logistic(scores[valid], same[valid].astype(np.float64))
    return {
        "threshold": round(float(metrics.threshold_at_fpr[FPR]), 4),
        "logit_slope": round(slope, 3),
        "logit_bias": round(bias, 3),
        "link_threshold": round(float(metrics.threshold_at_fpr[LINK_FPR]), 4),
        # Context, not read by search: how often a true pair passes, and the split's rank-1/mAP.
        "tpr_at_threshold": round(float(metrics.tpr_at_fpr[FPR]), 4),
        "rank1": round(metrics.rank(1), 4),
        "mAP": round(float(metrics.mAP), 4),
        "pairs": int(valid.sum()),
    }


def measure_calibration(
    model: str | Path,
    dataset: str,
    root: str | Path,
    options: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """The calibration of ``model`` on ``dataset`` (its query/gallery protocol), with where it came from."""
    from reidkit.data.base import build_dataset
    from reidkit.embed import build_embedder
    from reidkit.evaluate.features import extract_features

    data = build_dataset(dataset, root, **dict(options or {}))
    embedder = build_embedder(str(model), threads=threads)
    query = extract_features(embedder, [s.path for s in data.query], progress=False)
    gallery = extract_features(embedder, [s.path for s in data.gallery], progress=False)
    numbers = calibration_numbers(query, gallery, *data.labels())
    described = ", ".join(f"{k}={v}" for k, v in sorted((options or {}).items()))
    return {**numbers, "measured_on": f"{dataset}{f' ({described})' if described else ''}"}
