"""Indexing speed on the shared videos: wall time per stage, real-time factor, ReID calls vs naive.

    PYTHONPATH=. python bench/index_speed.py [--model NAME] [--detector NAME] [--stride N]
                                             [--prefetch N] [--threads N] [VIDEO ...]

Each video is indexed into a fresh temporary library. "reid" is the crops actually embedded (K per
tracklet). "naive" is what a pipeline that embeds every box of every frame would run: the detector's
boxes on EVERY frame of the video, counted in a separate untimed pass (cached in
~/.cache/reidkit/bench, keyed by the video's content and the detector). Targets on a 2-core laptop
CPU with YOLOX-nano: >= 5x real time and reid <= naive / 20.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
VIDEOS = [
    SHARED / "data/videos/one-by-one-person-detection.mp4",
    SHARED / "data/videos/people-detection.264",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("videos", nargs="*", type=Path, default=VIDEOS)
    parser.add_argument("--model", default=None, help="ReID model (default: the registry default)")
    parser.add_argument("--detector", default="yolox-nano")
    parser.add_argument("--stride", type=int, default=None, help="default: from the video's fps")
    parser.add_argument("--prefetch", type=int, default=4, help="decode N frames ahead in a thread")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads per session")
    parser.add_argument("--no-skip-static", action="store_true", help="run the detector on every frame")
    parser.add_argument("--crops", type=int, default=8, help="crops embedded per long tracklet")
    args = parser.parse_args()

    from reidkit.index.indexer import default_model_threads

    if args.threads:
        os.environ["REIDKIT_THREADS"] = str(args.threads)
    threads = default_model_threads(args.prefetch)
    if (SHARED / "models").is_dir():
        os.environ.setdefault("REIDKIT_MODEL_DIR", str(SHARED / "models"))
    missing = [v for v in args.videos if not v.is_file()]
    if missing:
        print(
            f"missing: {', '.join(map(str, missing))} (the shared videos live in ../shared)", file=sys.stderr
        )
        return 2

    from reidkit.detect import build_detector
    from reidkit.embed import CropSamplerConfig, build_embedder
    from reidkit.index.indexer import IndexOptions, index_media

    t0 = time.perf_counter()
    detector = build_detector(args.detector, threads=threads)
    embedder = build_embedder(args.model, threads=threads)
    load = time.perf_counter() - t0
    print(
        f"detector {detector.name}, reid {embedder.name}, onnxruntime threads "
        f"{threads}, prefetch {args.prefetch}, crops {args.crops}, "
        f"cpus {os.cpu_count()}, models loaded in {load:.2f}s"
    )
    naive = {video: naive_box_count(video, detector) for video in args.videos}
    header = (
        f"{'video':38s} {'frames':>6s} {'proc':>5s} {'det':>5s} {'stride':>6s} {'video s':>7s} {'wall s':>6s} "
        f"{'fps':>6s} {'x rt':>5s} {'tracklets':>9s} {'reid':>5s} {'naive':>6s} {'ratio':>7s} "
        f"{'decode':>6s} {'detect':>6s} {'track':>6s} {'embed':>6s} {'index':>6s}"
    )
    print(header)
    print("-" * len(header))
    for video in args.videos:
        with tempfile.TemporaryDirectory() as lib:
            crops = CropSamplerConfig(k=args.crops, bins=max(16, 2 * args.crops))
            options = IndexOptions(
                crops=crops, prefetch=args.prefetch, progress=False, skip_static=not args.no_skip_static
            )
            report = index_media(
                video, lib, detector=detector, model=embedder, stride=args.stride, options=options
            )
        (f,) = report.files
        if f.status != "indexed":
            print(f"{video.name:38s} {f.status}: {f.message}")
            continue
        t = f.times
        ratio = f"1/{naive[video] / f.crops_embedded:.0f}" if f.crops_embedded else "-"
        print(
            f"{video.name:38s} {f.frames_total:6d} {f.frames_processed:5d} {f.frames_detected:5d} {f.stride:6d} {f.duration:7.1f} "
            f"{f.wall:6.1f} {f.frames_total / f.wall:6.1f} {f.realtime_factor:5.1f} {f.tracklets:9d} "
            f"{f.crops_embedded:5d} {naive[video]:6d} {ratio:>7s} {t.decode:6.2f} {t.detect:6.2f} "
            f"{t.track:6.2f} {t.embed:6.2f} {t.index:6.2f}"
        )
    print(
        "proc = frames decoded at the stride; det = frames the detector ran on (static, empty frames skipped)"
    )
    print(
        "fps = source frames per wall second; x rt = video seconds per wall second; stage columns in seconds"
    )
    print("reid = crops embedded; naive = detector boxes on every frame (untimed pass); ratio = reid/naive")
    return 0


def naive_box_count(video: Path, detector: object) -> int:
    """Boxes the detector finds over EVERY frame of ``video``: what embedding each box would cost.

    Untimed and cached: it runs the detector on every frame, which the indexer itself never does.
    """
    from reidkit.core.files import user_cache_dir
    from reidkit.media import content_hash, open_media

    name = str(getattr(detector, "name", "detector"))
    cache = user_cache_dir("bench") / f"naive-{content_hash(video)[:16]}-{name}.json"
    if cache.is_file():
        return int(json.loads(cache.read_text())["boxes"])
    print(f"counting naive boxes: {name} on every frame of {video.name} (once, cached) ...", flush=True)
    boxes = frames = 0
    for frame in open_media(video).frames():
        boxes += len(detector.detect(frame.image))  # type: ignore[attr-defined]
        frames += 1
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"video": str(video), "detector": name, "frames": frames, "boxes": boxes}))
    return boxes


if __name__ == "__main__":
    sys.exit(main())
