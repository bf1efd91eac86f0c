"""``make demo``: index real footage, cut a query person from a frame, find every moment they appear.

    python -m reidkit.demo --shared ../shared --out demo-out

Runs offline on the public data in ``../shared`` (see its README): an indoor video where six people
enter one at a time (two of them in grey cardigans), a raw H.264 stream, and Market-1501 camera frames
for a cross-camera search. Writes the library and two HTML reports under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

VIDEO = "data/videos/one-by-one-person-detection.mp4"
STREAM = "data/videos/people-detection.264"
MARKET_FRAMES = "data/market-frames/frames"
MARKET_QUERY = "data/market-frames/query/0001_c6s1_009601_00.jpg"
MODELS = "models"
# A frame where the woman in the grey cardigan (the second of two) stands in the room.
QUERY_FRAME = 1050


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reidkit.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"), help="the ../shared data folder")
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="where the library and reports go")
    parser.add_argument("--stride", type=int, default=2, help="frame stride for the 10 fps video")
    parser.add_argument("--quick", action="store_true", help="index only the first video")
    args = parser.parse_args(argv)

    from reidkit.core.errors import ReidkitError

    shared = args.shared.resolve()
    missing = [p for p in (VIDEO, MARKET_FRAMES, MARKET_QUERY, MODELS) if not (shared / p).exists()]
    if missing:
        print(
            f"error: the demo needs the public data folder {shared} with {', '.join(missing)} "
            "(see ../shared/README.md); pass --shared PATH to point at it",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(shared / MODELS))
    try:
        run(shared, args.out, stride=args.stride, quick=args.quick)
    except ReidkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run(shared: Path, out: Path, *, stride: int = 2, quick: bool = False) -> None:
    import cv2

    from reidkit.api import find_person, index, write_report
    from reidkit.cli.search import format_table
    from reidkit.detect import build_detector

    out.mkdir(parents=True, exist_ok=True)
    library = out / "library"
    detector = build_detector("yolox-nano")

    _step("1/4 index the videos and frames (skips files already in the library)")
    started = time.perf_counter()
    jobs: list[tuple[Path, int | None]] = [(shared / VIDEO, stride)]
    if not quick:
        # 25 fps: stride 5 processes 5 frames per second, like stride 2 on the 10 fps video.
        jobs += [(shared / STREAM, 5), (shared / MARKET_FRAMES, None)]
    files: list[Any] = []
    for path, file_stride in jobs:
        report = index(path, library, detector=detector, stride=file_stride)
        for f in report.files:
            files.append(f)
            wall = float(getattr(f, "wall", 0.0))
            print(f"  {Path(f.path).name:<36} {f.status:<8} {f.tracklets:>3} tracklets  {wall:5.1f} s")
    index_wall = time.perf_counter() - started
    print(f"  indexed in {index_wall:.1f} s -> {library}")

    _step(f"2/4 cut the query: the largest person detected in frame {QUERY_FRAME} of {Path(VIDEO).name}")
    frame = _frame_at(shared / VIDEO, QUERY_FRAME)
    detections = detector.detect(frame)
    if len(detections) == 0:
        raise RuntimeError(f"no person detected in frame {QUERY_FRAME}")
    areas = np.prod(detections.boxes[:, 2:] - detections.boxes[:, :2], axis=1)
    x1, y1, x2, y2 = (round(float(v)) for v in detections.boxes[int(np.argmax(areas))])
    query = out / f"query-frame{QUERY_FRAME}.jpg"
    cv2.imwrite(str(query), frame[max(0, y1) : y2, max(0, x1) : x2])
    print(f"  box {x1},{y1},{x2},{y2} -> {query}")

    _step("3/4 find every moment this person appears")
    result = find_person(query, library, top=10)
    print(format_table(result))
    video_report = write_report(result, out / "report-video")
    print(f"  report: {video_report}")

    if not quick:
        _step("4/4 cross-camera: a Market-1501 crop from camera 6, searched over frames of cameras 1 and 3")
        result = find_person(shared / MARKET_QUERY, library, top=10)
        print(format_table(result))
        market_report = write_report(result, out / "report-market")
        print(f"  report: {market_report}")
    reports = [video_report] if quick else [video_report, market_report]
    _summary(files, index_wall, time.perf_counter() - started, library, reports)


def _summary(
    files: list[Any], index_wall: float, total_wall: float, library: Path, reports: list[Path]
) -> None:
    """What happened, in a few lines: what was indexed, how fast, where the results are."""
    from reidkit.search import format_time

    indexed = [f for f in files if f.status == "indexed"]
    videos = [f for f in indexed if f.kind == "video"]
    photos = [f for f in indexed if f.kind == "image"]
    footage = sum(f.duration for f in videos)
    video_wall = sum(f.wall for f in videos)
    present = sum(f.status == "skipped" for f in files)
    _step("what happened")
    print(
        f"  indexed {len(videos)} videos ({format_time(footage)} of footage, "
        f"{footage / video_wall if video_wall else 0:.1f}x real time) and {len(photos)} photos "
        f"into {sum(f.tracklets for f in indexed)} tracklets in {index_wall:.1f} s"
        + (f"; {present} files were already in the library" if present else "")
    )
    embedded = sum(f.crops_embedded for f in indexed)
    boxes = sum(f.boxes for f in indexed)
    print(f"  ReID ran on {embedded} crops for {boxes} detected boxes; the library is {library}")
    print(f"  searched {len(reports)} query photo(s); everything took {total_wall:.1f} s")
    for report in reports:
        print(f"  report: {report}")
    print(f"  open {reports[0]} in a browser")


def _frame_at(path: Path, index: int) -> np.ndarray:
    from reidkit.media import open_media

    for frame in open_media(path).frames():
        if frame.index >= index:
            return frame.image
    raise RuntimeError(f"{path} has fewer than {index + 1} frames")


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
