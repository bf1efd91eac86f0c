"""Are reidkit's verdicts right? "likely the same person" scored against the footage's ground truth.

    PYTHONPATH=. python bench/crosscam/verdicts.py --people dev --models person-reidentification-retail-0287
    PYTHONPATH=. python bench/crosscam/verdicts.py --people dev --dump out/dev/verdicts.npz   # for tuning

For every queried person, ``find_person`` returns moments, each with its verdict. Measured:

* **likely-precision**: of the moments marked likely, the share that are the queried person. A moment is
  the person when at least half of its tracked boxes overlap that person's ground-truth box (IoU >= 0.5)
  in the same frame;
* **likely-recall**: of the queried people's walks, the share that a correct likely moment covers (one of
  its boxes is on that walk);
* **absent**: the share of *absent* queries that get any likely moment. Two kinds of absent person:
  ``own videos out`` asks for each queried person with the videos they walk in left out of the results
  (people the footage holds, in videos that do not hold them); ``other people`` asks for people of another
  split who were never composed into this footage (CUHK03 val for the dev footage, train's last 100 for
  the benchmark's: a model trained on CUHK03 train has seen those, so that row is optimistic there).

The library is the one ``run.py`` builds (``<out>/cache/library_<model>``); it is indexed when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.compose import PEOPLE, add_footage_arguments, compose, footage_config  # noqa: E402
from crosscam.run import print_table, register_file  # noqa: E402

ABSENT_PEOPLE = 40  # absent people asked per run (other split, camera-A crops)


@dataclass
class Walk:
    pid: str
    video: str
    boxes: dict[int, np.ndarray]  # frame -> ground-truth box


def load_walks(truth: dict[str, Any]) -> list[Walk]:
    return [
        Walk(
            p["pid"],
            a["video"],
            {int(f): np.asarray(b, np.float32) for f, b in zip(a["frames"], a["boxes"], strict=True)},
        )
        for p in truth["people"]
        for a in p["appearances"]
    ]


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    from reidkit.detect.boxes import box_iou as pairwise_iou

    return float(pairwise_iou(a.reshape(1, 4), b.reshape(1, 4))[0, 0])


def moment_observations(library: Any, moment: Any) -> list[tuple[int, np.ndarray]]:
    """(frame, box) of every tracked observation of the moment's tracklets."""
    out = []
    for tracklet_id in moment.tracklet_ids:
        record = library.tracklet(tracklet_id)
        out.extend((int(f), b) for f, b in zip(record.frames, record.boxes, strict=True))
    return out


def walks_matched(observations: list[tuple[int, np.ndarray]], walks: list[Walk]) -> tuple[float, set[int]]:
    """Share of observations on one of ``walks`` (IoU >= 0.5), and the indices of the walks touched."""
    on, touched = 0, set()
    for frame, box in observations:
        for i, walk in enumerate(walks):
            truth = walk.boxes.get(frame)
            if truth is not None and box_iou(box, truth) >= 0.5:
                on += 1
                touched.add(i)
                break
    return on / max(1, len(observations)), touched


def absent_photos(people: str, shared: Path, n: int, seed: int) -> dict[str, Path]:
    """Camera-A crops of ``n`` people from the split this footage was *not* composed from."""
    other = "val" if people == "dev" else "dev"
    split, last = PEOPLE[other]
    folder = shared / "data" / "cuhk03" / "labeled" / split
    by_pid: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.jpg")):
        pid, cam = path.stem.split("_")
        if int(cam) < 5:
            by_pid.setdefault(pid, []).append(path)
    pids = sorted(by_pid)[-last:] if last else sorted(by_pid)
    chosen = np.random.default_rng(seed).permutation(pids)[:n]
    return {f"{other}:{pid}": by_pid[pid][0] for pid in sorted(chosen)}


@dataclass
class QueryOutcome:
    kind: str  # "present", "own videos out", "other people"
    pid: str
    scores: list[float]
    likely: list[bool]
    correct: list[bool]  # present queries: moment is the person
    walks_found: int = 0
    walks_total: int = 0


@dataclass(frozen=True)
class Judging:
    """How moments are judged: the product's verdict (``score_only``: the threshold alone, without the
    one-person rule), or ``score >= fixed`` (the rule before per-query verdicts), for comparison."""

    fixed: float | None = None
    score_only: bool = False
    false_alarm: float | None = None  # None: the product's VerdictRule default

    @property
    def rule(self) -> Any:
        from reidkit.search.verdict import VerdictRule

        rule = VerdictRule(one_person=not self.score_only)
        return rule if self.false_alarm is None else replace(rule, false_alarm=self.false_alarm)

    def likely(self, library: Any, result: Any, moments: Sequence[Any]) -> list[bool]:
        """``moments`` (the result's, or some of them as if the others were not in the library) judged."""
        if self.fixed is not None:
            return [m.score >= self.fixed for m in moments]
        if moments is result.moments:  # the search judged these itself, with this rule
            return [bool(m.likely) for m in moments]
        from reidkit.search.moments import MomentRule
        from reidkit.search.one_person import judge

        return [
            m.likely for m in judge(library, moments, result.verdict, self.rule, MomentRule().max_overlap)
        ]

    def describe(self, verdict: Any) -> str:
        if self.fixed is not None:
            return f"fixed {self.fixed:.3f}"
        return f"{verdict.threshold:.3f} ({verdict.source}){', score only' if self.score_only else ''}"


