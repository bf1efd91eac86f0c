"""A library at scale: one library grown through the public API, timed as a user meets it.

    PYTHONPATH=. python bench/library_scale.py                               # 10k and 100k tracklets
    PYTHONPATH=. python bench/library_scale.py --sizes 10000,100000,1000000  # and 1M (~30 min, 18 GB)
    PYTHONPATH=. python bench/library_scale.py --nprobe 32,64,128 --refine 10,20  # the trade-off table
    PYTHONPATH=. python bench/library_scale.py --index HNSW32                # another Faiss index

The library is grown with ``Library.create_or_open`` and ``add_media`` (``NewMedia`` / ``NewTracklet``),
as the indexer does: synthetic one-hour videos of ``--per-video`` (200) tracklets with 8 crop vectors
each, plus the real tracklets of the shared videos (indexed once with the default model into
``--out``/real, then copied in first). Synthetic vectors are clustered like people: each person has a
centre near the footage's common direction (different people score ~0.3, as ReID models' vectors do),
their tracklets scatter around it (~0.75 to each other) and a visit comes in pieces split by short
gaps, so linking has real work. The pieces of one visit are the same person; people come back in
other videos.

At each size the writer keeps the library open while a *separate reader process* (what `reidkit
search` and the app are) measures, and the table reports:

* ``add video``: the median seconds of the last adds of a 200-tracklet video before that size
  (the write, its Faiss update, its visits);
* ``open``: ``Library.open`` in the reader; ``RSS``: the reader's resident memory after its searches;
* ``search p50 / p99``: ``reidkit.search.engine.search_vector(lib, q, top=20)`` end to end, from a query
  vector to moments, over ``--queries`` queries (half a crop of a real tracklet, half a new view of a
  synthetic person), after one search to warm up;
* ``recall@20`` / ``recall@5``: the share of the top 20 / 5 moments (by their tracklets) of an exact
  search (the same library and code scanning every vector, no approximate index) that this search returns
  among its own top 20 / 5. Below the person's own visits, the top 20 are impostors scoring alike, whose
  order is the most sensitive to an approximate index; one row per IVF ``--nprobe`` and ``--refine``
  (approximate candidates per hit re-scored exactly; the library's defaults are a quarter of the
  lists and 20).

Ratios matter, not absolute times: the machine is shared, so each time is also given as the process's
own CPU time (in brackets), which other processes' load disturbs less.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reidkit.core.vectors import l2_normalise  # noqa: E402
from reidkit.index.library import Library, NewMedia, NewTracklet, stored_file  # noqa: E402

MODEL = "reidkit-retail-0287-cuhk03"  # the default model: the real tracklets' vectors and calibration
VIDEO_SECONDS = 3600.0
FPS = 10.0
STEP = 5  # frames between a tracklet's observations (the indexer's stride at 10 fps, about)
CROPS = 8
TOP = 20
SHARED_VIDEOS = ("one-by-one-person-detection.mp4", "people-detection.264")
# Vector geometry, in units of a random unit direction: the common part of all people's vectors, a
# person's tracklets around their centre, a tracklet's crops around it.
COMMON, TRACKLET_SPREAD, CROP_SPREAD = 0.65, 0.58, 0.5


@dataclass
class People:
    """The synthetic population: one centre per person."""

    centres: np.ndarray  # (P, D) unit
    rng: np.random.Generator

    @staticmethod
    def make(n: int, dim: int, seed: int) -> People:
        rng = np.random.default_rng(seed)
        common = l2_normalise(rng.standard_normal(dim).astype(np.float32))
        scatter = rng.standard_normal((n, dim)).astype(np.float32) / math.sqrt(dim)
        return People(l2_normalise(COMMON * common + scatter), rng)

    def view(self, person: int, spread: float) -> np.ndarray:
        """A new look at ``person``: their centre plus noise of ``spread``, unit length."""
        dim = self.centres.shape[1]
        noise = self.rng.standard_normal(dim).astype(np.float32) / math.sqrt(dim)
        return l2_normalise(self.centres[person] + spread * noise)


def synthetic_video(
    people: People, number: int, per_video: int, thumbnail: bytes
) -> tuple[NewMedia, list[NewTracklet]]:
    """One hour of one camera: people's visits of 1-5 pieces each, ``per_video`` tracklets in all."""
    from reidkit.core.vectors import mean_direction

    rng = people.rng
    width, height = 768, 432
    tracklets: list[NewTracklet] = []
    while len(tracklets) < per_video:
        person = int(rng.integers(len(people.centres)))
        t = float(rng.uniform(0.0, VIDEO_SECONDS - 120.0))
        x, y = float(rng.uniform(60, width - 160)), float(rng.uniform(40, height - 220))
        for _ in range(min(int(rng.integers(1, 6)), per_video - len(tracklets))):
            duration = float(rng.uniform(2.0, 15.0))
            frames = np.arange(round(t * FPS), round((t + duration) * FPS) + 1, STEP, dtype=np.int64)
            drift = np.cumsum(rng.normal(0.0, 2.0, size=(len(frames), 2)), axis=0).astype(np.float32)
            boxes = np.column_stack(
                [x + drift[:, 0], y + drift[:, 1], x + 60 + drift[:, 0], y + 180 + drift[:, 1]]
            )
            vector = people.view(person, TRACKLET_SPREAD)
            dim = vector.shape[0]
            crops = l2_normalise(
                vector + CROP_SPREAD * rng.standard_normal((CROPS, dim)).astype(np.float32) / math.sqrt(dim)
            )
            qualities = np.sort(rng.uniform(0.3, 1.0, CROPS).astype(np.float32))[::-1]
            picked = np.linspace(0, len(frames) - 1, CROPS).round().astype(int)
            tracklets.append(
                NewTracklet(
                    track_id=len(tracklets) + 1,
                    frames=frames,
                    times=frames / FPS,
                    boxes=boxes.astype(np.float32),
                    vector=mean_direction(crops),
                    crop_vectors=crops,
                    best_frame=int(frames[picked[0]]),
                    best_box=boxes[picked[0]].astype(np.float32),
                    thumbnail_jpeg=thumbnail,
                    quality=float(qualities[0]),
                    crop_frames=frames[picked],
                    crop_qualities=qualities,
                )
            )
            t += duration + float(rng.uniform(0.3, 2.5))  # hidden for a moment, then the next piece
            x, y = float(x + rng.normal(0, 15)), float(y + rng.normal(0, 5))
    media = NewMedia(
        f"/synthetic/camera{number % 50:02d}/hour{number:06d}.mp4",
        f"synthetic-{number:08d}",
        "video",
        FPS,
        int(VIDEO_SECONDS * FPS),
        VIDEO_SECONDS,
        width,
        height,
    )
    return media, tracklets


