"""Retrieval metrics for person ReID: CMC, mAP, mINP, and verification rates at fixed false-positive rates.

The ranking rules are those of the Market-1501 evaluation code (Zheng et al. 2015), applied per query:

* gallery images of the **same identity seen by the same camera** are removed (finding them is trivial);
* gallery images with identity **-1** ("junk": bad boxes, body parts) are removed;
* identity 0 and other identities are ordinary negatives (Market's "distractors");
* a query with no match left in its gallery is **skipped** (it counts in ``n_skipped``, not in the means);
  so is a query whose own identity is -1.

Ranking is by descending cosine similarity; equal scores are ordered by gallery position, so results never
depend on the sort algorithm. mINP is the mean of ``#matches / rank of the hardest match`` (Ye et al. 2021).

Pair statistics treat every (query, remaining gallery image) pair of the evaluated queries as a
verification trial: positives share the identity, negatives do not. For a target false-positive rate ``f``
the operating threshold ``t`` is the ``floor(f * N_neg) + 1``-th largest negative score; a pair is accepted
when its score is **strictly above** ``t``, so the false-positive rate achieved is at most ``f``, and
``TPR@f`` is the fraction of positives above ``t``. Both are exact, not read off a histogram.

Everything runs over chunks of query rows (``chunk_elements`` scores at a time, ~40 bytes of work memory
each), so 20k x 20k fits in a few hundred MB.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from reidkit.core.vectors import l2_normalise

DEFAULT_FPRS: tuple[float, ...] = (1e-2, 1e-3)
HIST_BINS = 4000  # similarity histograms over [-1, 1] for plots (ROC curve, score distributions)
CHUNK_ELEMENTS = 4_000_000


@dataclass
class EvalDetails:
    """Per-query results and score histograms, kept for reports (``evaluate_features(..., details=True)``)."""

    ap: np.ndarray  # (Q,) average precision per query; NaN for skipped queries
    first_match_rank: np.ndarray  # (Q,) 1-based rank of the first match after removals; 0 if none
    top_indices: np.ndarray  # (Q, k) gallery indices of the top-k kept gallery images, -1 padded
    top_scores: np.ndarray  # (Q, k) their scores
    match_indices: np.ndarray  # (Q, m) gallery indices of the first m true matches (best first), -1 padded
    match_ranks: np.ndarray  # (Q, m) their 1-based ranks after removals
    match_scores: np.ndarray  # (Q, m) their scores
    hist_edges: np.ndarray  # (B+1,) score bin edges
    pos_hist: np.ndarray  # (B,) int64 counts of positive pair scores
    neg_hist: np.ndarray  # (B,) int64 counts of negative pair scores
    score_name: str = "cosine similarity"

    def roc_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fpr, tpr, thresholds) at histogram bin edges, from high threshold to low (for plotting)."""
        pos = np.concatenate([np.cumsum(self.pos_hist[::-1])[::-1], [0]])
        neg = np.concatenate([np.cumsum(self.neg_hist[::-1])[::-1], [0]])
        fpr = neg / max(int(self.neg_hist.sum()), 1)
        tpr = pos / max(int(self.pos_hist.sum()), 1)
        return fpr[::-1], tpr[::-1], self.hist_edges[::-1]


# What makes a same-person pair under the Market-1501 rules above, for the messages that find none.
TWO_CAMERAS = "an identity must be in both query and gallery, seen by two cameras: a match by the same camera is not counted"


