"""Measure a ReID model's "same person" calibration on people no benchmark uses.

    PYTHONPATH=. python bench/calibrate.py [--models m1,m2|all] [--root ../shared/data/cuhk03] [--holdout 100]

Split: ``build_dataset("cuhk03", root, holdout=100)``, i.e. the LAST 100 identities of CUHK03 ``train/``
(query camera A, gallery camera B). Neither CUHK03 ``val/`` (the published numbers) nor the cross-camera
benchmark (built from ``val/`` people) is touched, so the numbers can be used on both without leaking.

For every (query, gallery) pair of different cameras, positives share the identity. Printed per model:

* ``threshold``: the cosine at FPR = 1e-2 (``reidkit.evaluate.evaluate_features``; a pair is accepted when
  strictly above it), i.e. 1 in 100 different-person pairs passes;
* ``link_threshold``: the cosine at FPR = 1e-3, used to join tracklets of one video into a visit
  without the query (``reidkit.search.moments.link_tracklets``): a wrong link hides a person;
* ``logit_slope`` / ``logit_bias``: a logistic fit of P(same | cosine) with positives and negatives
  weighted equally (a 50/50 prior: the probability answers "which is more likely, same or different?",
  not "how many of the library's people are this one", which depends on the library's size).

The values go into each model's ``ModelSpec.calibration`` in ``reidkit/zoo/registry.py`` (pasted by hand:
the registry is code, reviewed like code); ``--json`` writes them too. Works for any registered ReID model
or an ``.onnx`` path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
FPR = 1e-2


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


def calibrate(model: str, root: Path, holdout: int = 100, threads: int | None = 1) -> dict[str, float]:
    """The calibration numbers of one model on the held-out CUHK03 train identities."""
    from reidkit.data.base import build_dataset
    from reidkit.evaluate import evaluate_features
    from reidkit.evaluate.features import extract_features, load_embedder
    from reidkit.evaluate.metrics import percent

    data = build_dataset("cuhk03", root, holdout=holdout)
    embedder = load_embedder(model, threads=threads)
    query = extract_features(embedder, [s.path for s in data.query], progress=False)
    gallery = extract_features(embedder, [s.path for s in data.gallery], progress=False)
    q_pids = np.array([s.pid for s in data.query])
    g_pids = np.array([s.pid for s in data.gallery])
    q_cams = np.array([s.camid for s in data.query])
    g_cams = np.array([s.camid for s in data.gallery])
    metrics = evaluate_features(query, gallery, q_pids, g_pids, q_cams, g_cams, fprs=(FPR, 1e-3))
    scores = query @ gallery.T
    valid = q_cams[:, None] != g_cams[None, :]
    same = q_pids[:, None] == g_pids[None, :]
    slope, bias = fit_logistic(scores[valid], same[valid].astype(np.float64))
    return {
        "threshold": round(float(metrics.threshold_at_fpr[FPR]), 4),
        "logit_slope": round(slope, 3),
        "logit_bias": round(bias, 3),
        # Context, not read by reidkit.search: how often a true pair passes, and the split's rank-1/mAP.
        "tpr_at_threshold": round(float(metrics.tpr_at_fpr[FPR]), 4),
        "link_threshold": round(float(metrics.threshold_at_fpr[1e-3]), 4),
        "R1": percent(metrics.rank(1)),
        "mAP": percent(metrics.mAP),
    }


def reid_models() -> list[str]:
    from reidkit.zoo.registry import MODELS

    return [spec.name for spec in MODELS.values() if spec.task == "reid"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default="all", help="comma-separated ReID models or .onnx paths; all = registry"
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_SHARED / "data" / "cuhk03")
    parser.add_argument("--holdout", type=int, default=100, help="last N train identities to measure on")
    parser.add_argument("--json", type=Path, help="also write {model: numbers} here")
    args = parser.parse_args(argv)
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(DEFAULT_SHARED / "models"))
    models = reid_models() if args.models == "all" else [m for m in args.models.split(",") if m]
    results = {}
    for model in models:
        numbers = calibrate(model, args.root, args.holdout)
        results[model] = numbers
        print(f"{model}: {json.dumps(numbers)}")
        keys = ("threshold", "logit_slope", "logit_bias", "link_threshold")
        print(f"    calibration={{{', '.join(f'{k!r}: {numbers[k]}' for k in keys)}}},")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
