"""Indexing speed on the shared videos: wall time per stage, real-time factor, the detector floor,
ReID calls vs naive.

    PYTHONPATH=. python bench/index_speed.py [--model NAME] [--detector NAME] [--stride N]
                                             [--prefetch N] [--threads N] [VIDEO ...]

Each video is indexed into a fresh temporary library by one ``index_media`` call, with the detector by
name as ``reidkit index`` builds it (``index_detector_options``). "wall" is that whole call: building the
detectors, opening and closing the library, hashing, analysing and writing the file; "start" is the
part of it outside the file's own time (``FileReport.wall``): the detectors' build and the library's
open and close, paid once per call (once per folder by ``reidkit index FOLDER``). The ReID model is
built once per process, before the table ("models loaded in"), as a process that indexes several
calls keeps it. (Until the detectors were built before the first file, "wall" was the file's own time,
which excluded the main detector's build and the library; the whole call is the stricter measure,
and the one a user of a single short clip waits for.)
"floor" is the least wall time the detector allows: frames detected x the raw model's latency on two
threads (``session.run`` alone, at the input size of the video's first frame; the faster of the
medians measured just before and just after indexing it, in this run); "/floor" is wall / floor.
"reid" is the crops actually embedded (K per tracklet). "naive" is what a pipeline that embeds every
box of every frame would run: the detector's boxes (at its own default confidence) on EVERY frame of
the video, counted in a separate untimed pass (cached in ~/.cache/reidkit/bench, keyed by the video's
content and the detector). Targets on a 2-core laptop CPU with YOLOX-nano: >= 5x real time,
wall <= 1.3 x floor and reid <= naive / 20.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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
    parser.add_argument(
        "--detect-workers",
        type=int,
        default=None,
        help="video frames detected at once, one thread each (default: one per core)",
    )
    args = parser.parse_args()

    from reidkit.core.runtime import default_threads

    if args.threads:
        os.environ["REIDKIT_THREADS"] = str(args.threads)
    threads = default_threads()
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
    from reidkit.index.indexer import IndexOptions, index_detector_options, index_media
    from reidkit.media import open_media

    def index_options() -> IndexOptions:
        crops = CropSamplerConfig(k=args.crops, bins=max(16, 2 * args.crops))
        return IndexOptions(
            crops=crops,
            prefetch=args.prefetch,
            progress=False,
            skip_static=not args.no_skip_static,
            detect_workers=args.detect_workers,
        )

    t0 = time.perf_counter()
    detector = build_detector(args.detector, index_detector_options(args.detector, index_options()))
    embedder = build_embedder(args.model, threads=threads)
    load = time.perf_counter() - t0
    print(
        f"detector {detector.name}, reid {embedder.name}, onnxruntime threads "
        f"{threads}, detect workers {args.detect_workers or threads}, prefetch {args.prefetch}, crops {args.crops}, "
        f"cpus {os.cpu_count()}, models loaded in {load:.2f}s"
    )
    naive = {video: naive_box_count(video, args.detector, detector.name) for video in args.videos}
    # The floor's detector: the same model and input size as the indexer's, on two threads.
    floor_detector = build_detector(
        args.detector, index_detector_options(args.detector, index_options(), threads=FLOOR_THREADS)
    )
    header = (
        f"{'video':38s} {'frames':>6s} {'proc':>5s} {'det':>5s} {'stride':>6s} {'video s':>7s} {'wall s':>6s} {'start':>5s} "
        f"{'fps':>6s} {'x rt':>5s} {'raw ms':>6s} {'floor':>6s} {'/floor':>6s} {'cpu s':>6s} {'busy':>5s} {'tracklets':>9s} "
        f"{'reid':>5s} {'naive':>6s} {'ratio':>7s} "
        f"{'decode':>6s} {'detect':>6s} {'track':>6s} {'embed':>6s} {'index':>6s}"
    )
    print(header)
    print("-" * len(header))
    cores = os.cpu_count() or 1
    for video in args.videos:
        first_frame = next(iter(open_media(video).frames())).image
        before = raw_latency(floor_detector, first_frame)
        with tempfile.TemporaryDirectory() as lib:
            started, cpu_started = time.perf_counter(), time.process_time()
            # By name, as `reidkit index` does: the indexer builds its single-threaded frame detectors.
            report = index_media(
                video,
                lib,
                detector=args.detector,
                model=embedder,
                stride=args.stride,
                options=index_options(),
            )
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started  # every thread of this process
        after = raw_latency(floor_detector, first_frame)
        (f,) = report.files
        if f.status != "indexed":
            print(f"{video.name:38s} {f.status}: {f.message}")
            continue
        t = f.times
        ratio = f"1/{naive[video] / f.crops_embedded:.0f}" if f.crops_embedded else "-"
        if before is not None and after is not None:
            raw = min(before, after)  # the faster: a floor must not be raised by a busy moment
            floor = f.frames_detected * raw
            floor_cells = f"{raw * 1000:6.1f} {floor:6.1f} {wall / floor:6.2f}"
        else:
            floor_cells = f"{'-':>6s} {'-':>6s} {'-':>6s}"
        print(
            f"{video.name:38s} {f.frames_total:6d} {f.frames_processed:5d} {f.frames_detected:5d} {f.stride:6d} {f.duration:7.1f} "
            f"{wall:6.1f} {wall - f.wall:5.2f} {f.frames_total / wall:6.1f} {f.duration / wall:5.1f} {floor_cells} "
            f"{cpu:6.1f} {cpu / (wall * cores):5.0%} "
            f"{f.tracklets:9d} "
            f"{f.crops_embedded:5d} {naive[video]:6d} {ratio:>7s} {t.decode:6.2f} {t.detect:6.2f} "
            f"{t.track:6.2f} {t.embed:6.2f} {t.index:6.2f}"
        )
    print(
        "proc = frames decoded at the stride; det = frames the detector ran on (static, empty frames skipped)"
    )
    print(
        "wall = the whole index_media call; start = its detector build and library open/close (s); "
        "fps = source frames per wall second; x rt = video seconds per wall second; stage columns in seconds"
    )
    print(
        f"raw ms = the detector model alone on {FLOOR_THREADS} threads, one real frame; "
        "floor = det x raw (s); /floor = wall / floor"
    )
    print(
        f"cpu s = CPU seconds of this process during the call, all threads; busy = cpu s / (wall x {cores} cpus)"
    )
    print("reid = crops embedded; naive = detector boxes on every frame (untimed pass); ratio = reid/naive")
    return 0


FLOOR_THREADS = 2


def raw_latency(detector: object, image: np.ndarray, runs: int = 30) -> float | None:
    """Median seconds of one ``session.run`` of an ONNX detector on ``image`` prepared as ``detect``
    prepares it: the model's cost without decoding, pre- or post-processing. None without a session."""
    from dataclasses import replace

    from reidkit.core.runtime import prepare_batch

    session = getattr(detector, "session", None)
    if session is None:
        return None
    height, width = detector.input_shape(*image.shape[:2])  # type: ignore[attr-defined]
    spec = replace(detector.input_spec, height=height, width=width)  # type: ignore[attr-defined]
    feed = {session.get_inputs()[0].name: prepare_batch([image], spec)}
    for _ in range(3):  # warm-up: first runs allocate
        session.run(None, feed)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, feed)
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def naive_box_count(video: Path, detector: str, name: str) -> int:
    """Boxes the detector (a name or path; ``name``: its model name), at its registered default
    options, finds over EVERY frame of ``video``: what embedding each box would cost.

    Untimed and cached: it runs the detector on every frame, which the indexer itself never does.
    """
    from reidkit.core.files import user_cache_dir
    from reidkit.detect import build_detector
    from reidkit.media import content_hash, open_media

    cache = user_cache_dir("bench") / f"naive-{content_hash(video)[:16]}-{name}.json"
    if cache.is_file():
        return int(json.loads(cache.read_text())["boxes"])
    print(f"counting naive boxes: {name} on every frame of {video.name} (once, cached) ...", flush=True)
    at_defaults = build_detector(detector)
    boxes = frames = 0
    for frame in open_media(video).frames():
        boxes += len(at_defaults.detect(frame.image))
        frames += 1
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"video": str(video), "detector": name, "frames": frames, "boxes": boxes}))
    return boxes


if __name__ == "__main__":
    sys.exit(main())