@dataclass
class ReidMetrics:
    """Results of one evaluation. Rates are fractions in [0, 1]; ``as_dict`` gives percent."""

    cmc: np.ndarray  # (max_rank,) fraction of evaluated queries with a match within the top k
    mAP: float
    mINP: float
    tpr_at_fpr: dict[float, float]
    threshold_at_fpr: dict[float, float]
    n_query: int
    n_gallery: int
    n_skipped: int = 0  # queries without any valid match (or with identity -1): not in the means
    n_positive_pairs: int = 0
    n_negative_pairs: int = 0
    details: EvalDetails | None = field(default=None, repr=False)

    def rank(self, k: int) -> float:
        return float(self.cmc[min(k, len(self.cmc)) - 1]) if len(self.cmc) else float("nan")

    def as_dict(self) -> dict[str, float | int]:
        """The ``reidkit eval --json`` numbers (percent; thresholds are scores, not percent)."""
        out: dict[str, float | int] = {
            "n_query": self.n_query,
            "n_gallery": self.n_gallery,
            "R1": percent(self.rank(1)),
            "R5": percent(self.rank(5)),
            "R10": percent(self.rank(10)),
            "mAP": percent(self.mAP),
            "mINP": percent(self.mINP),
        }
        for fpr in sorted(self.tpr_at_fpr, reverse=True):
            out[f"TPR@FPR={_fpr_name(fpr)}"] = percent(self.tpr_at_fpr[fpr])
        for fpr in sorted(self.threshold_at_fpr, reverse=True):
            if fpr == 1e-2:
                out[f"threshold@FPR={_fpr_name(fpr)}"] = round(float(self.threshold_at_fpr[fpr]), 4)
        return out

    def summary(self) -> str:
        d = self.as_dict()
        lines = [
            f"queries {self.n_query} (skipped {self.n_skipped} without a match), gallery {self.n_gallery}"
        ]
        if self.n_skipped < self.n_query:
            ranks = f"R1 {d['R1']:.1f}  R5 {d['R5']:.1f}  R10 {d['R10']:.1f}  mAP {d['mAP']:.1f}  mINP {d['mINP']:.1f}"
            if self.n_negative_pairs == 0:  # every gallery image is a match: 100 says nothing
                ranks += "  (trivial: one identity, no one else to confuse it with)"
            lines.append(ranks)
        else:  # every mean would be nan
            lines.append(f"R1, mAP: not measured: no query has a match in the gallery ({TWO_CAMERAS})")
        for fpr in sorted(self.tpr_at_fpr, reverse=True):
            if np.isfinite(self.tpr_at_fpr[fpr]):
                lines.append(
                    f"at FPR {_fpr_name(fpr)}: TPR {percent(self.tpr_at_fpr[fpr]):.1f}%, "
                    f"same person when score > {self.threshold_at_fpr[fpr]:.4f}"
                )
            else:
                lines.append(f"at FPR {_fpr_name(fpr)}: TPR not measured: {self._no_roc_reason(fpr)}")
        return "\n".join(lines)

    def _no_roc_reason(self, fpr: float) -> str:
        """Why the TPR at ``fpr`` could not be measured, in words (instead of printing nan)."""
        if self.n_negative_pairs == 0:
            return "ROC/TPR needs at least two identities (there are no different-person pairs)"
        if self.n_positive_pairs == 0:
            return f"ROC/TPR needs same-person pairs ({TWO_CAMERAS})"
        return (
            f"an FPR of {_fpr_name(fpr)} needs at least {math.ceil(1 / fpr)} different-person pairs, "
            f"there are {self.n_negative_pairs}"
        )


def percent(x: float) -> float:
    """A rate in [0, 1] as the percent every report prints (R1, mAP, TPR): one decimal."""
    return round(100.0 * float(x), 1) if np.isfinite(x) else float("nan")


def _fpr_name(fpr: float) -> str:
    return f"{fpr:.0e}".replace("e-0", "e-")


def evaluate_features(
    query_feats: np.ndarray,
    gallery_feats: np.ndarray,
    q_pids: Sequence[int] | np.ndarray,
    g_pids: Sequence[int] | np.ndarray,
    q_camids: Sequence[int] | np.ndarray,
    g_camids: Sequence[int] | np.ndarray,
    *,
    rerank: bool = False,
    max_rank: int = 50,
    fprs: Sequence[float] = DEFAULT_FPRS,
    details: bool = False,
    top_k: int = 10,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> ReidMetrics:
    """Evaluate query features against gallery features by cosine similarity (rows are L2-normalised here).

    With ``rerank=True`` the scores are ``1 - d`` for the k-reciprocal re-ranked distance ``d``
    (:class:`reidkit.evaluate.rerank.KReciprocal`, k1=20, k2=6, lambda=0.3), so thresholds are on that scale.
    """
    q = l2_normalise(query_feats)
    g = l2_normalise(gallery_feats)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"feature shapes do not match: query {q.shape}, gallery {g.shape}")
    if rerank:
        from reidkit.evaluate.rerank import KReciprocal

        reranker = KReciprocal(q, g)

        def score_rows(rows: slice) -> np.ndarray:
            return 1.0 - reranker.distance_rows(rows)

        score_name = "1 - re-ranked distance"
    else:

        def score_rows(rows: slice) -> np.ndarray:
            return q[rows] @ g.T

        score_name = "cosine similarity"
    return evaluate_scores(
        score_rows,
        q_pids,
        g_pids,
        q_camids,
        g_camids,
        n_gallery=len(g),
        max_rank=max_rank,
        fprs=fprs,
        details=details,
        top_k=top_k,
        chunk_elements=chunk_elements,
        score_name=score_name,
    )


