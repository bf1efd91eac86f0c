"""Which approximate index a large library needs: recall of the re-scored candidates against an exact scan.

    PYTHONPATH=. python bench/library_scale.py --sizes 1000000 --root /tmp/lib1m    # grow one (~30 min)
    PYTHONPATH=. python bench/ann_codes.py /tmp/lib1m --queries bench/out/library_scale/queries.npy \\
        IVF1024,PQ32x4fs IVF4096,PQ32x4fs IVF1024,PQ64x4fs

Reads the library's live vectors once (checked, as ``VectorStore.live_vectors`` does) and, for the
index the library saved (trained when it crossed the exact bound and extended since) and for each
Faiss spec given (trained now on the same vectors, ``64 x nlist`` of them), searches each query the way
the vector store does: ``k x refine`` candidates from the index, re-scored exactly, the top ``k`` kept.
Printed per index, share of lists searched and refine factor: recall@k and recall@20 of those against
an exact scan of every vector, and the median milliseconds per query on one thread (Faiss + re-scoring;
the rest of a search, visits and moments, does not depend on the index). ``k`` is what
``reidkit.search.engine`` asks the store for (200 for a top-20 search).

The queries default to vectors drawn from the library itself with noise (a new view of someone in it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reidkit.core.vectors import l2_normalise  # noqa: E402
from reidkit.index.library import Library  # noqa: E402

LIST_SHARES = (16, 8, 4)  # nlist / nprobe: a 16th, an 8th and a quarter of the lists searched


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return len(set(found.tolist()) & set(exact.tolist())) / max(1, len(exact))


def measure(
    search: Any, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, k: int, refine: int
) -> tuple[float, float, float]:
    """(recall@k, recall@20, median ms) of ``search(q, n) -> rows`` re-scored exactly."""
    at_k, at_20, times = [], [], []
    for query, truth in zip(queries, exact, strict=True):
        t0 = time.perf_counter()
        rows = search(query, k * refine)
        rows = rows[rows >= 0]
        top = rows[np.argsort(-(vectors[rows] @ query), kind="stable")[:k]]
        times.append(time.perf_counter() - t0)
        at_k.append(recall(top, truth))
        at_20.append(recall(top[:20], truth[:20]))
    return float(np.mean(at_k)), float(np.mean(at_20)), float(np.median(times) * 1e3)


def faiss_search(index: Any, to_rows: Any = None) -> Any:
    def search(query: np.ndarray, n: int) -> np.ndarray:
        _, found = index.search(query[None, :], n)
        return found[0] if to_rows is None else to_rows(found[0])

    return search


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("library", type=Path)
    parser.add_argument("specs", nargs="*", help="Faiss index_factory specs to train and compare")
    parser.add_argument(
        "--queries", type=Path, help=".npy of query vectors (default: views of the library's)"
    )
    parser.add_argument("--n-queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--refine", default="10,20")
    args = parser.parse_intermixed_args()
    import faiss

    faiss.omp_set_num_threads(1)
    refines = [int(r) for r in args.refine.split(",")]
    with Library.open(args.library) as lib:
        store = lib._store
        _, vectors = store.live_vectors()
        saved, saved_spec = store.ann, store.ann_state.spec if store.ann_state is not None else None
        # The saved index's ids are positions (shard << 32 | row); live_vectors lists live rows in
        # shard order: each shard's rows map to their place in it (-1: removed).
        live_place: dict[int, np.ndarray] = {}
        offset = 0
        for shard in store.shards:
            live = store._live[shard.number]
            alive = np.ones(shard.rows, bool) if live is None else np.asarray(live, bool)
            live_place[shard.number] = np.where(alive, offset + np.cumsum(alive) - 1, -1)
            offset += int(alive.sum())

    def saved_rows(found: np.ndarray) -> np.ndarray:
        found = found[found >= 0]
        shards, rows = found >> 32, found & 0xFFFFFFFF
        out = np.full(len(found), -1, np.int64)
        for number in np.unique(shards):
            mine = shards == number
            out[mine] = live_place[int(number)][rows[mine]]
        return out

    rng = np.random.default_rng(0)
    if args.queries:
        queries = np.load(args.queries).astype(np.float32)[: args.n_queries]
    else:
        picks = rng.choice(len(vectors), args.n_queries, replace=False)
        noise = rng.standard_normal((args.n_queries, vectors.shape[1])).astype(np.float32)
        queries = l2_normalise(vectors[picks] + 0.5 * noise / np.sqrt(vectors.shape[1]))
    queries = l2_normalise(queries)
    exact = np.argsort(-(vectors @ queries.T), axis=0)[: args.k].T
    print(f"{len(vectors):,} live vectors, {len(queries)} queries, k = {args.k}")
    print(
        f"{'index':32s} {'trained on':>11s} {'nprobe':>7s} {'refine':>6s} {'recall@k':>8s} {'recall@20':>9s} {'ms':>6s}"
    )

    def rows(table: list[tuple[str, str, Any, int]]) -> None:
        for name, trained, index, nlist in table:
            ivf = faiss.extract_index_ivf(index)
            for share in LIST_SHARES:
                ivf.nprobe = max(1, nlist // share)
                for refine in refines:
                    search = table_search[name]
                    r_k, r_20, ms = measure(search, vectors, queries, exact, args.k, refine)
                    print(
                        f"{name:32s} {trained:>11s} {ivf.nprobe:7d} {refine:6d} {r_k:8.3f} {r_20:9.3f} {ms:6.1f}",
                        flush=True,
                    )

    table_search: dict[str, Any] = {}
    if saved is not None and saved_spec is not None:
        name = f"saved {saved_spec}"
        table_search[name] = faiss_search(saved, saved_rows)
        rows([(name, "crossing", saved, faiss.extract_index_ivf(saved).nlist)])
    for spec in args.specs:
        index = faiss.index_factory(vectors.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
        nlist = faiss.extract_index_ivf(index).nlist
        t0 = time.perf_counter()
        train = vectors[np.sort(rng.choice(len(vectors), min(len(vectors), 64 * nlist), replace=False))]
        index.train(train)
        index.add(vectors)
        print(f"{spec}: trained and filled in {time.perf_counter() - t0:.1f} s", flush=True)
        table_search[spec] = faiss_search(index)
        rows([(spec, f"{len(vectors):,}", index, nlist)])


if __name__ == "__main__":
    main()
