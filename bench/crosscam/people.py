"""Who is in this footage? ``reidkit.search.people`` scored against the footage's ground truth.

    PYTHONPATH=. python bench/crosscam/people.py --out bench/crosscam/out/dev
    PYTHONPATH=. python bench/crosscam/people.py --out bench/crosscam/out/dev --thresholds verdict,link,0.5

Every visit of the library (linked tracklets of one video, an image's tracklet) is labelled with the
ground-truth person who covers most of its tracked boxes (IoU >= 0.5 in the same frame,
``bench/crosscam/verdicts.py``); a visit on nobody (a false detection) is a person of its own. The
clustering is scored by **frame-weighted BCubed** precision, recall and F: for each visit, the share of
its cluster's frames that are its person (precision) and the share of its person's frames that are in
its cluster (recall), averaged with each visit weighted by its number of tracked frames. ``trivial`` is
the answer "every visit is its own person" (precision 1).

``--thresholds`` sets the clusters' merge rule: ``verdict`` (per-visit verdict margins, the default of
``PeopleRule``), ``link`` (the model's calibrated link threshold), ``likely`` (its "likely the same
person" threshold) or a cosine.
``--annotate-out`` also reports the two real shared videos, against their hand-labelled people
(``bench/annotate/shared_videos_truth.json``; libraries as ``bench/annotate/verdicts.py`` builds them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from annotate.verdicts import load_truth  # noqa: E402

from crosscam.run import print_table, register_file  # noqa: E402
from crosscam.verdicts import Walk, load_walks, moment_observations, walks_matched  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
MODELS = "reidkit-retail-0287-cuhk03,person-reidentification-retail-0287,osnet_x0_25_msmt17"


def visit_label(library: Any, moment: Any, walks: Sequence[Walk]) -> str | None:
    """The person whose walks in the moment's video cover most of its boxes (None: nobody's)."""
    video = Path(moment.media).name
    observations = moment_observations(library, moment)
    shares = {
        pid: walks_matched(observations, [w for w in walks if w.pid == pid and w.video == video])[0]
        for pid in sorted({w.pid for w in walks if w.video == video})
    }
    best = max(shares, key=lambda pid: shares[pid], default=None)
    return best if best is not None and shares[best] > 0 else None


def bcubed(clusters: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """Weighted BCubed precision, recall and F of cluster ids ``clusters`` against ``labels``."""
    same_cluster = clusters[:, None] == clusters[None, :]
    same_label = labels[:, None] == labels[None, :]
    correct = (same_cluster & same_label) @ weights
    precision = float(weights @ (correct / (same_cluster @ weights)) / weights.sum())
    recall = float(weights @ (correct / (same_label @ weights)) / weights.sum())
    return precision, recall, 2 * precision * recall / (precision + recall)


def score_library(library: Any, walks: Sequence[Walk], thresholds: Sequence[str]) -> list[dict[str, Any]]:
    from reidkit.search.people import PeopleRule, people
    from reidkit.zoo.calibration import calibration_for

    calibration = calibration_for(library.model)
    named: dict[str, float | None] = {
        "verdict": None,
        "link": calibration.link_threshold,
        "likely": calibration.threshold,
    }
    rows = []
    for i, name in enumerate(thresholds):
        threshold = named[name] if name in named else float(name)
        label = name if threshold is None else f"{name} ({threshold:.3f})"
        found = people(library, PeopleRule(min_similarity=threshold))
        moments = [(person.id, m) for person in found for m in person.moments]
        if i == 0:  # the visits (and their labels) do not depend on the threshold
            keys = [m.tracklet_ids for _, m in moments]
            labels = np.array(
                [visit_label(library, m, walks) or f"nobody:{k}" for k, (_, m) in enumerate(moments)]
            )
            weights = np.array([len(moment_observations(library, m)) for _, m in moments], np.float64)
            rows.append(_row("trivial (each visit alone)", np.arange(len(moments)), labels, weights))
        order = {m.tracklet_ids: person_id for person_id, m in moments}
        clusters = np.array([order[k] for k in keys])
        rows.append(_row(label, clusters, labels, weights))
    people_count = len(set(labels.tolist()))
    for row in rows:
        row["visits"], row["true people"] = len(labels), people_count
    return rows


def _row(method: str, clusters: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    precision, recall, f = bcubed(clusters, labels, weights)
    return {
        "method": method,
        "people": len(set(clusters.tolist())),
        "precision": f"{precision:.3f}",
        "recall": f"{recall:.3f}",
        "F": f"{f:.3f}",
    }


def main(argv: Sequence[str] | None = None) -> None:
    from reidkit.index.library import Library

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "dev", help="dev footage folder")
    parser.add_argument("--models", default=MODELS, help="registry names or .onnx files")
    parser.add_argument("--calibrated-like", default="reidkit-retail-0287-cuhk03")
    parser.add_argument(
        "--thresholds", default="verdict,link", help="comma list: verdict, link, likely or cosines"
    )
    parser.add_argument("--annotate-out", type=Path, help="bench/annotate/out with its libraries")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument(
        "--library",
        type=Path,
        action="append",
        default=[],
        help="also score this library of the dev footage (e.g. a copy bench/adapt/run.py adapted)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(args.shared / "models"))
    os.environ.setdefault("REIDKIT_ADAPTED_DIR", str(args.out / "cache" / "adapted"))  # as bench/adapt's
    thresholds = args.thresholds.split(",")
    truth = json.loads((args.out / "ground_truth.json").read_text())
    sources = [("dev footage", args.out / "cache", load_walks(truth))]
    if args.annotate_out:
        shared_truth = load_truth(REPO / "bench" / "annotate" / "shared_videos_truth.json")
        sources.append(("shared videos", args.annotate_out, [w for ws in shared_truth.values() for w in ws]))
    rows = []
    for footage, folder, walks in sources:
        for model in [register_file(m, args.calibrated_like) for m in args.models.split(",")]:
            root = folder / f"library_{model}"
            if not (root / "library.sqlite").is_file():
                print(f"{root}: no library (bench/crosscam/run.py indexes it)", file=sys.stderr)
                continue
            for row in score_library(Library.open(root), walks, thresholds):
                rows.append({"footage": footage, "model": model, **row})
    for root in args.library:
        library = Library.open(root)
        head = library.verdict_head
        name = library.model if head is None else f"{library.model}, verdicts by {head.model}"
        for row in score_library(library, sources[0][2], thresholds):
            rows.append({"footage": f"dev footage ({root.name})", "model": name, **row})
    if not rows:
        raise SystemExit("no library to score")
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
