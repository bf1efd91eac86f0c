"""Query expansion across the two spaces: the photo in the base model's, the library in the adapted one's.

    PYTHONPATH=. python bench/adapt/hybrid.py --people dev --model runs/r0287_dev6.onnx

Adapting the library's model helps the library compare its own people (tracklet ranking and people
clusters improve on dev) but hurts the photo query, from a camera the library never shows
(docs/adapt.md). Query expansion is made of one term of each kind: the photo against each visit,
then the best match (a library visit) against each visit. This measures keeping the first term in
the base model's space and moving only the second to the adapted model's:

    order(visit) = photo . base(visit) + base-best . base(visit)            (the product: ``base``)
    order(visit) = photo . base(visit) + adapted-best . adapted(visit)      (``hybrid``)

with the same candidates, the same visits (the base library's links), the same moment scores and
verdicts (the base model's): only the order changes. ``adapted`` is the adapted library searched as
the product searches it. ``base, via this script`` ranks with the first formula through the same
patched code as ``hybrid``: it must equal ``base``, which shows the patch changes nothing else.
Nothing here is in the package; it decides whether a second vector set is worth storing.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.run import print_table  # noqa: E402
from crosscam.verdicts import ensure_library  # noqa: E402

from adapt.run import add_bench_arguments, prepare, search_metrics  # noqa: E402


@contextmanager
def expansion_in(second: dict[int, np.ndarray] | None) -> Iterator[None]:
    """Search with the expansion term's visit vectors made from ``second`` (tracklet id -> unit vector;
    None: the library's own vectors, through the same code)."""
    from reidkit.core.vectors import l2_normalise
    from reidkit.index.visits import visit_vector
    from reidkit.search import engine

    original = engine.search_vector

    def search_vector(
        library: Any, query: np.ndarray, *, top: int = 20, min_score: Any = None, rule: Any = None
    ) -> Any:
        rule = rule or engine.MomentRule()
        k = min(len(library), max(engine.MIN_HITS, engine.HITS_PER_MOMENT * top))
        query = np.asarray(query, np.float32).reshape(-1)
        ranking = engine._Ranking(library, query, rule)
        ranking.add([i for i, _ in library.nearest(query, k)])
        best = ranking.ranked(limit=rule.expand_query)
        if not best:
            return []

        def vectors_of(visits: list[Any], space: dict[int, np.ndarray] | None) -> np.ndarray:
            """The visits' tracklet vectors (in the product's order) in ``space`` (None: the library's)."""
            ordered = sorted(visits, key=lambda v: min(t.id for t in v.tracklets))
            if space is None:
                return np.concatenate([v.tracklet_vectors for v in ordered])
            return np.stack([space[t.id] for v in ordered for t in v.tracklets])

        base_best = np.mean([visit_vector(vectors_of(ranking.visits(g), None)) for g in best], axis=0)
        expanded = l2_normalise(np.stack([query, base_best]).mean(axis=0))
        ranking.add([i for i, _ in library.nearest(expanded, k)])  # the product's candidates
        other_best = np.mean([visit_vector(vectors_of(ranking.visits(g), second)) for g in best], axis=0)
        # Each head carries [its vector, its vector in the second space]: the order is then
        # photo . base + best . second, one dot product, through the product's own ranking.
        heads = list(ranking.heads.values())
        ranking.visits(heads)
        for head in heads:
            members = ranking.loaded.get(head.id)
            second_vector = head.vector if members is None else visit_vector(vectors_of([members], second))
            ranking.heads[head.id] = dataclasses.replace(
                head, vector=np.concatenate([head.vector, second_vector])
            )
        return ranking.moments(rank_by=np.concatenate([query, other_best]), limit=top, min_score=min_score)

    engine.search_vector = search_vector
    try:
        yield
    finally:
        engine.search_vector = original


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_bench_arguments(parser)
    parser.add_argument(
        "--adapted", type=Path, help="an adapted copy of the library to reuse (default: adapt one)"
    )
    args = parser.parse_args(argv)
    truth_path, truth, bench, cache, model, absent = prepare(args)

    from reidkit.adapt import adapt_library
    from reidkit.index.library import Library

    base = ensure_library(truth_path.parent, truth, model, cache)
    copy = args.adapted
    if copy is None:
        copy = cache / f"adapt_{model}_hybrid"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(cache / f"library_{model}", copy)
        adapt_library(copy, apply="all", progress=lambda m: print(m, file=sys.stderr))
    adapted = Library.open(copy)
    ids, vectors = adapted.tracklet_vectors()
    second = dict(zip(ids.tolist(), vectors, strict=True))
    assert set(second) == set(base.tracklet_vectors()[0].tolist()), "the adapted copy is not of this library"

    rows = [{"ranking": "base (the product)", **search_metrics(bench, truth, base, absent, args.top)}]
    with expansion_in(None):
        rows.append(
            {"ranking": "base, via this script", **search_metrics(bench, truth, base, absent, args.top)}
        )
    rows.append(
        {"ranking": f"adapted ({adapted.model})", **search_metrics(bench, truth, adapted, absent, args.top)}
    )
    with expansion_in(second):
        rows.append(
            {
                "ranking": "hybrid: expansion in the adapted space",
                **search_metrics(bench, truth, base, absent, args.top),
            }
        )
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
