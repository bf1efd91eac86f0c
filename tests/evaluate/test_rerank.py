"""Sparse, chunked k-reciprocal re-ranking against a dense transcription of the paper's algorithm."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reidkit.core.errors import ReidkitError
from reidkit.evaluate.metrics import evaluate_features
from reidkit.evaluate.rerank import KReciprocal, k_reciprocal_rerank


def reference_rerank(q, g, k1, k2, lam):
    """Zhong et al. 2017, dense and one image at a time (squared distances, row-normalised)."""
    x = np.concatenate([q, g]).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    n, nq = len(x), len(q)
    dist = np.maximum(2 - 2 * x @ x.T, 0)
    dist = dist / dist.max(axis=1, keepdims=True)
    rank = np.argsort(dist, axis=1, kind="stable")

    def reciprocal(i, k):
        forward = rank[i, : k + 1]
        return {j for j in forward if i in rank[j, : k + 1]}

    v = np.zeros((n, n))
    for i in range(n):
        r = reciprocal(i, k1)
        expanded = set(r)
        for c in r:
            half = reciprocal(c, int(np.around(k1 / 2)))
            if len(half & r) > 2 / 3 * len(half):
                expanded |= half
        idx = sorted(expanded)
        w = np.exp(-dist[i, idx])
        v[i, idx] = w / w.sum()
    if k2 > 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(n)])
    jaccard = np.zeros((nq, n - nq))
    for i in range(nq):
        for j in range(n - nq):
            a, b = v[i], v[nq + j]
            jaccard[i, j] = 1 - np.minimum(a, b).sum() / np.maximum(a, b).sum()
    return (1 - lam) * jaccard + lam * dist[:nq, nq:]


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(2, 25),
    st.integers(1, 8),
    st.integers(1, 5),
    st.sampled_from([0.0, 0.3, 1.0]),
    st.integers(0, 2**31),
)
def test_matches_dense_reference(n_q, n_g, k1, k2, lam, seed):
    rng = np.random.default_rng(seed)
    q, g = rng.normal(size=(n_q, 6)), rng.normal(size=(n_g, 6))
    want = reference_rerank(q, g, k1, k2, lam)
    got = KReciprocal(q, g, k1, k2, lam, chunk_elements=37).distances()
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_defaults_and_metrics_path():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(20, 32))
    pids = np.repeat(np.arange(20), 6)
    feats = centres[pids] + 0.9 * rng.normal(size=(120, 32))
    q, g = feats[::3], np.delete(feats, np.s_[::3], axis=0)
    qp, gp = pids[::3], np.delete(pids, np.s_[::3])
    np.testing.assert_allclose(k_reciprocal_rerank(q, g), reference_rerank(q, g, 20, 6, 0.3), atol=2e-5)
    cams_q, cams_g = np.zeros(len(q)), np.ones(len(g))
    plain = evaluate_features(q, g, qp, gp, cams_q, cams_g)
    reranked = evaluate_features(q, g, qp, gp, cams_q, cams_g, rerank=True)
    assert reranked.mAP > plain.mAP  # clustered identities: re-ranking helps


def test_refuses_above_limit():
    with pytest.raises(ReidkitError, match="too long"):
        KReciprocal(np.ones((3, 2)), np.ones((3, 2)), max_images=5)
