"""What ``reidkit adapt`` costs: wall time and peak memory for libraries of 200, 1,000 and 5,000 tracklets.

    PYTHONPATH=. python bench/adapt/cost.py --sizes 200,1000,5000 [--model runs/r0287_dev6.onnx]

Libraries of N tracklets are built from the dev footage's library (``bench/crosscam --people dev``):
its media files are listed again and again (each copy a new media row pointing at the same video, so
re-reading crops decodes real video) until N tracklets are there. Each size is adapted in a fresh
subprocess with the default settings (``AdaptConfig()``); its peak resident memory is the child's
``ru_maxrss``. The table gives the stages' seconds (crops: re-read + embedded by the frozen model;
train: pseudo-labels + head; export; re-embed) and the ratio to the 1,000-tracklet target of 30 min.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.run import print_table, register_file  # noqa: E402

from reidkit.adapt.adapt import AdaptConfig  # noqa: E402

TARGET_SECONDS = 30 * 60  # 1,000 tracklets on a 2-core CPU


def build_library(source: Path, target: Path, size: int) -> int:
    """A library of ``size`` tracklets (whole media files, so a bit more) made of copies of ``source``'s."""
    from reidkit.index.library import Library, NewMedia, NewTracklet

    shutil.rmtree(target, ignore_errors=True)
    src = Library.open(source)
    out = Library.create_or_open(target, src.model, src.dim, model_file=src.model_file)
    media = src.media_list()
    copy = 0
    while len(out) < size:
        for m in media:
            if len(out) >= size:
                break
            records = src.tracklets(m.id)
            tracklets = []
            for r in records:
                crops = src.crop_vectors(r.id)
                thumb = (source / r.thumbnail).read_bytes()
                tracklets.append(
                    NewTracklet(
                        track_id=r.track_id,
                        frames=r.frames,
                        times=r.frames / max(m.fps, 1e-6),
                        boxes=r.boxes,
                        vector=crops.mean(axis=0),
                        crop_vectors=crops,
                        best_frame=r.best_frame,
                        best_box=r.best_box,
                        thumbnail_jpeg=thumb,
                        quality=r.quality,
                        crop_frames=np.full(len(crops), r.best_frame),
                        crop_qualities=np.full(len(crops), r.quality, np.float32),
                    )
                )
            out.add_media(
                NewMedia(
                    m.path,
                    f"{m.sha256[:48]}{copy:016d}",
                    m.kind,
                    m.fps,
                    m.frame_count,
                    m.duration,
                    m.width,
                    m.height,
                ),
                tracklets,
            )
        copy += 1
    n = len(out)
    out.close()
    src.close()
    return n


CHILD = """
import json, os, resource, sys, time
sys.path[:0] = [sys.argv[3], sys.argv[3] + '/bench']
from crosscam.run import register_file
register_file(sys.argv[2], 'reidkit-retail-0287-cuhk03')
from reidkit.adapt import AdaptConfig, adapt_library
started = time.perf_counter()
# apply="all": the costliest way to apply it, re-embedding every crop vector
report = adapt_library(sys.argv[1], config=AdaptConfig(crops_per_tracklet=int(sys.argv[4]), max_crops=int(sys.argv[5])),
                        apply="all")
print(json.dumps({'wall': time.perf_counter() - started, 'seconds': report.seconds, 'crops': report.crops,
                  'rounds': len(report.rounds), 'stopped': report.stopped,
                  'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,1000,5000")
    parser.add_argument("--model", default="runs/r0287_dev6.onnx")
    parser.add_argument(
        "--source", type=Path, help="library to copy (default: the dev footage's for --model)"
    )
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "adapt" / "out")
    parser.add_argument(
        "--crops-per-tracklet",
        type=int,
        default=8,
        help="AdaptConfig.crops_per_tracklet (0: stored crops only)",
    )
    parser.add_argument(
        "--max-crops",
        type=int,
        default=AdaptConfig().max_crops,
        help="AdaptConfig.max_crops: re-read crops in all, at most",
    )
    args = parser.parse_args(argv)
    shared = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(shared / "models"))
    model = register_file(args.model, "reidkit-retail-0287-cuhk03")
    source = args.source or REPO / "bench" / "crosscam" / "out" / "dev" / "cache" / f"library_{model}"
    if not (source / "library.sqlite").is_file():
        raise SystemExit(f"{source}: no library; run bench/adapt/run.py --people dev first")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        root = args.work / f"library_{size}"
        n = build_library(source, root, size)
        env = {**os.environ, "REIDKIT_ADAPTED_DIR": str(args.work / "adapted")}
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(root),
                args.model,
                str(REPO),
                str(args.crops_per_tracklet),
                str(args.max_crops),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
        s = result["seconds"]
        rows.append(
            {
                "tracklets": n,
                "crops/tracklet": args.crops_per_tracklet,
                "max crops": args.max_crops,
                "views": result["crops"],
                "crops s": f"{s['crops']:.0f}",
                "train s": f"{s['train']:.0f}",
                "export s": f"{s['export']:.1f}",
                "re-embed s": f"{s.get('apply', 0):.1f}",
                "wall s": f"{time.perf_counter() - started:.0f}",
                "of 30 min": f"{s['total'] / TARGET_SECONDS:.2f}",
                "peak MB": f"{result['maxrss_mb']:.0f}",
                "rounds": result["rounds"],
            }
        )
        print_table(rows, list(rows[0]))
        print(flush=True)
    print(f"load average while measuring: {os.getloadavg()}")


if __name__ == "__main__":
    main()
