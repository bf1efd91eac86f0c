"""Verdicts on the real shared videos, scored against their hand-labelled people (``shared_videos_truth.json``).

    PYTHONPATH=. python bench/annotate/verdicts.py [--models reidkit-retail-0287-cuhk03]

The two videos are indexed into one library (``out/library_<model>``, kept), then every labelled person is
asked for with a crop of their own ``query`` frame, as a user would cut one from the footage:

* **present**: the moments of that query, each scored as in ``bench/crosscam/verdicts.py`` (a moment is
  the person when at least half of its tracked boxes are on that person's labelled box, IoU >= 0.5);
* **absent, other video**: the same query, with the moments of the video the person is in left out:
  everyone in the other video is somebody else;
* **absent, other people**: camera-A crops of 40 CUHK03 val people, who are in neither video.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.run import print_table, register_file  # noqa: E402
from crosscam.verdicts import (  # noqa: E402
    ABSENT_PEOPLE,
    Judging,
    QueryOutcome,
    Walk,
    absent_outcomes,
    absent_photos,
    judged_without,
    moment_observations,
    summarise,
    walks_matched,
)

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))


def load_truth(path: Path) -> dict[str, list[Walk]]:
    """Video name -> one Walk per labelled person."""
    data = json.loads(path.read_text())
    return {
        video: [
            Walk(
                f"{video}:{pid}",
                video,
                {int(f): np.asarray(b, np.float32) for f, b in zip(p["frames"], p["boxes"], strict=True)},
            )
            for pid, p in info["people"].items()
        ]
        for video, info in data["videos"].items()
    }


def query_crops(truth_path: Path, videos: Path, out: Path) -> dict[str, Path]:
    """Person id -> a JPEG of their labelled query box, cut from the video frame."""
    data = json.loads(truth_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    crops = {}
    for video, info in data["videos"].items():
        capture = cv2.VideoCapture(str(videos / video))
        frames: dict[int, np.ndarray] = {}
        wanted = {p["query"]["frame"] for p in info["people"].values()}
        index = 0
        while wanted - set(frames):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = frame
            index += 1
        capture.release()
        for pid, person in info["people"].items():
            x1, y1, x2, y2 = (round(v) for v in person["query"]["box"])
            path = out / f"{Path(video).stem}_{pid}.jpg"
            cv2.imwrite(str(path), frames[person["query"]["frame"]][max(0, y1) : y2, max(0, x1) : x2])
            crops[f"{video}:{pid}"] = path
    return crops


def run(model: str, shared: Path, top: int, judging: Judging) -> tuple[list[QueryOutcome], object]:
    from reidkit.api import find_person
    from reidkit.index.indexer import index_media
    from reidkit.index.library import Library

    videos = shared / "data" / "videos"
    truth_path = HERE / "shared_videos_truth.json"
    walks = load_truth(truth_path)
    root = HERE / "out" / f"library_{model}"
    if not (root / "library.sqlite").is_file():
        index_media([str(videos / v) for v in walks], root, model=model)
    library = Library.open(root)
    outcomes: list[QueryOutcome] = []
    for person, photo in query_crops(truth_path, videos, HERE / "out" / "queries").items():
        video = person.split(":")[0]
        own = [w for w in walks[video] if w.pid == person]
        result = find_person(str(photo), library, top=top, verdict_rule=judging.rule)
        present = QueryOutcome("present", person, [], [], [], walks_total=1)
        found: set[int] = set()
        for moment, likely in zip(
            result.moments, judging.likely(library, result, result.moments), strict=True
        ):
            share, touched = walks_matched(moment_observations(library, moment), own)
            present.scores.append(moment.score)
            present.likely.append(likely)
            present.correct.append(share >= 0.5)
            if likely and share >= 0.5:
                found |= touched
        present.walks_found = len(found)
        outcomes += [present, judged_without("other video", person, library, result, {video}, judging)]
    outcomes += absent_outcomes(absent_photos("dev", shared, ABSENT_PEOPLE, seed=1), library, top, judging)
    return outcomes, library


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        default="reidkit-retail-0287-cuhk03",
        help="registry names or .onnx files (with their sidecar)",
    )
    parser.add_argument("--calibrated-like", default="reidkit-retail-0287-cuhk03")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument(
        "--fixed", action="store_true", help="judge by the model's calibrated pair threshold (the old rule)"
    )
    parser.add_argument(
        "--score-only", action="store_true", help="the per-query threshold alone, without the one-person rule"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(args.shared / "models"))
    rows = []
    from reidkit.zoo.calibration import calibration_for

    for model in [register_file(m, args.calibrated_like) for m in args.models.split(",")]:
        judging = Judging(calibration_for(model).threshold if args.fixed else None, args.score_only)
        outcomes, _ = run(model, args.shared, args.top, judging)
        row = summarise(outcomes, absent_kinds=("other video", "other people"))
        rule = (
            "fixed" if args.fixed else "per query, score only" if args.score_only else "per query, one person"
        )
        rows.append({"model": model, "rule": rule, **row})
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
