"""Speed of the ReID metrics on a Market-sized problem: 20k queries x 20k gallery, random 512-d features.

    PYTHONPATH=. python bench/eval_speed.py [--queries 20000] [--gallery 20000] [--dim 512] [--rerank]

Prints wall and CPU seconds per stage (CPU time is the honest figure on a busy machine) and the peak
resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from reidkit.core.vectors import l2_normalise
from reidkit.evaluate.metrics import CHUNK_ELEMENTS, descending_order, evaluate_features, percent


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--gallery", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--ids", type=int, default=1500)
    parser.add_argument("--rerank", action="store_true", help="also time k-reciprocal re-ranking (slow)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, float, float]] = []

    t, c = time.perf_counter(), time.process_time()
    q = l2_normalise(rng.standard_normal((args.queries, args.dim), dtype=np.float32))
    g = l2_normalise(rng.standard_normal((args.gallery, args.dim), dtype=np.float32))
    qp, gp = rng.integers(0, args.ids, args.queries), rng.integers(-1, args.ids, args.gallery)
    qc, gc = rng.integers(0, 6, args.queries), rng.integers(0, 6, args.gallery)
    rows.append(("make random features", time.perf_counter() - t, time.process_time() - c))

    step = max(1, CHUNK_ELEMENTS // args.gallery)
    t, c = time.perf_counter(), time.process_time()
    for s in range(0, args.queries, step):
        q[s : s + step] @ g.T
    rows.append(("similarity only (chunked matmul)", time.perf_counter() - t, time.process_time() - c))

    t, c = time.perf_counter(), time.process_time()
    for s in range(0, args.queries, step):
        descending_order(q[s : s + step] @ g.T)
    rows.append(("similarity + ranking sort", time.perf_counter() - t, time.process_time() - c))

    t, c = time.perf_counter(), time.process_time()
    m = evaluate_features(q, g, qp, gp, qc, gc)
    rows.append(("evaluate_features (all metrics)", time.perf_counter() - t, time.process_time() - c))

    t, c = time.perf_counter(), time.process_time()
    evaluate_features(q, g, qp, gp, qc, gc, details=True)
    rows.append(("evaluate_features(details=True)", time.perf_counter() - t, time.process_time() - c))

    if args.rerank:
        t, c = time.perf_counter(), time.process_time()
        evaluate_features(q, g, qp, gp, qc, gc, rerank=True)
        rows.append(("evaluate_features(rerank=True)", time.perf_counter() - t, time.process_time() - c))

    print(f"{args.queries} queries x {args.gallery} gallery, {args.dim}-d, {args.ids} ids")
    print(f"{'stage':40s} {'wall s':>8s} {'CPU s':>8s}")
    for name, wall, cpu in rows:
        print(f"{name:40s} {wall:8.2f} {cpu:8.2f}")
    print(f"{'peak resident memory (MB)':40s} {peak_mb():8.0f}")
    print(f"sanity: R1 {percent(m.rank(1))} mAP {percent(m.mAP)} TPR@1e-2 {percent(m.tpr_at_fpr[1e-2])}")


if __name__ == "__main__":
    main()