def evaluate_similarity(
    similarity: np.ndarray,
    q_pids: Sequence[int] | np.ndarray,
    g_pids: Sequence[int] | np.ndarray,
    q_camids: Sequence[int] | np.ndarray,
    g_camids: Sequence[int] | np.ndarray,
    **options: object,
) -> ReidMetrics:
    """Evaluate a precomputed (Q, G) score matrix (higher = more alike)."""
    sim = np.asarray(similarity, np.float32)
    return evaluate_scores(
        lambda rows: sim[rows],
        q_pids,
        g_pids,
        q_camids,
        g_camids,
        n_gallery=sim.shape[1],
        **options,  # type: ignore[arg-type]
    )


def evaluate_scores(
    score_rows: Callable[[slice], np.ndarray],
    q_pids: Sequence[int] | np.ndarray,
    g_pids: Sequence[int] | np.ndarray,
    q_camids: Sequence[int] | np.ndarray,
    g_camids: Sequence[int] | np.ndarray,
    *,
    n_gallery: int,
    max_rank: int = 50,
    fprs: Sequence[float] = DEFAULT_FPRS,
    details: bool = False,
    top_k: int = 10,
    chunk_elements: int = CHUNK_ELEMENTS,
    score_name: str = "cosine similarity",
) -> ReidMetrics:
    """The chunked core: ``score_rows(slice)`` returns the (rows, G) float32 scores of those queries."""
    qp, qc = np.asarray(q_pids, np.int64), np.asarray(q_camids, np.int64)
    gp, gc = np.asarray(g_pids, np.int64), np.asarray(g_camids, np.int64)
    n_query = len(qp)
    if len(qc) != n_query or len(gp) != n_gallery or len(gc) != n_gallery:
        raise ValueError("label arrays do not match the number of query / gallery features")
    acc = _Accumulator(qp, gp, fprs, details, top_k, max_rank)
    rows_per_chunk = max(1, chunk_elements // max(n_gallery, 1))
    for start in range(0, n_query, rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, n_query))
        scores = np.asarray(score_rows(rows), np.float32)
        acc.add(rows, scores, qp[rows], qc[rows], gp, gc)
    return acc.result(n_gallery, score_name)


def descending_order(scores: np.ndarray) -> np.ndarray:
    """Row-wise gallery order by descending score, ties by gallery index (a total order, sort-agnostic).

    Scores are packed with their column index into unique uint64 keys, which NumPy sorts with its
    vectorised quicksort much faster than a stable argsort.
    """
    # Map float32 bits to unsigned integers that sort in *descending* score order (IEEE-754 trick:
    # flip the magnitude bits of non-negative numbers, keep negative ones), then append the column index.
    bits = (scores + np.float32(0.0)).view(np.int32)  # +0.0 maps -0.0 to 0.0
    flip = bits >> 31
    np.invert(flip, out=flip)
    flip &= np.int32(0x7FFFFFFF)
    flip ^= bits
    keys = flip.view(np.uint32).astype(np.uint64) << np.uint64(32)
    keys |= np.arange(scores.shape[1], dtype=np.uint64)[None, :]
    keys.sort(axis=1)
    low_words = keys.view(np.uint32)[:, 0::2] if np.little_endian else keys.view(np.uint32)[:, 1::2]
    return low_words.astype(np.intp)


