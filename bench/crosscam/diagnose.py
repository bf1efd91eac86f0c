"""Why do moments miss? Per query, classify reidkit's top moments; per walk, what tracking left of it.

    PYTHONPATH=. python bench/crosscam/diagnose.py [--model M] [--top 5]

Uses the library ``run.py`` left in ``<out>/cache/library_<model>`` (indexes one when absent). A
tracklet box belongs to the ground-truth walk whose box in the same frame overlaps it most (IoU >= 0.3);
a moment's person is the one most of its boxes belong to. Top moments are classified as

* ``hit``: counted as a hit by metrics.py (right person and video, temporal IoU >= 0.5 with a free walk);
* ``dup``: right person, IoU >= 0.5 with a walk an earlier moment already took;
* ``short``: right person, within one walk but covers too little of it (a fragment of the walk);
* ``two walks``: right person, spans two walks of that person (linked across an exit and re-entry);
* ``mixed``: right person but linked with tracklets of someone else, so it runs past the walk;
* ``wrong``: another person (or no annotated person: a false detection).

Per walk of a queried person: detected-frame recall, tracklets and visits (linked tracklets) on it, and
the best temporal IoU of a tracklet and of a visit, which says whether coverage is lost to detection,
to tracking breaks that linking does not repair, or to linking that merges too much.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.compose import DEFAULT_SHARED, add_footage_arguments, compose, footage_config  # noqa: E402
from crosscam.metrics import Moment as GtMoment  # noqa: E402
from crosscam.metrics import match_moments, temporal_iou  # noqa: E402
from crosscam.run import load_bench, register_file  # noqa: E402
from reidkit.detect.boxes import box_iou  # noqa: E402

MIN_BOX_IOU = 0.3


class Truth:
    """Ground-truth boxes by (video, frame) -> list of (walk key, box)."""

    def __init__(self, truth_path: Path):
        data = json.loads(truth_path.read_text())
        self.walks: dict[tuple[str, int], dict] = {}  # (pid, i) -> appearance
        self.at: dict[tuple[str, int], list[tuple[tuple[str, int], np.ndarray]]] = {}
        for person in data["people"]:
            for i, app in enumerate(person["appearances"]):
                key = (person["pid"], i)
                self.walks[key] = app
                for f, b in zip(app["frames"], app["boxes"], strict=True):
                    self.at.setdefault((app["video"], int(f)), []).append((key, np.asarray(b, np.float32)))

    def walk_of(self, video: str, frame: int, box: np.ndarray) -> tuple[str, int] | None:
        cands = self.at.get((video, frame), [])
        if not cands:
            return None
        ious = box_iou(box, np.stack([b for _, b in cands]))[0]
        i = int(np.argmax(ious))
        return cands[i][0] if ious[i] >= MIN_BOX_IOU else None

    def tracklet_walks(self, video: str, record) -> Counter:
        return Counter(
            self.walk_of(video, int(f), b) for f, b in zip(record.frames, record.boxes, strict=True)
        )


def classify(moment, hit: bool, pid: str, video: str, records: dict, truth: Truth) -> str:
    walks: Counter = Counter()
    for tid in moment.tracklet_ids:
        walks.update(truth.tracklet_walks(video, records[tid]))
    people = Counter()
    for w, n in walks.items():
        people[None if w is None else w[0]] += n
    owner = people.most_common(1)[0][0]
    if hit:
        return "hit"
    if owner != pid:
        return "wrong"
    own = {w for w in walks if w is not None and w[0] == pid and walks[w] >= 3}
    others = sum(n for w, n in walks.items() if w is not None and w[0] != pid)
    best = max(
        (w for w in truth.walks if w[0] == pid and truth.walks[w]["video"] == video),
        key=lambda w: temporal_iou(
            moment.start_frame, moment.end_frame, truth.walks[w]["start_frame"], truth.walks[w]["end_frame"]
        ),
    )
    gt = truth.walks[best]
    iou = temporal_iou(moment.start_frame, moment.end_frame, gt["start_frame"], gt["end_frame"])
    if iou >= 0.5:
        return "dup"
    if len(own) >= 2:
        return "two walks"
    if others >= 0.2 * sum(walks.values()):
        return "mixed"
    length = moment.end_frame - moment.start_frame + 1
    return "short" if length < gt["end_frame"] - gt["start_frame"] + 1 else "long"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="reidkit-retail-0287-cuhk03", help="a registry name or .onnx file")
    parser.add_argument("--top", type=int, default=5)
    add_footage_arguments(parser)
    args = parser.parse_args()
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(DEFAULT_SHARED / "models"))
    config = footage_config(args)
    args.model = register_file(args.model, "reidkit-retail-0287-cuhk03")

    from reidkit.api import find_person
    from reidkit.index.library import Library
    from reidkit.index.visits import link_records
    from reidkit.zoo.calibration import calibration_for

    truth_path = compose(config, args.out, args.shared)
    bench = load_bench(truth_path)
    truth = Truth(truth_path)
    root = args.out / "cache" / f"library_{args.model}"
    if not root.is_dir():
        from reidkit.index.indexer import index_media

        index_media([str(v) for v in bench.videos], root, model=args.model)
    library = Library.open(root)
    media = {m.id: m for m in library.media_list()}
    records = {t.id: t for t in library.tracklets()}

    # ---- top moments per query
    counts: Counter = Counter()
    per_query = []
    for pid, photo in bench.queries.items():
        found = find_person(str(photo), library, top=50).moments
        ranked = [GtMoment(Path(m.media).name, m.start_frame, m.end_frame) for m in found]
        hits = match_moments(ranked, bench.truth[pid])
        labels = [
            classify(m, h, pid, Path(m.media).name, records, truth)
            for m, h in zip(found[: args.top], hits[: args.top], strict=False)
        ]
        counts.update(labels)
        per_query.append((pid, labels))
    print(f"top-{args.top} moments of {len(per_query)} queries:")
    for pid, labels in per_query:
        print(f"  {pid:>6}  " + "  ".join(f"{x:<9}" for x in labels))
    total = sum(counts.values())
    print("  " + ", ".join(f"{k} {v} ({100 * v / total:.0f} %)" for k, v in counts.most_common()))
    first = Counter(labels[0] for _, labels in per_query if labels)
    print("  rank 1: " + ", ".join(f"{k} {v}" for k, v in first.most_common()))

    # ---- walks of queried people: what tracking and linking made of them
    link = calibration_for(library.model).link_threshold
    visits_by_video: dict[str, list[list]] = {}
    for m in media.values():
        recs = library.tracklets(m.id)
        vectors = dict(zip([r.id for r in recs], library.vectors_of([r.id for r in recs]), strict=True))
        visits_by_video[Path(m.path).name] = link_records(recs, vectors, m, link)
    tracklet_owner = {}
    for v, visits in visits_by_video.items():
        for visit in visits:
            for r in visit:
                c = truth.tracklet_walks(v, r)
                tracklet_owner[r.id] = c.most_common(1)[0][0]
    rows = Counter()
    print("\nwalks of queried people (recall = walk frames spanned by a tracklet on the walk):")
    for key, app in sorted(truth.walks.items()):
        if key[0] not in bench.queries:
            continue
        v, s, e = app["video"], app["start_frame"], app["end_frame"]
        on = [r for visit in visits_by_video[v] for r in visit if tracklet_owner[r.id] == key]
        # Tracklets store a subsample of frames: a walk frame counts when an on-walk tracklet spans it.
        covered = {int(f) for f in app["frames"] if any(r.start_frame <= f <= r.end_frame for r in on)}
        recall = len(covered) / len(app["frames"])
        best_t = max((temporal_iou(r.start_frame, r.end_frame, s, e) for r in on), default=0.0)
        visits = [vs for vs in visits_by_video[v] if any(r in on for r in vs)]
        best_v = max(
            (
                temporal_iou(min(r.start_frame for r in vs), max(r.end_frame for r in vs), s, e)
                for vs in visits
            ),
            default=0.0,
        )
        if best_v >= 0.5:
            status = "covered"
        elif best_t >= 0.5:
            status = "linked too far"
        elif recall < 0.5:
            status = "low recall"
        elif len(visits) > 1 and best_v < 0.5:
            status = "fragmented"
        else:
            status = "merged" if visits else "missed"
        rows[status] += 1
        print(
            f"  {key[0]:>6}#{key[1]} {v} {s:>4}-{e:<4} recall {recall:4.2f} tracklets {len(on):2d} "
            f"visits {len(visits):2d} best tracklet {best_t:4.2f} visit {best_v:4.2f}  {status}"
        )
        if status == "linked too far":
            for vs in visits:
                print(
                    "      visit: "
                    + ", ".join(f"{r.start_frame}-{r.end_frame} {tracklet_owner[r.id]}" for r in vs)
                )
    print("  " + ", ".join(f"{k} {n}" for k, n in rows.most_common()))


if __name__ == "__main__":
    main()
