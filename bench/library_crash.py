"""Crash test: ``kill -9`` the indexer and ``reidkit remove`` at random points, resume, compare.

Each round starts an empty library, indexes a folder of synthetic media in a child process and kills
it (SIGKILL) at a random moment of its work, checks the library as the kill left it, resumes the
indexing to the end; then runs ``reidkit remove`` on a fixed half of the files, kills that at a random
moment, checks, and runs the same command again. After every kill:

* no duplicate (each file at most once) and nothing half-written (a file is there with all of its
  tracklets, or absent);
* the vector store holds exactly the database's tracklets;

and after every resume, the library equals the one of an unbroken run: the same files, the same
tracklets, the same thumbnails on disk (none missing, none left over) and the same search results
for fixed queries, score for score.

    python bench/library_crash.py                  # 12+ rounds, >= 20 kills, a few minutes
    python bench/library_crash.py --rounds 3 --files 20

The indexer is reidkit's own (``index_media``: the loop of ``reidkit index``) with a colour-blob
detector and a colour embedder (no model files), on synthetic still images and short videos.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
BACKGROUND = 128
COLOURS = [(40, 40, 220), (220, 60, 40), (50, 200, 50), (200, 200, 40), (200, 40, 200), (40, 200, 200)]

CHILD_INDEX = """
import sys
sys.path[:0] = [{repo!r}, {repo!r} + "/bench"]
from library_crash import ColourEmbedder, blob_detector
from reidkit.index.indexer import IndexOptions, index_media
print("ready", flush=True)
index_media([{media!r}], {library!r}, detector=blob_detector(), model=ColourEmbedder(),
            options=IndexOptions(progress=False, min_tracklet_length=2, split_tracklets=False, prefetch=0))
"""

CHILD_REMOVE = """
import sys
sys.path.insert(0, {repo!r})
from reidkit.cli import main
print("ready", flush=True)
sys.exit(main(["remove", *{files!r}, "--library", {library!r}]))
"""


def blob_detector() -> object:
    """The coloured rectangles on the grey background (a detector with perfect recall): the tests'
    background-difference detector on this bench's frames."""
    from tests.index.fakes import BackgroundDetector

    return BackgroundDetector(np.full((240, 320, 3), BACKGROUND, np.uint8), threshold=90, min_area=201)