class _Accumulator:
    def __init__(
        self,
        q_pids: np.ndarray,
        g_pids: np.ndarray,
        fprs: Sequence[float],
        details: bool,
        top_k: int,
        max_rank: int,
    ):
        n_query = len(q_pids)
        self.max_rank = max_rank
        self.fprs = tuple(float(f) for f in fprs)
        self.ap = np.full(n_query, np.nan)
        self.inp = np.full(n_query, np.nan)
        self.first_rank = np.zeros(n_query, np.int64)
        self.details = details
        self.top_k = top_k
        if details:
            self.top_indices = np.full((n_query, top_k), -1, np.int64)
            self.top_scores = np.full((n_query, top_k), np.nan, np.float32)
            self.match_indices = np.full((n_query, top_k), -1, np.int64)
            self.match_ranks = np.zeros((n_query, top_k), np.int64)
            self.match_scores = np.full((n_query, top_k), np.nan, np.float32)
        self.edges = np.linspace(-1.0, 1.0, HIST_BINS + 1)
        self.pos_hist = np.zeros(HIST_BINS, np.int64)
        self.neg_hist = np.zeros(HIST_BINS, np.int64)
        # The number of negative pairs is known from the labels alone, so the buffer of top negative scores
        # needed for the exact thresholds can be bounded up front.
        labelled = g_pids[g_pids != -1]
        ids, counts = np.unique(labelled, return_counts=True)
        same = np.zeros(len(q_pids), np.int64)
        if len(ids):
            where = np.minimum(np.searchsorted(ids, q_pids), len(ids) - 1)
            same = np.where(ids[where] == q_pids, counts[where], 0)
        neg_per_query = np.where(q_pids != -1, len(labelled) - same, 0)
        self.n_neg_expected = int(neg_per_query.sum())
        self.keep = min(
            self.n_neg_expected, max((int(f * self.n_neg_expected) + 1 for f in self.fprs), default=0)
        )
        self.neg_parts: list[np.ndarray] = []
        self.neg_buffered = 0
        self.bound = -np.inf  # every negative <= bound is certainly below every final threshold
        self.pos_parts: list[np.ndarray] = []
        self.n_pos = 0
        self.n_neg = 0

    def add(
        self,
        rows: slice,
        scores: np.ndarray,
        qp: np.ndarray,
        qc: np.ndarray,
        gp: np.ndarray,
        gc: np.ndarray,
    ) -> None:
        same_pid = qp[:, None] == gp[None, :]
        removed = (same_pid & (qc[:, None] == gc[None, :])) | (gp == -1)[None, :]
        removed |= (qp == -1)[:, None]
        positive = same_pid & ~removed
        negative = ~same_pid & ~removed
        self._add_pairs(scores, positive, negative)

        order = descending_order(scores)
        pos_sorted = np.take_along_axis(positive, order, axis=1)
        kept_sorted = ~np.take_along_axis(removed, order, axis=1)
        kept_rank = np.cumsum(kept_sorted, axis=1, dtype=np.int32)  # 1-based rank among kept images
        n_pos = pos_sorted.sum(axis=1)
        has_match = n_pos > 0

        r, c = np.nonzero(pos_sorted)  # row-major, so each row's matches come in rank order
        hits = np.cumsum(pos_sorted, axis=1, dtype=np.int32)[r, c]
        ranks = kept_rank[r, c]
        ap_sum = np.bincount(r, hits / ranks, minlength=len(qp))
        first = np.zeros(len(qp), np.int64)
        last = np.zeros(len(qp), np.int64)
        starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if len(r) else np.zeros(0, np.intp)
        ends = np.r_[starts[1:], len(r)] - 1 if len(r) else starts
        first[r[starts]] = ranks[starts]
        last[r[ends]] = ranks[ends]

        idx = np.arange(rows.start, rows.stop)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.ap[idx] = np.where(has_match, ap_sum / n_pos, np.nan)
            self.inp[idx] = np.where(has_match, n_pos / np.maximum(last, 1), np.nan)
        self.first_rank[idx] = first

        if self.details:
            in_top = kept_sorted & (kept_rank <= self.top_k)
            tr, tc = np.nonzero(in_top)
            slot = kept_rank[tr, tc] - 1
            self.top_indices[idx[tr], slot] = order[tr, tc]
            self.top_scores[idx[tr], slot] = scores[tr, order[tr, tc]]
            first_m = hits <= self.top_k
            mr, mc, slot = r[first_m], c[first_m], hits[first_m] - 1
            self.match_indices[idx[mr], slot] = order[mr, mc]
            self.match_ranks[idx[mr], slot] = ranks[first_m]
            self.match_scores[idx[mr], slot] = scores[mr, order[mr, mc]]

    def _add_pairs(self, scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> None:
        pos = scores[positive]
        n_neg = int(np.count_nonzero(negative))
        self.n_pos += len(pos)
        self.n_neg += n_neg
        # Negatives are nearly all pairs: histogram everything once and subtract the (few) others.
        bins = len(self.pos_hist)
        everything = np.bincount(_bin_of(scores, bins).ravel(), minlength=bins)
        pos_hist = np.bincount(_bin_of(pos, bins), minlength=bins)
        others = np.bincount(_bin_of(scores[~(positive | negative)], bins), minlength=bins)
        self.pos_hist += pos_hist
        self.neg_hist += everything - pos_hist - others
        if self.keep == 0:
            return
        neg = scores[negative & (scores > self.bound)]
        self.neg_parts.append(neg)
        self.neg_buffered += len(neg)
        if self.neg_buffered > 2 * self.keep + 1_000_000:
            self._compact()
        self.pos_parts.append(pos[pos > self.bound])

    def _compact(self) -> None:
        buffered = np.concatenate(self.neg_parts)
        if len(buffered) > self.keep:
            buffered = np.partition(buffered, len(buffered) - self.keep)[-self.keep :]
            self.bound = float(buffered.min())
        self.neg_parts, self.neg_buffered = [buffered], len(buffered)

    def result(self, n_gallery: int, score_name: str) -> ReidMetrics:
        evaluated = ~np.isnan(self.ap)
        n_eval = int(evaluated.sum())
        cmc = np.zeros(self.max_rank)
        if n_eval:
            first = self.first_rank[evaluated]
            counts = np.bincount(np.minimum(first, self.max_rank + 1) - 1, minlength=self.max_rank + 1)
            cmc = np.cumsum(counts[: self.max_rank]) / n_eval
        tpr: dict[float, float] = {}
        thresholds: dict[float, float] = {}
        top_neg = np.sort(np.concatenate(self.neg_parts))[::-1] if self.neg_parts else np.zeros(0)
        pos_kept = np.concatenate(self.pos_parts) if self.pos_parts else np.zeros(0)
        for fpr in self.fprs:
            k = int(fpr * self.n_neg)
            if self.n_neg == 0 or self.n_pos == 0 or k >= self.n_neg:
                tpr[fpr], thresholds[fpr] = float("nan"), float("nan")
                continue
            t = float(top_neg[k])
            thresholds[fpr] = t
            tpr[fpr] = float((pos_kept > t).sum()) / self.n_pos
        extra = None
        if self.details:
            extra = EvalDetails(
                ap=self.ap,
                first_match_rank=self.first_rank,
                top_indices=self.top_indices,
                top_scores=self.top_scores,
                match_indices=self.match_indices,
                match_ranks=self.match_ranks,
                match_scores=self.match_scores,
                hist_edges=self.edges,
                pos_hist=self.pos_hist,
                neg_hist=self.neg_hist,
                score_name=score_name,
            )
        return ReidMetrics(
            cmc=cmc,
            mAP=float(np.mean(self.ap[evaluated])) if n_eval else float("nan"),
            mINP=float(np.mean(self.inp[evaluated])) if n_eval else float("nan"),
            tpr_at_fpr=tpr,
            threshold_at_fpr=thresholds,
            n_query=len(self.ap),
            n_gallery=n_gallery,
            n_skipped=len(self.ap) - n_eval,
            n_positive_pairs=self.n_pos,
            n_negative_pairs=self.n_neg,
            details=extra,
        )


def _bin_of(values: np.ndarray, bins: int) -> np.ndarray:
    index = (values + np.float32(1.0)) * np.float32(bins / 2.0)
    return np.clip(index, 0, bins - 1, out=index).astype(np.int32)
