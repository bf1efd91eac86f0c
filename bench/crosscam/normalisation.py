"""Which score tells a present person from an absent one? Raw cosine, Z-norm, T-norm and S-norm compared.

    PYTHONPATH=. python bench/crosscam/normalisation.py --people dev --models runs/r0287_dev6.onnx

Every query of ``bench/crosscam/verdicts.py`` (present people, the same people with their own videos
left out, and people of another split) is searched as the product searches; its best-scoring moment
is the one the verdict decides on. Four statistics of that moment's score ``s``:

* ``raw``: the cosine itself (what the model's calibration thresholds);
* ``z_q`` (Z-norm): ``(s - mu_q) / sd_q`` with the query's impostor statistics over the library's
  tracklets, as the verdict computes them (``reidkit.search.verdict.bulk_stats``);
* ``z_t`` (T-norm, gallery side): ``(s - mu_t) / sd_t`` with the best tracklet's own impostor statistics,
  its cosines to the tracklets of every *other* media file (almost all other people), by the same
  ``bulk_stats``; a look-alike that resembles everyone gets a large ``mu_t``;
* ``s-norm``: the mean of the two.

Printed per statistic: the AUC between present queries whose best moment is right and absent queries,
and how many present people are found at the threshold that lets 10 % of the absent queries through
(each statistic at its own threshold, read off these same queries: a comparison, not a setting).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.run import print_table, register_file  # noqa: E402
from crosscam.verdicts import (  # noqa: E402
    add_search_arguments,
    ensure_library,
    load_footage,
    load_walks,
    moment_observations,
    walks_matched,
)

ABSENT_SHARE = 0.10  # the target: at most 10 % of absent people get a "likely"

# (raw, z_q, z_t) of a best moment -> the statistic
STATISTICS: dict[str, Callable[[tuple[float, float, float]], float]] = {
    "raw": lambda v: v[0],
    "z_q (Z-norm)": lambda v: v[1],
    "z_t (T-norm)": lambda v: v[2],
    "s-norm": lambda v: 0.5 * (v[1] + v[2]),
}


def tracklet_impostors(library: Any) -> dict[int, tuple[float, float]]:
    """Each tracklet's impostor mean and spread: its cosines to the tracklets of every other media file."""
    from reidkit.search.verdict import bulk_stats

    ids, vectors = library.tracklet_vectors()
    media_of = {r.id: r.media_id for r in library.tracklets()}  # one read for all tracklets
    media = np.array([media_of[int(i)] for i in ids])
    stats = {}
    for k, tracklet_id in enumerate(ids):
        others = vectors[media != media[k]] @ vectors[k]
        stats[int(tracklet_id)] = bulk_stats(others)
    return stats


def best_moments(
    bench_root: Path, truth: dict[str, Any], library: Any, absent: dict[str, Path], top: int
) -> list[tuple[str, tuple[float, float, float], bool]]:
    """(kind, (raw, z_q, z_t), right person) of every query's best moment."""
    from reidkit.api import find_person

    impostors = tracklet_impostors(library)
    walks = load_walks(truth)

    def judged(result: Any, skip: set[str] = frozenset()) -> tuple[tuple[float, float, float], Any] | None:
        moments = [m for m in result.moments if Path(m.media).name not in skip]
        if not moments:
            return None
        # the moment the verdict decides on: the best-scoring one (query expansion may rank another first)
        best, verdict = max(moments, key=lambda m: m.score), result.verdict
        mu_t, sd_t = impostors[best.best_tracklet]
        z_q = (best.score - verdict.impostor_mean) / verdict.impostor_std
        return (best.score, z_q, (best.score - mu_t) / sd_t), best

    out = []
    for query in truth["queries"]:
        result = find_person(str(bench_root / query["image"]), library, top=top)
        own = [w for w in walks if w.pid == query["pid"]]
        present = judged(result)
        if present is not None:
            share, _ = walks_matched(moment_observations(library, present[1]), own)
            out.append(("present", present[0], share >= 0.5))
        elsewhere = judged(result, {w.video for w in own})
        if elsewhere is not None:
            out.append(("absent", elsewhere[0], False))
    for photo in absent.values():
        judged_absent = judged(find_person(str(photo), library, top=top))
        if judged_absent is not None:
            out.append(("absent", judged_absent[0], False))
    return out


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def compare(moments: list[tuple[str, tuple[float, float, float], bool]], model: str) -> list[dict[str, Any]]:
    present = [(v, right) for kind, v, right in moments if kind == "present"]
    absent = [v for kind, v, _ in moments if kind == "absent"]
    rows = []
    for name, statistic in STATISTICS.items():
        right = [statistic(v) for v, ok in present if ok]
        wrong = [statistic(v) for v, ok in present if not ok]
        negative = [statistic(v) for v in absent]
        threshold = float(np.quantile(negative, 1 - ABSENT_SHARE))
        rows.append(
            {
                "model": model,
                "statistic": name,
                "AUC": f"{auc(right, negative):.3f}",
                f"present found at {ABSENT_SHARE:.0%} absent": f"{sum(s > threshold for s in right)}/{len(present)}",
                "best wrong, declared": f"{sum(s > threshold for s in wrong)}/{len(wrong)}",
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_search_arguments(parser)
    args = parser.parse_args(argv)
    truth_path, truth, absent = load_footage(args)
    rows = []
    for model in (register_file(m, args.calibrated_like) for m in args.models.split(",")):
        library = ensure_library(truth_path.parent, truth, model, args.out / "cache")
        rows += compare(best_moments(truth_path.parent, truth, library, absent, args.top), model)
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