def real_files(out: Path, shared: Path) -> list[tuple[NewMedia, list[NewTracklet]]]:
    """The shared videos' tracklets, indexed once with the default model (cached in ``out/real``)."""
    root = out / "real"
    if not (root / "library.sqlite").is_file():
        from reidkit.index.indexer import IndexOptions, index_media

        shutil.rmtree(root, ignore_errors=True)
        videos = [shared / "data" / "videos" / name for name in SHARED_VIDEOS]
        index_media(
            [str(v) for v in videos if v.is_file()], root, model=MODEL, options=IndexOptions(progress=False)
        )
    with Library.open(root) as real:
        return [stored_file(real, media) for media in real.media_list()]


def make_queries(people: People, real: list[tuple[NewMedia, list[NewTracklet]]], n: int) -> np.ndarray:
    """Half a crop of a real tracklet (a photo of someone in the shared videos), half a synthetic view."""
    crops = [t.crop_vectors[-1] for _, tracklets in real for t in tracklets]
    rng = np.random.default_rng(7)
    picked = (
        [crops[i] for i in rng.choice(len(crops), size=min(len(crops), n // 2), replace=False)]
        if crops
        else []
    )
    synthetic = [
        people.view(int(p), TRACKLET_SPREAD) for p in rng.integers(len(people.centres), size=n - len(picked))
    ]
    return np.stack([*picked, *synthetic]).astype(np.float32)


# ------------------------------------------------------------------------------------------------ reader


def rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_side(
    root: Path, queries_path: Path, nprobes: list[int], refines: list[int]
) -> list[dict[str, float]]:
    """What a fresh reader process meets: open, search latency, memory, recall against exact search.

    One row per IVF ``nprobe`` and refine factor (a reader's own settings; nprobe is ignored by Flat
    and HNSW indexes, refine by Flat)."""
    from reidkit.search.engine import search_vector

    queries = np.load(queries_path)
    t0, c0 = time.perf_counter(), time.process_time()
    lib = Library.open(root)
    opened, opened_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    search_vector(lib, queries[0], top=TOP)
    first = time.perf_counter() - t0
    runs = []
    for nprobe, refine in [(n, r) for r in refines for n in nprobes]:
        lib.nprobe = nprobe
        lib._store.refine_factor = refine
        search_vector(lib, queries[0], top=TOP)
        times, cpu, found = [], [], []
        for q in queries:
            t0, c0 = time.perf_counter(), time.process_time()
            moments = search_vector(lib, q, top=TOP)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            found.append([m.tracklet_ids for m in moments])
        runs.append((nprobe, refine, times, cpu, found))
    rss = rss_mib()
    # The exact answer: the same library and code, its vector store scanning every row (no ANN index).
    lib._store.ann = None
    exact = [[m.tracklet_ids for m in search_vector(lib, q, top=TOP)] for q in queries]
    lib.close()

    def recall(found: list[list[tuple[int, ...]]], top: int) -> float:
        return float(
            np.mean(
                [
                    len(set(e[:top]) & set(f[:top])) / max(1, len(e[:top]))
                    for e, f in zip(exact, found, strict=True)
                ]
            )
        )

    return [
        {
            "nprobe": nprobe,
            "refine": refine,
            "open_s": opened,
            "open_cpu_s": opened_cpu,
            "first_ms": first * 1e3,
            "p50_ms": float(np.percentile(np.array(times) * 1e3, 50)),
            "p99_ms": float(np.percentile(np.array(times) * 1e3, 99)),
            "cpu_p50_ms": float(np.percentile(np.array(cpu) * 1e3, 50)),
            "rss_mib": rss,
            "recall": recall(found, TOP),
            "recall5": recall(found, 5),
        }
        for nprobe, refine, times, cpu, found in runs
    ]


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10000,100000", help="tracklet counts to measure at, comma-separated"
    )
    parser.add_argument("--per-video", type=int, default=200)
    parser.add_argument("--index", default="auto", help="the library's index (Library.create_or_open)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--nprobe", default="16,64", help="IVF lists a reader searches, one row each")
    parser.add_argument(
        "--refine", default="20", help="approximate candidates per hit re-scored exactly, one row each"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "library_scale")
    parser.add_argument("--root", type=Path, help="the library folder (default: a temporary one, deleted)")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--read", nargs=4, metavar=("ROOT", "QUERIES", "NPROBES", "REFINES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.read:
        root, queries, nprobes, refines = args.read
        numbers = [[int(n) for n in arg.split(",")] for arg in (nprobes, refines)]
        print(json.dumps(read_side(Path(root), Path(queries), *numbers)))
        return
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(args.shared / "models"))
    sizes = sorted(int(s) for s in args.sizes.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    real = real_files(args.out, args.shared)
    dim = len(real[0][1][0].vector) if real else 256
    people = People.make(max(1000, sizes[-1] // 20), dim, args.seed)
    queries_path = args.out / "queries.npy"
    np.save(queries_path, make_queries(people, real, args.queries))
    import cv2

    thumbnail = cv2.imencode(".jpg", np.full((64, 32, 3), 128, np.uint8))[1].tobytes()
    temporary = args.root is None
    root = Path(tempfile.mkdtemp(prefix="library_scale_", dir=args.out)) if temporary else args.root
    print(f"growing {root} to {sizes[-1]:,} tracklets ({args.index}, dim {dim})", file=sys.stderr)
    rows = []
    try:
        lib = Library.create_or_open(root, model=MODEL, dim=dim, index=args.index)
        for media, tracklets in real:
            lib.add_media(media, tracklets)
        number, adds, adds_cpu = 0, [], []
        for size in sizes:
            while len(lib) < size:
                media, tracklets = synthetic_video(people, number, args.per_video, thumbnail)
                number += 1
                t0, c0 = time.perf_counter(), time.process_time()
                lib.add_media(media, tracklets)
                adds.append(time.perf_counter() - t0)
                adds_cpu.append(time.process_time() - c0)
                if number % 50 == 0:
                    print(f"  {len(lib):,} tracklets, last add {adds[-1]:.2f} s", file=sys.stderr)
            reader = subprocess.run(
                [sys.executable, __file__, "--read", str(root), str(queries_path), args.nprobe, args.refine],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            measured = json.loads(reader.stdout.strip().splitlines()[-1])
            added = {"add_s": float(np.median(adds[-20:])), "add_cpu_s": float(np.median(adds_cpu[-20:]))}
            rows.extend({"tracklets": len(lib), **added, **m} for m in measured)
            print(f"  measured at {len(lib):,}: {measured}", file=sys.stderr)
        lib.close()
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"\n{args.index} index, {args.per_video} tracklets per video, {CROPS} crops each, {args.queries} queries"
    )
    print(
        "| tracklets | add video (CPU) | open (CPU) | RSS | first search | nprobe | refine | search p50 (CPU)"
        " | search p99 | recall@20 | recall@5 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['tracklets']:,} | {r['add_s']:.2f} s ({r['add_cpu_s']:.2f}) | {r['open_s']:.2f} s ({r['open_cpu_s']:.2f}) "
            f"| {r['rss_mib']:.0f} MiB | {r['first_ms']:.0f} ms | {r['nprobe']} | {r['refine']} | {r['p50_ms']:.1f} ms ({r['cpu_p50_ms']:.1f}) "
            f"| {r['p99_ms']:.1f} ms | {r['recall']:.3f} | {r['recall5']:.3f} |"
        )
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
