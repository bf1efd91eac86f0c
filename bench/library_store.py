"""The library's storage at scale: adding one video and opening the library as it grows to 1M tracklets.

Grows one library through the public API (``Library.create_or_open`` + ``add_media``): one-hour
videos of ``--tracklets`` tracklets with ``--crops`` crop vectors each, vectors clustered like people
(``--per-person`` tracklets around each person's centre). At each size it prints the add time of
``--adds`` more videos (p50 and max, through ``add_media`` unchanged), the open time of a reader
(``Library.open``, median of 3 in this process), the resident memory of this process with the reader open, the raw library search
(``Library.search``, k=20: vector store + tracklet rows, not the moments) p50/p99 and its recall@20
against an exact scan of the live vectors. Ratios between rows are what to read: flat add and open.

    python bench/library_store.py                                  # 10k, 100k, 1M (~1 h on 2 cores)
    python bench/library_store.py --sizes 10000,100000 --library /tmp/lib   # keep it, grow it later

Growth videos (those not timed) skip the per-file footage pairs and write no thumbnail files (both a
fixed cost per video, independent of the library's size), so that a million tracklets can be reached
within the hour on a shared machine; the timed adds run everything. ``add cpu s`` is the add's CPU
time: on a machine whose disk is shared the wall time also waits for other processes' writes.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from reidkit.core.vectors import l2_normalise
from reidkit.index import library as library_module
from reidkit.index.footage import FootageScores
from reidkit.index.library import Library, NewMedia, NewTracklet

JPEG = bytes(range(256)) * 8  # ~2 KB, what a small crop's JPEG weighs


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Footage:
    """Synthetic one-hour videos: people (cluster centres) seen in several tracklets each."""

    def __init__(self, dim: int, tracklets: int, crops: int, per_person: int, seed: int = 0):
        self.dim, self.tracklets, self.crops, self.per_person = dim, tracklets, crops, per_person
        self.rng = np.random.default_rng(seed)

    def video(self, number: int) -> tuple[NewMedia, list[NewTracklet]]:
        rng, dim = self.rng, self.dim
        people = l2_normalise(
            rng.standard_normal((math.ceil(self.tracklets / self.per_person), dim), dtype=np.float32)
        )
        centres = np.repeat(people, self.per_person, axis=0)[: self.tracklets]
        pooled = l2_normalise(
            centres + rng.standard_normal(centres.shape, dtype=np.float32) * (0.6 / math.sqrt(dim))
        )
        out = []
        for i in range(self.tracklets):
            start = int(rng.integers(0, 90_000 - 40))
            frames = np.arange(start, start + 40, 5, dtype=np.int64)
            boxes = np.tile(np.array([100, 100, 160, 260], np.float32), (len(frames), 1))
            crops = l2_normalise(
                pooled[i] + rng.standard_normal((self.crops, dim), dtype=np.float32) * (0.3 / math.sqrt(dim))
            )
            out.append(
                NewTracklet(
                    track_id=i + 1,
                    frames=frames,
                    times=frames / 25.0,
                    boxes=boxes,
                    vector=pooled[i],
                    crop_vectors=crops,
                    best_frame=int(frames[0]),
                    best_box=boxes[0],
                    thumbnail_jpeg=JPEG,
                    quality=0.5,
                )
            )
        media = NewMedia(
            f"/footage/cam{number % 16}/{number:06d}.mp4",
            f"{number:064x}",
            "video",
            25.0,
            90_000,
            3600.0,
            1920,
            1080,
        )
        return media, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--tracklets", type=int, default=200, help="tracklets per video")
    parser.add_argument("--crops", type=int, default=8, help="crop vectors per tracklet")
    parser.add_argument("--per-person", type=int, default=20, help="tracklets per synthetic person")
    parser.add_argument("--adds", type=int, default=5, help="timed adds per size")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument(
        "--library", type=Path, default=None, help="library folder (default: a temporary one)"
    )
    args = parser.parse_args()

    root = args.library or Path(tempfile.mkdtemp(prefix="reidkit-store-")) / "lib"
    footage = Footage(args.dim, args.tracklets, args.crops, args.per_person)
    real_scores = library_module.media_footage_scores
    with Library.create_or_open(root, "synthetic", args.dim) as lib:
        next_video = len(lib.media_list())
    print(f"library {root}")
    print(
        f"{'tracklets':>10} {'add p50 s':>9} {'add max s':>9} {'add cpu s':>9} {'open s':>7} {'RSS MiB':>8} {'search p50 ms':>13} {'p99 ms':>7} {'recall@20':>9}  index"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        with Library.create_or_open(root, "synthetic", args.dim) as lib:
            library_module.media_footage_scores = lambda *a, **k: FootageScores()  # growth only
            try:
                with mock.patch.object(Path, "write_bytes", lambda self, data: len(data)):  # no thumbnails
                    while len(lib) + args.adds * args.tracklets < size:
                        lib.add_media(*footage.video(next_video))
                        next_video += 1
            finally:
                library_module.media_footage_scores = real_scores
            adds, cpu = [], []
            for _ in range(args.adds):
                video = footage.video(next_video)
                next_video += 1
                t0, c0 = time.perf_counter(), time.process_time()
                lib.add_media(*video)
                adds.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        opens = []
        for _ in range(3):
            t0 = time.perf_counter()
            reader = Library.open(root)
            opens.append(time.perf_counter() - t0)
            if _ < 2:
                reader.close()
        memory = rss_mib()  # this process with one open reader (before the exact answers below)
        ids, vectors = reader._store.live_vectors()
        rng = np.random.default_rng(1)
        queries = l2_normalise(
            vectors[rng.choice(len(vectors), args.queries)]
            + rng.standard_normal((args.queries, args.dim), dtype=np.float32) * (0.5 / math.sqrt(args.dim))
        )
        times, recalls = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = reader.search(q, 20)
            times.append(time.perf_counter() - t0)
            exact = set(ids[np.argsort(-(vectors @ q))[:20]].tolist())
            recalls.append(len(exact & {h.tracklet.id for h in hits}) / 20)
        kind = reader._store.ann_state.spec if reader._store.ann_state is not None else "exact"
        print(
            f"{len(reader):>10} {statistics.median(adds):>9.3f} {max(adds):>9.3f} {statistics.median(cpu):>9.3f} "
            f"{statistics.median(opens):>7.3f} "
            f"{memory:>8.0f} {np.percentile(times, 50) * 1e3:>13.1f} {np.percentile(times, 99) * 1e3:>7.1f} "
            f"{np.mean(recalls):>9.3f}  {kind}",
            flush=True,
        )
        del ids, vectors
        reader.close()


if __name__ == "__main__":
    main()