def run_queries(
    bench_root: Path,
    truth: dict[str, Any],
    library: Any,
    absent: dict[str, Path],
    top: int,
    judging: Judging = Judging(),
):
    from reidkit.api import find_person

    walks = load_walks(truth)
    outcomes: list[QueryOutcome] = []
    results: dict[str, Any] = {}
    for query in truth["queries"]:
        pid = query["pid"]
        result = find_person(str(bench_root / query["image"]), library, top=top, verdict_rule=judging.rule)
        results[pid] = result
        own = [w for w in walks if w.pid == pid]
        own_videos = {w.video for w in own}
        found: set[int] = set()
        present = QueryOutcome("present", pid, [], [], [], walks_total=len(own))
        for moment, likely in zip(
            result.moments, judging.likely(library, result, result.moments), strict=True
        ):
            share, touched = walks_matched(moment_observations(library, moment), own)
            is_person = share >= 0.5
            present.scores.append(moment.score)
            present.likely.append(likely)
            present.correct.append(is_person)
            if likely and is_person:
                found |= touched
        present.walks_found = len(found)
        outcomes += [present, judged_without("own videos out", pid, library, result, own_videos, judging)]
    outcomes += absent_outcomes(absent, library, top, judging, results)
    return outcomes, results


def judged_without(
    kind: str, pid: str, library: Any, result: Any, videos: set[str], judging: Judging
) -> QueryOutcome:
    """As if the person were not in the library: the moments of ``videos`` left out, the rest judged again."""
    elsewhere = [m for m in result.moments if Path(m.media).name not in videos]
    return QueryOutcome(
        kind,
        pid,
        [m.score for m in elsewhere],
        judging.likely(library, result, elsewhere),
        [False] * len(elsewhere),
    )


def absent_outcomes(
    photos: dict[str, Path],
    library: Any,
    top: int,
    judging: Judging,
    results: dict[str, Any] | None = None,
) -> list[QueryOutcome]:
    """The outcome of asking for each of these people, who are in none of the library's footage."""
    from reidkit.api import find_person

    outcomes = []
    for pid, photo in photos.items():
        result = find_person(str(photo), library, top=top, verdict_rule=judging.rule)
        outcomes.append(
            QueryOutcome(
                "other people",
                pid,
                [m.score for m in result.moments],
                judging.likely(library, result, result.moments),
                [False] * len(result.moments),
            )
        )
        if results is not None:
            results[pid] = result
    return outcomes


def summarise(
    outcomes: Sequence[QueryOutcome], absent_kinds: Sequence[str] = ("own videos out", "other people")
) -> dict[str, Any]:
    present = [o for o in outcomes if o.kind == "present"]
    likely = [c for o in present for c, lk in zip(o.correct, o.likely, strict=True) if lk]
    row: dict[str, Any] = {
        "likely": len(likely),
        "precision": f"{np.mean(likely):.2f}" if likely else "-",
        "recall": f"{sum(o.walks_found for o in present) / max(1, sum(o.walks_total for o in present)):.2f}",
    }
    for kind in absent_kinds:
        asked = [o for o in outcomes if o.kind == kind]
        hit = sum(any(o.likely) for o in asked)
        row[f"absent: {kind}"] = f"{hit}/{len(asked)}" if asked else "-"
    return row


def ensure_library(bench_root: Path, truth: dict[str, Any], model: str, cache: Path) -> Any:
    from reidkit.index.indexer import index_media
    from reidkit.index.library import Library

    root = cache / f"library_{model}"
    if not (root / "library.sqlite").is_file():
        index_media([str(bench_root / v["name"]) for v in truth["videos"]], root, model=model)
    return Library.open(root)


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """--models / --calibrated-like / --top and the footage's options, shared by the verdict benches."""
    parser.add_argument("--models", default="reidkit-retail-0287-cuhk03")
    parser.add_argument("--calibrated-like", default="reidkit-retail-0287-cuhk03")
    add_footage_arguments(parser)
    parser.add_argument("--top", type=int, default=50)


def load_footage(args: argparse.Namespace) -> tuple[Path, dict[str, Any], dict[str, Path]]:
    """The footage named by ``args`` (composed when missing): ground truth file, its contents, absent photos."""
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(args.shared / "models"))
    truth_path = compose(footage_config(args), args.out, args.shared)
    truth = json.loads(truth_path.read_text())
    return truth_path, truth, absent_photos(args.people, args.shared, ABSENT_PEOPLE, args.seed)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_search_arguments(parser)
    parser.add_argument("--dump", type=Path, help="write per-query scores and labels here (.json)")
    parser.add_argument(
        "--fixed", action="store_true", help="judge by the model's calibrated pair threshold (the old rule)"
    )
    parser.add_argument(
        "--score-only", action="store_true", help="the per-query threshold alone, without the one-person rule"
    )
    parser.add_argument(
        "--false-alarm", type=float, help="the verdict's per-query false-alarm rate (default: the product's)"
    )
    args = parser.parse_args(argv)
    truth_path, truth, absent = load_footage(args)
    rows, dump = [], {}
    for model in (register_file(m, args.calibrated_like) for m in args.models.split(",")):
        library = ensure_library(truth_path.parent, truth, model, args.out / "cache")
        from reidkit.zoo.calibration import calibration_for

        judging = Judging(
            calibration_for(model).threshold if args.fixed else None, args.score_only, args.false_alarm
        )
        outcomes, results = run_queries(truth_path.parent, truth, library, absent, args.top, judging)
        rows.append({"model": model, **summarise(outcomes)})
        rows[-1]["threshold"] = judging.describe(next(iter(results.values())).verdict)
        dump[model] = [o.__dict__ for o in outcomes]
    print_table(rows, list(rows[0]))
    if args.dump:
        args.dump.write_text(json.dumps(dump))


if __name__ == "__main__":
    main()
