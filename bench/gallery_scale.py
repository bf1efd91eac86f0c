"""Large galleries: Faiss Flat vs IVF (several nprobe) vs HNSW (several efSearch) on unit vectors.

For each gallery size: build time (train + add), single-query latency (what `reidkit search` does)
and recall@10 against the exact (Flat) answer. Indexes are built with the same factory strings and
inner-product metric as the library (`reidkit index --index ...`).

    python bench/gallery_scale.py                                   # 100k and 1M, 512-d, uniform
    python bench/gallery_scale.py --sizes 20000 --threads 1         # a quick run on a busy laptop
    python bench/gallery_scale.py --data clustered                  # ReID-like: people x tracklets

``uniform`` vectors (random directions) have no structure and are the worst case for IVF and HNSW;
``clustered`` ones (``--per-cluster`` noisy copies of random centres, like many tracklets of one
person) are closer to a real library. Memory: ~2 GiB per million 512-d vectors per index kept.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from reidkit.core.vectors import l2_normalise


def make_vectors(n: int, dim: int, kind: str, per_cluster: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return l2_normalise(rng.standard_normal((n, dim), dtype=np.float32))
    centres = l2_normalise(rng.standard_normal((math.ceil(n / per_cluster), dim), dtype=np.float32))
    out = np.repeat(centres, per_cluster, axis=0)[:n]
    out += rng.standard_normal(out.shape, dtype=np.float32) * (0.6 / math.sqrt(dim))  # cosine ~0.85 to centre
    return l2_normalise(out)


def ivf_lists(n: int) -> int:
    """About 4 sqrt(N) lists, a power of two: 1024 at 100k, 4096 at 1M (Faiss's rule of thumb)."""
    return 2 ** round(math.log2(4 * math.sqrt(n)))


def recall_at(found: np.ndarray, exact: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact, strict=True)]))


def query_each(index: object, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Search one query at a time; returns ids (Q, k) and the mean latency in ms."""
    ids = np.empty((len(queries), k), np.int64)
    t0 = time.perf_counter()
    for i, q in enumerate(queries):
        ids[i] = index.search(q[None, :], k)[1][0]  # type: ignore[attr-defined]
    return ids, (time.perf_counter() - t0) / len(queries) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="gallery sizes, comma-separated")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--data", choices=("uniform", "clustered"), default="uniform")
    parser.add_argument("--per-cluster", type=int, default=20, help="vectors per centre (--data clustered)")
    parser.add_argument("--nprobe", default="1,8,32,128")
    parser.add_argument("--ef-search", default="16,64,256")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--no-hnsw", action="store_true", help="skip HNSW (its build is the slow part)")
    parser.add_argument("--threads", type=int, default=0, help="Faiss OpenMP threads (0: Faiss default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    print(
        f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} thread(s), dim {args.dim}, "
        f"{args.data} vectors, {args.queries} single queries, recall@{args.k} vs Flat"
    )
    header = f"{'N':>9s}  {'index':18s} {'search param':>13s} {'build s':>8s} {'ms/query':>9s} {'recall@' + str(args.k):>9s}"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(args.seed)
    for n in (int(s) for s in args.sizes.split(",")):
        gallery = make_vectors(n, args.dim, args.data, args.per_cluster, rng)
        if args.data == "uniform":
            queries = make_vectors(args.queries, args.dim, "uniform", 1, rng)
        else:  # a new sighting of someone in the gallery
            picks = gallery[rng.choice(n, args.queries, replace=False)]
            noise = rng.standard_normal(picks.shape, dtype=np.float32) * (0.6 / math.sqrt(args.dim))
            queries = l2_normalise(picks + noise)

        def row(name: str, param: str, build: float, ms: float, recall: float, n: int = n) -> None:
            build_s = f"{build:8.2f}" if build >= 0 else f"{'':8s}"
            print(f"{n:9d}  {name:18s} {param:>13s} {build_s} {ms:9.3f} {recall:9.3f}", flush=True)

        t0 = time.perf_counter()
        flat = faiss.index_factory(args.dim, "Flat", faiss.METRIC_INNER_PRODUCT)
        flat.add(gallery)
        build = time.perf_counter() - t0
        exact, ms = query_each(flat, queries, args.k)
        row("Flat", "-", build, ms, 1.0)
        del flat

        nlist = ivf_lists(n)
        spec = f"IVF{nlist},Flat"
        t0 = time.perf_counter()
        ivf = faiss.index_factory(args.dim, spec, faiss.METRIC_INNER_PRODUCT)
        train = gallery[rng.choice(n, min(n, 39 * nlist), replace=False)]  # the library's minimum
        ivf.train(train)
        ivf.add(gallery)
        build = time.perf_counter() - t0
        for i, nprobe in enumerate(int(p) for p in args.nprobe.split(",")):
            ivf.nprobe = nprobe
            found, ms = query_each(ivf, queries, args.k)
            row(spec, f"nprobe={nprobe}", build if i == 0 else -1, ms, recall_at(found, exact, args.k))
        del ivf

        if args.no_hnsw:
            continue
        spec = f"HNSW{args.hnsw_m}"
        t0 = time.perf_counter()
        hnsw = faiss.index_factory(args.dim, spec, faiss.METRIC_INNER_PRODUCT)
        hnsw.add(gallery)
        build = time.perf_counter() - t0
        for i, ef in enumerate(int(e) for e in args.ef_search.split(",")):
            hnsw.hnsw.efSearch = ef
            found, ms = query_each(hnsw, queries, args.k)
            row(spec, f"efSearch={ef}", build if i == 0 else -1, ms, recall_at(found, exact, args.k))
        del hnsw


if __name__ == "__main__":
    main()
