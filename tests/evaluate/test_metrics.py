"""The chunked, vectorised metrics against a slow, obviously-correct reference, on random small cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reidkit.core.vectors import l2_normalise
from reidkit.evaluate.metrics import (
    ReidMetrics,
    descending_order,
    evaluate_features,
    evaluate_similarity,
)


def reference(sim, qp, gp, qc, gc, max_rank, fprs):
    """Market-1501 rules written out one query and one pair at a time."""
    aps, inps, firsts = [], [], []
    positives, negatives = [], []
    for i in range(len(qp)):
        if qp[i] == -1:
            continue
        kept = [j for j in range(len(gp)) if gp[j] != -1 and not (gp[j] == qp[i] and gc[j] == qc[i])]
        ranked = sorted(kept, key=lambda j: (-float(sim[i][j]), j))
        matches = [r + 1 for r, j in enumerate(ranked) if gp[j] == qp[i]]
        for j in kept:
            (positives if gp[j] == qp[i] else negatives).append(float(sim[i][j]))
        if not matches:
            continue
        aps.append(sum((n + 1) / r for n, r in enumerate(matches)) / len(matches))
        inps.append(len(matches) / matches[-1])
        firsts.append(matches[0])
    cmc = [sum(f <= k for f in firsts) / len(firsts) if firsts else 0.0 for k in range(1, max_rank + 1)]
    negatives.sort(reverse=True)
    tpr, thr = {}, {}
    for f in fprs:
        k = int(f * len(negatives))
        if not positives or k >= len(negatives):
            tpr[f] = thr[f] = math.nan
            continue
        thr[f] = negatives[k]
        tpr[f] = sum(p > thr[f] for p in positives) / len(positives)
    mean = (lambda xs: sum(xs) / len(xs)) if firsts else (lambda xs: math.nan)
    return dict(cmc=cmc, mAP=mean(aps), mINP=mean(inps), n_eval=len(firsts), tpr=tpr, thr=thr)


def check(metrics: ReidMetrics, ref: dict) -> None:
    np.testing.assert_allclose(metrics.cmc, ref["cmc"], atol=1e-12)
    for name in ("mAP", "mINP"):
        got, want = getattr(metrics, name), ref[name]
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-12), name
    assert metrics.n_query - metrics.n_skipped == ref["n_eval"]
    for f in ref["tpr"]:
        for got, want in (
            (metrics.tpr_at_fpr[f], ref["tpr"][f]),
            (metrics.threshold_at_fpr[f], ref["thr"][f]),
        ):
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-7)


@st.composite
def cases(draw):
    n_q = draw(st.integers(1, 7))
    n_g = draw(st.integers(1, 12))
    n_ids = draw(st.integers(1, 4))
    pid = st.integers(-1, n_ids)  # -1 = junk, 0 = distractor identity
    # Scores from a small set of values, so ties are common.
    level = st.integers(-4, 4).map(lambda v: v / 4)
    sim = draw(st.lists(st.lists(level, min_size=n_g, max_size=n_g), min_size=n_q, max_size=n_q))
    qp = draw(st.lists(pid, min_size=n_q, max_size=n_q))
    gp = draw(st.lists(pid, min_size=n_g, max_size=n_g))
    qc = draw(st.lists(st.integers(0, 2), min_size=n_q, max_size=n_q))
    gc = draw(st.lists(st.integers(0, 2), min_size=n_g, max_size=n_g))
    fprs = draw(st.lists(st.sampled_from([0.5, 0.2, 0.1, 0.01, 0.0]), min_size=1, max_size=3, unique=True))
    chunk = draw(st.integers(1, 40))
    return np.array(sim, np.float32), qp, gp, qc, gc, fprs, chunk


@settings(max_examples=300, deadline=None)
@given(cases(), st.integers(1, 6))
def test_matches_reference(case, max_rank):
    sim, qp, gp, qc, gc, fprs, chunk = case
    got = evaluate_similarity(sim, qp, gp, qc, gc, max_rank=max_rank, fprs=fprs, chunk_elements=chunk)
    check(got, reference(sim, qp, gp, qc, gc, max_rank, fprs))


def test_descending_order_breaks_ties_by_index():
    scores = np.array([[0.5, -0.0, 0.5, 0.0, 1.0, -1.0]], np.float32)
    assert descending_order(scores).tolist() == [[4, 0, 2, 1, 3, 5]]


def test_features_match_similarity_path_and_details():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(30, 16)), rng.normal(size=(50, 16))
    qp, gp = rng.integers(0, 8, 30), rng.integers(-1, 8, 50)
    qc, gc = rng.integers(0, 3, 30), rng.integers(0, 3, 50)
    got = evaluate_features(q, g, qp, gp, qc, gc, max_rank=10, details=True, top_k=5, chunk_elements=100)
    ref = reference(l2_normalise(q) @ l2_normalise(g).T, qp, gp, qc, gc, 10, (1e-2, 1e-3))
    np.testing.assert_allclose(got.cmc, ref["cmc"])
    assert got.mAP == pytest.approx(ref["mAP"], abs=1e-6)
    assert got.mINP == pytest.approx(ref["mINP"], abs=1e-6)
    d = got.details
    assert d is not None and d.top_indices.shape == (30, 5)
    assert np.nanmean(d.ap) == pytest.approx(got.mAP)
    # Top-k lists never contain removed images and are sorted by score.
    for i in range(30):
        for j in d.top_indices[i]:
            assert gp[j] != -1 and not (gp[j] == qp[i] and gc[j] == qc[i])
        assert np.all(np.diff(d.top_scores[i]) <= 0)
    assert d.pos_hist.sum() == got.n_positive_pairs and d.neg_hist.sum() == got.n_negative_pairs
    fpr, tpr, _ = d.roc_curve()
    assert fpr[0] == 0 and tpr[-1] == pytest.approx(1.0) and np.all(np.diff(fpr) >= 0)


def test_perfect_and_as_dict_keys():
    feats = np.eye(4, dtype=np.float32)
    m = evaluate_features(feats, feats, [0, 1, 2, 3], [0, 1, 2, 3], [0] * 4, [1] * 4)
    assert m.rank(1) == 1.0 and m.mAP == 1.0 and m.mINP == 1.0 and m.n_skipped == 0
    assert list(m.as_dict()) == [
        "n_query",
        "n_gallery",
        "R1",
        "R5",
        "R10",
        "mAP",
        "mINP",
        "TPR@FPR=1e-2",
        "TPR@FPR=1e-3",
        "threshold@FPR=1e-2",
    ]
    assert m.as_dict()["mAP"] == 100.0


def test_large_negative_buffer_is_exact():
    # Many chunks and a buffer that must be compacted several times.
    rng = np.random.default_rng(1)
    sim = rng.uniform(-1, 1, size=(400, 3000)).astype(np.float32)
    qp, gp = rng.integers(0, 50, 400), rng.integers(0, 50, 3000)
    qc, gc = np.zeros(400, int), np.ones(3000, int)
    m = evaluate_similarity(sim, qp, gp, qc, gc, fprs=(0.5, 1e-2, 1e-4), chunk_elements=30_000)
    neg = np.sort(sim[qp[:, None] != gp[None, :]])[::-1]
    pos = sim[qp[:, None] == gp[None, :]]
    for f in (0.5, 1e-2, 1e-4):
        t = neg[int(f * len(neg))]
        assert m.threshold_at_fpr[f] == t
        assert m.tpr_at_fpr[f] == pytest.approx((pos > t).mean())


def test_r1_and_map_are_printed_with_one_decimal_everywhere() -> None:
    """--json, the summary line and the benches share evaluate.metrics.percent: 1/3 is 33.3."""
    from reidkit.evaluate.metrics import percent

    eye = np.eye(3, dtype=np.float32)
    # Queries 0 and 1 each find the other person first; query 2 finds itself: R1 = 1/3.
    m = evaluate_features(eye, eye, [0, 1, 2], [1, 0, 2], [0, 0, 0], [1, 1, 1])
    assert percent(1 / 3) == 33.3
    assert m.as_dict()["R1"] == 33.3 and "R1 33.3 " in m.summary()


def test_one_identity_says_why_there_is_no_tpr_instead_of_nan() -> None:
    feats = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    m = evaluate_features(feats[:1], feats[1:], [7], [7, 7, 7, 7], [0], [1, 1, 1, 1])
    summary = m.summary()
    assert "nan" not in summary and "at least two identities" in summary
    assert "trivial: one identity" in summary


def test_one_camera_says_there_are_no_matches_instead_of_nan() -> None:
    feats = np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32)
    # Two identities, all seen by one camera: the same-camera matches are removed, nothing is left.
    m = evaluate_features(feats[:2], feats[2:], [1, 2], [1, 1, 2, 2], [0, 0], [0, 0, 0, 0])
    summary = m.summary()
    assert "nan" not in summary and "two cameras" in summary and "ROC/TPR needs same-person pairs" in summary