class ColourEmbedder:
    """Appearance = the mean colour of the crop's centre (3-D, no model)."""

    name = "colour-test"
    dim = 4

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        rows = []
        for crop in crops:
            h, w = crop.shape[:2]
            centre = crop[h // 4 : 3 * h // 4 + 1, w // 4 : 3 * w // 4 + 1].reshape(-1, 3).mean(0)
            rows.append([*(centre - BACKGROUND / 2), h / 10.0])
        out = np.array(rows, np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def make_media(folder: Path, files: int, seed: int = 0) -> list[Path]:
    """``files`` synthetic files: still images of 1-4 people, every fourth a short video."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        people = int(rng.integers(1, 5))
        colours = [COLOURS[int(c)] for c in rng.choice(len(COLOURS), people, replace=False)]
        if i % 4 == 3:
            path = folder / f"clip{i:03d}.avi"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
            for frame in range(30):
                image = np.full((240, 320, 3), BACKGROUND, np.uint8)
                for p, colour in enumerate(colours):
                    x = 10 + p * 75 + frame
                    cv2.rectangle(image, (x, 60), (x + 30, 60 + 80 + 10 * p), colour, -1)
                writer.write(image)
            writer.release()
        else:
            path = folder / f"photo{i:03d}.png"
            image = np.full((240, 320, 3), BACKGROUND, np.uint8)
            for p, colour in enumerate(colours):
                x, y = 10 + p * 75, int(rng.integers(20, 100))
                cv2.rectangle(image, (x, y), (x + 30, y + 70 + 10 * p), colour, -1)
            cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


@dataclass
class Outcome:
    files: dict[str, int]  # path -> tracklets
    thumbnails: set[str]
    results: list[list[tuple[str, int, int, float]]]  # per query: (path, track id, start frame, score)


def queries(dim: int = 4, n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(7)
    q = rng.standard_normal((n, dim)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def inspect(library: Path) -> Outcome:
    """What the library holds; raises AssertionError if it is inconsistent."""
    from reidkit.index.library import Library

    with Library.open(library) as lib:
        media = lib.media_list()
        paths = [m.path for m in media]
        assert len(paths) == len(set(paths)), f"duplicate files: {paths}"
        files = {m.path: len(lib.tracklet_ids(m.id)) for m in media}
        ids = set(lib.tracklet_vectors()[0].tolist())
        store_ids = set(lib._store.live_vectors()[0].tolist())
        assert ids == store_ids, f"vector store {len(store_ids)} != database {len(ids)} tracklets"
        owned = {t.thumbnail for t in lib.tracklets()}
        results = []
        if len(lib):
            for q in queries():
                hits = lib.search(q, 10)
                results.append(
                    [
                        (h.media.path, h.tracklet.track_id, h.tracklet.start_frame, round(h.score, 6))
                        for h in hits
                    ]
                )
    on_disk = {str(p.relative_to(library)) for p in (library / "thumbs").rglob("*") if p.is_file()}
    missing = owned - on_disk
    assert not missing, f"{len(missing)} thumbnails missing"
    return Outcome(files, on_disk, results)


def recorded(library: Path) -> bool:
    """Whether a killed first run got as far as recording the library (its model)."""
    import sqlite3

    db = library / "library.sqlite"
    if not db.is_file():
        return False
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT 1 FROM meta WHERE key = 'model'").fetchone() is not None
    except sqlite3.OperationalError:  # no meta table yet
        return False
    finally:
        conn.close()


def run_child(code: str, kill_after: float | None, ok: tuple[int, ...] = (0, 1)) -> tuple[bool, float]:
    """Run ``code``; SIGKILL it ``kill_after`` seconds after it is ready (None: let it finish).

    Returns (killed, seconds it worked). An exit status not in ``ok`` raises."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.wait()
        raise RuntimeError(f"child failed to start: {proc.stderr.read() if proc.stderr else ''}")
    t0 = time.perf_counter()
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True, time.perf_counter() - t0
    _, err = proc.communicate(timeout=600)
    if proc.returncode not in ok:
        raise RuntimeError(f"child exited {proc.returncode}: {err.strip()[-2000:]}")
    return False, time.perf_counter() - t0


def index_code(media: Path, library: Path) -> str:
    return CHILD_INDEX.format(repo=str(REPO), media=str(media), library=str(library))


def remove_code(files: list[str], library: Path) -> str:
    return CHILD_REMOVE.format(repo=str(REPO), files=files, library=str(library))


def same(a: Outcome, b: Outcome, what: str) -> None:
    assert a.files == b.files, f"{what}: files differ"
    assert a.thumbnails == b.thumbnails, f"{what}: thumbnails differ ({len(a.thumbnails ^ b.thumbnails)})"
    assert a.results == b.results, f"{what}: search results differ"


def crash_rounds(
    work: Path, rounds: int, files: int, seed: int = 0, log: bool = True, min_kills: int = 0
) -> tuple[int, int]:
    """Run ``rounds`` crash rounds, more (up to twice as many) until ``min_kills`` kills landed.

    Returns (rounds run, kills that landed: a kill timed after the child finished does not count).
    Raises AssertionError on a fault."""
    media = make_media(work / "media", files, seed)
    to_remove = [str(p.resolve()) for p in media[::2]]
    reference = work / "reference"
    _, index_seconds = run_child(index_code(work / "media", reference), None)
    indexed = inspect(reference)
    _, remove_seconds = run_child(remove_code(to_remove, reference), None)
    removed = inspect(reference)
    assert len(indexed.files) == files and len(removed.files) == files - len(to_remove)
    rng = random.Random(seed)
    kills = 0
    r = 0
    while r < rounds or (kills < min_kills and r < 2 * rounds):
        library = work / f"round{r}"
        # Within the work of an unbroken run (runs vary: a kill timed later would find it finished).
        killed, _ = run_child(index_code(work / "media", library), rng.uniform(0.0, 0.9 * index_seconds))
        kills += killed
        if recorded(library):
            partial = inspect(library)
            for path, n in partial.files.items():
                assert n == indexed.files[path], (
                    f"round {r}: {path} half-indexed ({n} of {indexed.files[path]})"
                )
        run_child(index_code(work / "media", library), None)
        same(inspect(library), indexed, f"round {r}, indexing resumed")
        killed_remove, _ = run_child(remove_code(to_remove, library), rng.uniform(0.0, 0.9 * remove_seconds))
        kills += killed_remove
        partial = inspect(library)
        assert set(removed.files) <= set(partial.files) <= set(indexed.files), (
            f"round {r}: removal lost a file"
        )
        for path, n in partial.files.items():
            assert n == indexed.files[path], f"round {r}: {path} half-removed"
        # Run again: removes what is left (exit 1 names those already gone; 2 when all were).
        run_child(remove_code(to_remove, library), None, ok=(0, 1, 2))
        same(inspect(library), removed, f"round {r}, removal resumed")
        if log:
            print(
                f"round {r:2d}: indexer {'killed' if killed else 'finished'}, "
                f"remove {'killed' if killed_remove else 'finished'}: equal to the unbroken run",
                flush=True,
            )
        shutil.rmtree(library)
        r += 1
    return r, kills


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=12, help="rounds (two kill attempts each)")
    parser.add_argument(
        "--kills", type=int, default=20, help="run more rounds (up to 2x) until this many kills landed"
    )
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reidkit-crash-") as tmp:
        t0 = time.perf_counter()
        rounds, kills = crash_rounds(Path(tmp), args.rounds, args.files, args.seed, min_kills=args.kills)
        print(
            f"{rounds} rounds, {kills} kills landed (of {2 * rounds}): 0 duplicates, 0 lost, "
            f"search equal to the unbroken run every time ({time.perf_counter() - t0:.0f} s)"
        )


if __name__ == "__main__":
    main()
