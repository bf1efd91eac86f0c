"""Decode speed of reidkit.media on real videos: frames per second and multiple of real time.

    PYTHONPATH=. python bench/media_decode.py [VIDEO ...] [--stride N] [--backend pyav|opencv]

Defaults to the two videos in ../shared/data/videos ($REIDKIT_SHARED overrides ../shared). Set OMP_NUM_THREADS / taskset to pin cores.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from reidkit.media import open_media
from reidkit.media.source import OpenCVVideo, PyAVVideo

SHARED = Path(os.environ.get("REIDKIT_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
SHARED_VIDEOS = SHARED / "data" / "videos"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--backend", choices=["auto", "pyav", "opencv"], default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="best of N passes")
    args = parser.parse_args()
    videos = args.videos or sorted(p for p in SHARED_VIDEOS.glob("*") if p.suffix in (".mp4", ".264"))
    opener = {"auto": open_media, "pyav": PyAVVideo, "opencv": OpenCVVideo}[args.backend]
    for path in videos:
        source = opener(path)
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            yielded = sum(1 for _ in source.frames(stride=args.stride))
            best = min(best, time.perf_counter() - start)
        decoded = source.frame_count
        print(
            f"{path.name}: {type(source).__name__} {source.width}x{source.height} {source.fps:g} fps, "
            f"{decoded} frames decoded, {yielded} yielded (stride {args.stride}) in {best:.2f} s = "
            f"{decoded / best:.0f} decoded fps, {source.duration / best:.0f}x real time"
        )


if __name__ == "__main__":
    main()
