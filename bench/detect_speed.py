"""Person-detector latency per frame on real frames (ms/frame), for 1 and 2 ONNX Runtime threads.

    PYTHONPATH=. python bench/detect_speed.py [--detectors yolox-nano light-person-detector hog]
        [--threads 1 2] [--frames 40]

Frames: every 35th frame of ../shared/data/videos/one-by-one-person-detection.mp4 (768x432) and the
1920x1080 Market-1501 frames. Needs REIDKIT_MODEL_DIR (defaults to ../shared/models).
"""

from __future__ import annotations

import argparse
import os
import time
from itertools import islice
from pathlib import Path

from reidkit.detect import build_detector
from reidkit.media import open_media, read_image

SHARED = Path(os.environ.get("REIDKIT_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--detectors", nargs="+", default=["yolox-nano", "light-person-detector", "hog"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(SHARED / "models"))
    video = open_media(SHARED / "data" / "videos" / "one-by-one-person-detection.mp4")
    sets = {
        "video 768x432": [f.image for f in islice(video.frames(stride=35), args.frames)],
        "market 1920x1080": [
            read_image(p) for p in sorted((SHARED / "data/market-frames/frames").glob("*.jpg"))
        ],
    }
    for name in args.detectors:
        for threads in args.threads:  # HOG runs on OpenCV's own pool: the same at every setting
            detector = build_detector(name, threads=threads)
            for label, images in sets.items():
                detector.detect(images[0])  # warm-up
                start = time.perf_counter()
                found = sum(len(detector.detect(image)) for image in images)
                ms = (time.perf_counter() - start) / len(images) * 1000
                print(f"{name:22s} threads={threads} {label:17s} {ms:6.1f} ms/frame ({found} people)")


if __name__ == "__main__":
    main()
