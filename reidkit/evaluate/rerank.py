"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017), in sparse NumPy/SciPy.

The method, on the pooled set of query and gallery images (N = Q + G):

1. ``d(i, j)``: squared Euclidean distance of unit features (``2 - 2 cos``), divided by the largest
   distance in row ``i``;
2. ``R(i)``: the k1-reciprocal neighbours of ``i`` (``j`` among i's k1+1 nearest and ``i`` among j's),
   expanded by ``R_half(c)`` of each ``c`` in ``R(i)`` whose set overlaps ``R(i)`` by more than 2/3;
3. ``V(i, j) = exp(-d(i, j))`` over that expanded set, normalised to sum 1, then averaged over i's k2
   nearest neighbours (local query expansion);
4. Jaccard distance ``1 - sum(min(V_q, V_g)) / sum(max(V_q, V_g))`` (= ``1 - s / (2 - s)`` with
   ``s = sum(min)``), and the final distance ``(1 - lambda) * jaccard + lambda * d``.

Memory: the reference code holds several dense (Q+G)^2 matrices (for Market-1501, 19k^2 x ~14 bytes,
about 5 GB). Here nothing (Q+G)^2 is ever materialised: neighbour lists, V (about k2 x |R| non-zeros per
row) and the Jaccard sums are sparse, and distances are produced a chunk of query rows at a time, so
memory is about ``(Q+G) * k1^2 * 8`` bytes plus one chunk. Time still grows as ``(Q+G)^2 * D`` (one pass
of all-pairs similarities to find neighbours): 40k images take a few minutes on two cores. Above
``MAX_IMAGES`` it refuses, because the cost is out of proportion; pass ``max_images`` to override.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from reidkit.core.errors import ReidkitError
from reidkit.core.log import get_logger
from reidkit.core.vectors import l2_normalise

log = get_logger(__name__)

MAX_IMAGES = 100_000
WARN_IMAGES = 30_000
CHUNK_ELEMENTS = 4_000_000


class KReciprocal:
    """Prepared re-ranking; ``distance_rows(rows)`` gives the re-ranked (rows, G) query-gallery distances."""

    def __init__(
        self,
        query: np.ndarray,
        gallery: np.ndarray,
        k1: int = 20,
        k2: int = 6,
        lambda_value: float = 0.3,
        *,
        max_images: int = MAX_IMAGES,
        chunk_elements: int = CHUNK_ELEMENTS,
    ):
        x = l2_normalise(np.concatenate([query, gallery]))
        n, self.n_query = len(x), len(query)
        if n > max_images:
            raise ReidkitError(
                f"re-ranking {n} images would take too long (limit {max_images}, time grows as (Q+G)^2)",
                hint="drop --rerank or evaluate a smaller query/gallery split",
            )
        if n > WARN_IMAGES:
            log.warning("re-ranking %d images: expect minutes (time grows as (Q+G)^2)", n)
        self.x, self.lambda_value, self.chunk = x, float(lambda_value), chunk_elements
        k_half = int(np.around(k1 / 2.0))
        n_neighbours = min(n, max(k1, k2) + 1)
        neighbours, self.row_max = self._nearest(n_neighbours)
        recip = _reciprocal(neighbours[:, : k1 + 1])
        recip_half = _reciprocal(neighbours[:, : k_half + 1])
        expanded = _expand(recip, recip_half)
        weights = _weights(expanded, self._distance_pairs)
        k2 = min(k2, n)
        if k2 > 1:
            rows = np.repeat(np.arange(n), k2)
            expansion = sp.csr_matrix(
                (np.full(n * k2, 1.0 / k2, np.float32), (rows, neighbours[:, :k2].ravel())), shape=(n, n)
            )
            weights = (expansion @ weights).tocsr()
        self.v_query = weights[: self.n_query].tocsr()
        self.v_gallery = weights[self.n_query :].tocsc()
        self.v_gallery.sort_indices()

    def _nearest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of each row's k nearest (by distance, ties by index) and each row's largest distance."""
        n = len(self.x)
        neighbours = np.empty((n, k), np.int64)
        row_max = np.empty(n, np.float32)
        step = max(1, self.chunk // n)
        for start in range(0, n, step):
            dist = np.maximum(2.0 - 2.0 * (self.x[start : start + step] @ self.x.T), 0.0)
            row_max[start : start + step] = dist.max(axis=1)
            part = (
                np.argpartition(dist, k - 1, axis=1)[:, :k]
                if k < n
                else np.tile(np.arange(n), (len(dist), 1))
            )
            part_dist = np.take_along_axis(dist, part, axis=1)
            order = np.lexsort((part, part_dist), axis=1)
            neighbours[start : start + step] = np.take_along_axis(part, order, axis=1)
        return neighbours, np.maximum(row_max, 1e-12)

    def _distance_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Normalised distances d(rows[i], cols[i]) for index pairs, in chunks."""
        out = np.empty(len(rows), np.float32)
        step = max(1, self.chunk // max(self.x.shape[1], 1))
        for s in range(0, len(rows), step):
            r, c = rows[s : s + step], cols[s : s + step]
            cos = np.einsum("ij,ij->i", self.x[r], self.x[c])
            out[s : s + step] = np.maximum(2.0 - 2.0 * cos, 0.0) / self.row_max[r]
        return out

    def distance_rows(self, rows: slice) -> np.ndarray:
        q = self.x[: self.n_query][rows]
        gallery = self.x[self.n_query :]
        original = np.maximum(2.0 - 2.0 * (q @ gallery.T), 0.0) / self.row_max[: self.n_query][rows, None]
        overlap = _min_sums(self.v_query[rows], self.v_gallery)
        jaccard = 1.0 - overlap / (2.0 - overlap)
        return ((1.0 - self.lambda_value) * jaccard + self.lambda_value * original).astype(np.float32)

    def distances(self) -> np.ndarray:
        n_gallery = len(self.x) - self.n_query
        out = np.empty((self.n_query, n_gallery), np.float32)
        step = max(1, self.chunk // max(n_gallery, 1))
        for start in range(0, self.n_query, step):
            rows = slice(start, min(start + step, self.n_query))
            out[rows] = self.distance_rows(rows)
        return out


def k_reciprocal_rerank(
    query: np.ndarray, gallery: np.ndarray, k1: int = 20, k2: int = 6, lambda_value: float = 0.3
) -> np.ndarray:
    """Re-ranked (Q, G) distances (lower = more alike) for query and gallery features."""
    return KReciprocal(query, gallery, k1, k2, lambda_value).distances()


def _reciprocal(neighbours: np.ndarray) -> sp.csr_matrix:
    """Boolean sparse matrix with (i, j) set when j is among i's neighbours and i among j's."""
    n, k = neighbours.shape
    own = np.arange(n)[:, None, None]
    mutual = np.zeros((n, k), bool)
    step = max(1, 2_000_000 // (k * k))
    for s in range(0, n, step):
        mutual[s : s + step] = (neighbours[neighbours[s : s + step]] == own[s : s + step]).any(axis=2)
    rows = np.repeat(np.arange(n), k)[mutual.ravel()]
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, neighbours[mutual])), shape=(n, n))


