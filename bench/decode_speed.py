"""What decoding a video at the indexer's stride costs, and what skipping unwanted frames saves.

    PYTHONPATH=. python bench/decode_speed.py [--runs N] [--stride N] [VIDEO ...]

For each video (default: the two shared ones), at its indexing stride (``default_stride(fps)``), the
medians over ``--runs`` passes (taking turns) of:

- "all": decoding every frame and converting every stride-th to BGR (``PyAVVideo._decode_counting``, the
  path for streams whose packets carry no usable timestamps, and what every stride did before);
- "frames()": ``PyAVVideo.frames(stride)``, as the indexer calls it: it tells FFmpeg to skip the
  frames that are neither wanted nor referred to, when it knows which frame each packet holds (from
  timestamps, or a raw H.264 stream's slice headers);
- "nonref": a bare PyAV loop that skips every non-reference frame (``skip_frame = "NONREF"``) and
  converts every stride-th frame that comes out: the least any skipping could decode. Its frames
  are not the stride's, so it is a bound, not a mode.

Times are CPU seconds of the process (the decoder runs on one thread, and CPU time is less shaken by
other work on a shared machine than wall time); "pictures" and "decoded" count the pictures FFmpeg
produced in a frames() pass and in the nonref pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
VIDEOS = [
    SHARED / "data/videos/one-by-one-person-detection.mp4",
    SHARED / "data/videos/people-detection.264",
]


def nonref_pass(path: Path, stride: int) -> int:
    """Decode ``path`` skipping every non-reference frame; convert every stride-th frame that comes out.
    Returns the frames decoded."""
    import av

    from reidkit.media.source import _to_bgr

    decoded = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        stream.codec_context.skip_frame = "NONREF"
        for packet in container.demux(stream):
            for frame in packet.decode():
                if decoded % stride == 0:
                    _to_bgr(frame)
                decoded += 1
    return decoded


def count_frames(frames: Callable[[int], Iterator[object]], stride: int) -> int:
    return sum(1 for _ in frames(stride))


def cpu_seconds(passes: list[Callable[[], int]], runs: int) -> list[tuple[float, int]]:
    """Median CPU seconds and the count returned of each pass, the passes taking turns (so that other
    work on the machine slows each of them alike)."""
    seconds: list[list[float]] = [[] for _ in passes]
    counts = [0] * len(passes)
    for _ in range(runs):
        for i, run in enumerate(passes):
            started = time.process_time()
            counts[i] = run()
            seconds[i].append(time.process_time() - started)
    return [(float(np.median(s)), c) for s, c in zip(seconds, counts, strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("videos", nargs="*", type=Path, default=VIDEOS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stride", type=int, default=None, help="default: the indexer's, from the fps")
    args = parser.parse_args()
    missing = [v for v in args.videos if not v.is_file()]
    if missing:
        print(
            f"missing: {', '.join(map(str, missing))} (the shared videos live in ../shared)", file=sys.stderr
        )
        return 2

    from reidkit.index.indexer import default_stride
    from reidkit.media import open_media
    from reidkit.media.source import PyAVVideo

    header = (
        f"{'video':38s} {'frames':>6s} {'stride':>6s} {'kept':>5s} {'known':>5s} {'all s':>6s} "
        f"{'frames() s':>10s} {'/all':>5s} {'pictures':>8s} {'nonref s':>8s} {'/all':>5s} {'decoded':>7s}"
    )
    print(header)
    print("-" * len(header))
    for video in args.videos:
        source = open_media(video)
        if not isinstance(source, PyAVVideo):
            print(f"{video.name:38s} not decoded by PyAV ({type(source).__name__})")
            continue
        stride = args.stride or default_stride(source.fps)
        (everything, kept), (wanted, kept_wanted), (bound, decoded) = cpu_seconds(
            [
                partial(count_frames, source._decode_counting, stride),
                partial(count_frames, source.frames, stride),
                partial(nonref_pass, video, stride),
            ],
            args.runs,
        )
        assert kept_wanted == kept, (kept_wanted, kept)  # the same frames either way
        known = "yes" if source._display_order() is not None else "no"
        print(
            f"{video.name:38s} {source.frame_count:6d} {stride:6d} {kept:5d} {known:>5s} {everything:6.2f} "
            f"{wanted:10.2f} {wanted / everything:5.2f} {source.pictures_decoded:8d} {bound:8.2f} {bound / everything:5.2f} {decoded:7d}"
        )
    print(
        "kept = frames converted at the stride; known = which frame each packet holds is known before decoding "
        "(timestamps, or a raw H.264 stream's slice headers), so frames() skips; all / frames() / nonref = "
        "CPU s per pass (median)"
    )
    print(
        "pictures = pictures FFmpeg decoded in a frames() pass; decoded = those it decodes skipping every "
        "non-reference frame (the nonref bound)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