def _expand(recip: sp.csr_matrix, recip_half: sp.csr_matrix) -> sp.csr_matrix:
    """R(i) plus R_half(c) for every c in R(i) with |R_half(c) & R(i)| > 2/3 |R_half(c)|."""
    overlap = (recip @ recip_half.T).multiply(recip).tocsr()  # (i, c): |R(i) & R_half(c)| for c in R(i)
    half_size = np.asarray(recip_half.sum(axis=1)).ravel()
    overlap.data = (overlap.data > (2.0 / 3.0) * half_size[overlap.indices]).astype(np.float32)
    overlap.eliminate_zeros()
    expanded = (recip + overlap @ recip_half).tocsr()
    expanded.data[:] = 1.0
    return expanded


def _weights(
    expanded: sp.csr_matrix, distance_pairs: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> sp.csr_matrix:
    coo = expanded.tocoo()
    w = np.exp(-distance_pairs(coo.row, coo.col)).astype(np.float32)
    sums = np.bincount(coo.row, w, minlength=expanded.shape[0])
    return sp.csr_matrix((w / sums[coo.row], (coo.row, coo.col)), shape=expanded.shape)


def _min_sums(v_query: sp.csr_matrix, v_gallery: sp.csc_matrix) -> np.ndarray:
    """(q, G) matrix of sum_j min(V_q[j], V_g[j]) over shared non-zero columns j."""
    n_rows, n_gallery = v_query.shape[0], v_gallery.shape[0]
    coo = v_query.tocoo()
    starts, ends = v_gallery.indptr[coo.col], v_gallery.indptr[coo.col + 1]
    counts = ends - starts
    total = int(counts.sum())
    entry = np.repeat(np.arange(len(counts)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    position = starts[entry] + offsets
    values = np.minimum(coo.data[entry], v_gallery.data[position])
    target = coo.row[entry].astype(np.int64) * n_gallery + v_gallery.indices[position]
    return np.bincount(target, values, minlength=n_rows * n_gallery).reshape(n_rows, n_gallery)
