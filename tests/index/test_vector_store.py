"""The vector store: checksums, exact vs approximate search by size, refine, removal masks, live readers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from reidkit.core.vectors import l2_normalise
from reidkit.index import vector_store
from reidkit.index.library import Library
from reidkit.index.vector_store import vector_checksum
from tests.index.test_library import DIM, make_tracklet, media


def test_checksum_is_additive_and_sees_swaps_and_bit_flips() -> None:
    rng = np.random.default_rng(0)
    ids = np.arange(10, dtype=np.int64)
    vectors = rng.standard_normal((10, DIM), dtype=np.float32)
    whole = vector_checksum(ids, vectors)
    assert whole == (vector_checksum(ids[:4], vectors[:4]) + vector_checksum(ids[4:], vectors[4:])) % 2**64
    swapped = vectors.copy()
    swapped[[2, 3]] = swapped[[3, 2]]
    assert vector_checksum(ids, swapped) != whole  # same vectors under other ids
    within = vectors.copy()
    within[0, [0, 2]] = within[0, [2, 0]]
    assert vector_checksum(ids, within) != whole
    flipped = vectors.copy()
    flipped.view(np.uint32)[5, 3] ^= 1
    assert vector_checksum(ids, flipped) != whole


def grow(lib: Library, videos: int, per_video: int, rng: np.random.Generator, first: int = 0) -> None:
    centres = l2_normalise(rng.standard_normal((40, DIM)).astype(np.float32))
    for v in range(first, first + videos):
        people = centres[rng.integers(0, 40, per_video)]
        vecs = l2_normalise(people + 0.15 * rng.standard_normal(people.shape).astype(np.float32))
        lib.add_media(
            media(f"{v}.mp4", f"{v:064d}"), [make_tracklet(t + 1, vecs[t]) for t in range(per_video)]
        )


def exact_top(lib: Library, query: np.ndarray, k: int) -> list[int]:
    ids, vectors = lib.tracklet_vectors()
    return ids[np.argsort(-(vectors @ l2_normalise(query)))[:k]].tolist()


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The approximate index from 300 vectors on, re-saved every 100 new rows, shards of 256 rows."""
    monkeypatch.setattr(vector_store, "EXACT_MAX_VECTORS", 300)
    monkeypatch.setattr(vector_store, "ANN_TAIL_MAX", 100)
    monkeypatch.setattr(vector_store, "SHARD_ROWS", 256)


def test_auto_index_switches_to_ivf_past_the_bound_with_exact_scores(
    tmp_path: Path, small_bounds: None
) -> None:
    rng = np.random.default_rng(1)
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        grow(lib, 14, 20, rng)  # 280: exact
        assert lib._store.ann is None
        grow(lib, 20, 20, rng, first=14)  # 680: approximate, over 3 shards, with an exact tail
        assert lib._store.ann is not None and lib._store.ann_state is not None
        assert lib._store.ann_state.spec.startswith("IVF") and len(lib._store.shards) >= 3
        assert lib._store.uncovered_rows() <= 100
    with Library.open(tmp_path) as reader:
        ids, vectors = reader.tracklet_vectors()
        recalls = []
        for row in rng.choice(len(ids), 20, replace=False):
            q = vectors[row] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
            hits = reader.search(q, 10)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            for h in hits:  # refined: true cosines, not 8-bit code estimates
                assert h.score == pytest.approx(
                    float(vectors[ids == h.tracklet.id][0] @ l2_normalise(q)), abs=1e-5
                )
            recalls.append(len({h.tracklet.id for h in hits} & set(exact_top(reader, q, 10))) / 10)
        assert np.mean(recalls) >= 0.9


def test_removed_tracklets_never_come_back_from_the_approximate_index(
    tmp_path: Path, small_bounds: None
) -> None:
    rng = np.random.default_rng(2)
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        grow(lib, 20, 20, rng)
        target = lib.tracklets(lib.media_id(f"{3:064d}"))[0]
        vector = lib.tracklet_vectors()[1][lib.tracklet_vectors()[0] == target.id][0]
        assert lib.search(vector, 1)[0].tracklet.id == target.id
        lib.remove_media("/videos/3.mp4")
        assert all(h.media.path != "/videos/3.mp4" for h in lib.search(vector, 50))
    with Library.open(tmp_path) as reader:
        assert all(h.media.path != "/videos/3.mp4" for h in reader.search(vector, 50))
        assert len(reader) == 19 * 20


def test_compaction_after_many_removals_keeps_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reidkit.index import library as library_module

    monkeypatch.setattr(library_module, "COMPACT_MIN_REMOVED", 10)
    rng = np.random.default_rng(3)
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        grow(lib, 8, 5, rng)
        for v in range(4):
            lib.remove_media(f"/videos/{v}.mp4")
        assert len(lib._store.removed) == 0 and lib._store.rows == 20  # compacted
        q = lib.tracklet_vectors()[1][7]
        assert [h.tracklet.id for h in lib.search(q, 5)] == exact_top(lib, q, 5)
    with Library.open(tmp_path) as reader:
        assert [h.tracklet.id for h in reader.search(q, 5)] == exact_top(reader, q, 5)


def test_a_reader_sees_what_a_writer_commits_and_never_half_an_add(tmp_path: Path) -> None:
    """Exact search (k >= the library) returns every live tracklet: each file is all there, or absent."""
    rng = np.random.default_rng(4)
    writer = Library.create_or_open(tmp_path, "fake", DIM)
    grow(writer, 2, 10, rng)
    reader = Library.open(tmp_path)
    errors: list[BaseException] = []
    seen: list[int] = []
    stop = threading.Event()

    def search_all_the_time() -> None:
        q = rng.standard_normal(DIM).astype(np.float32)
        while not stop.is_set():
            try:
                hits = reader.search(q, 1000)
                counts: dict[str, int] = {}
                for h in hits:
                    counts[h.media.path] = counts.get(h.media.path, 0) + 1
                assert set(counts.values()) <= {10}, counts  # every file whole
                seen.append(len(hits))
            except BaseException as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=search_all_the_time)
    thread.start()
    try:
        grow(writer, 40, 10, rng, first=2)
        for v in range(0, 40, 3):
            writer.remove_media(f"/videos/{v}.mp4")
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[0]
    assert len(set(seen)) > 1  # the reader did see the library grow
    assert len(reader.search(rng.standard_normal(DIM), 1000)) == len(writer)
    reader.close()
    writer.close()


def downgrade_to_version_1(root: Path) -> None:
    """Make ``root`` look like a library written before vector shards: no shard tables, version 1, a
    tracklets.faiss file, thumbnails flat in thumbs/."""
    import shutil
    import sqlite3

    import faiss

    db = sqlite3.connect(root / "library.sqlite")
    rows = db.execute("SELECT id, vector, thumbnail FROM tracklets").fetchall()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    index.add_with_ids(
        np.stack([np.frombuffer(r[1], np.float32) for r in rows]), np.array([r[0] for r in rows])
    )
    faiss.write_index(index, str(root / "tracklets.faiss"))
    for tracklet_id, _, thumbnail in rows:
        flat = f"thumbs/{Path(thumbnail).name}"
        (root / thumbnail).rename(root / flat)
        db.execute("UPDATE tracklets SET thumbnail = ? WHERE id = ?", (flat, tracklet_id))
    db.execute("DROP TABLE vector_shards")
    db.execute("DROP TABLE removed_vectors")
    db.execute("DELETE FROM meta WHERE key IN ('generation', 'next_tracklet_id')")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    db.commit()
    db.close()
    shutil.rmtree(root / "vectors")


def test_a_library_from_before_vector_shards_is_read_and_migrated(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        grow(lib, 6, 4, rng)
        q = rng.standard_normal(DIM).astype(np.float32)
        before = [(h.tracklet.id, h.score) for h in lib.search(q, 8)]
    downgrade_to_version_1(tmp_path)
    with Library.open(tmp_path) as old:  # a reader reads it as it is
        assert [(h.tracklet.id, h.score) for h in old.search(q, 8)] == before
        assert (tmp_path / old.search(q, 1)[0].tracklet.thumbnail).is_file()
    assert not (tmp_path / "vectors").exists()
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:  # the next writer migrates it
        assert lib.version == 2 and not (tmp_path / "tracklets.faiss").exists()
        assert [(h.tracklet.id, h.score) for h in lib.search(q, 8)] == before
        lib.remove_media("/videos/0.mp4")  # its thumbnails are flat: removed all the same
        grow(lib, 1, 4, rng, first=10)
        assert all(h.media.path != "/videos/0.mp4" for h in lib.search(q, 30))
    assert sorted(p.parent.name for p in (tmp_path / "thumbs").rglob("*.jpg")).count("thumbs") == 5 * 4
    with Library.open(tmp_path) as reader:
        assert len(reader) == 6 * 4 and len(reader._store.shards) == 1


def test_flat_stays_exact_and_hnsw_removals_are_masked(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    with Library.create_or_open(tmp_path / "flat", "fake", DIM, index="Flat") as lib:
        grow(lib, 40, 10, rng)
        assert lib._store.ann is None
    with Library.create_or_open(tmp_path / "hnsw", "fake", DIM, index="HNSW8") as lib:
        grow(lib, 10, 10, rng)
        assert lib._store.ann is not None
        victim = lib.tracklets(lib.media_id(f"{4:064d}"))[0].id
        vector = lib.tracklet_vectors()[1][lib.tracklet_vectors()[0] == victim][0]
        assert lib.search(vector, 1)[0].tracklet.id == victim
        lib.remove_media("/videos/4.mp4")
        assert all(h.media.path != "/videos/4.mp4" for h in lib.search(vector, 20))


def test_opening_reads_no_vector_from_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        grow(lib, 5, 10, rng)

    def forbidden(self: Library) -> None:
        raise AssertionError("opening read every vector from SQLite")

    monkeypatch.setattr(Library, "tracklet_vectors", forbidden)
    with Library.open(tmp_path) as reader:
        assert len(reader.search(rng.standard_normal(DIM), 5)) == 5
    with Library.create_or_open(tmp_path, "fake", DIM) as writer:
        grow(writer, 1, 10, rng, first=5)


def test_a_damaged_approximate_index_falls_back_to_exact_and_is_rebuilt(
    tmp_path: Path, small_bounds: None
) -> None:
    rng = np.random.default_rng(8)
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        grow(lib, 20, 20, rng)
        assert lib._store.ann_state is not None
        ann = tmp_path / "vectors" / lib._store.ann_state.file
    data = bytearray(ann.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    ann.write_bytes(bytes(data))
    q = rng.standard_normal(DIM).astype(np.float32)
    with Library.open(tmp_path) as reader:
        assert reader._store.ann is None  # the checksum failed: exact search
        assert [h.tracklet.id for h in reader.search(q, 5)] == exact_top(reader, q, 5)
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        assert lib._store.ann is not None  # the writer rebuilt it
    with Library.open(tmp_path) as reader:
        assert reader._store.ann is not None


def test_a_kill_after_a_rebuild_commits_leaves_a_library_writers_take(tmp_path: Path) -> None:
    """The shards a committed rebuild replaced are deleted by the next writer, not refused by it."""
    import os

    from reidkit.index.library import Library, NewMedia, NewTracklet

    lib = Library.create_or_open(tmp_path, "m", 4)
    for k in range(2):
        v = np.eye(4, dtype=np.float32)[k]
        box = np.array([0, 0, 10, 10], np.float32)
        tracklet = NewTracklet(
            1, np.array([0, 1]), np.array([0.0, 0.1]), np.stack([box, box]), v, v[None], 0, box, b"jpg", 1.0
        )
        lib.add_media(NewMedia(f"/v{k}.mp4", f"sha{k}", "video", 10, 10, 1, 64, 64), [tracklet])
    lib._store.delete_unlisted = lambda *a, **k: None  # type: ignore[method-assign]
    lib._delete_pending_files = lambda: None  # type: ignore[method-assign]  # killed right after the commit
    lib._rebuild_store("test")
    lib._conn.close()
    assert lib._lock is not None
    lib._lock.release()
    before = sorted(os.listdir(tmp_path / "vectors"))
    with Library.create_or_open(tmp_path, "m", 4) as writer:
        assert len(writer) == 2
        assert writer.search(np.eye(4, dtype=np.float32)[1], 1)[0].media.path == "/v1.mp4"
    assert len(os.listdir(tmp_path / "vectors")) < len(before)  # the replaced shard is gone


def grown_with_an_index(root: Path) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """A library past the exact bound (small_bounds): its ids, vectors and the rows its index covers."""
    rng = np.random.default_rng(9)
    with Library.create_or_open(root, "fake", DIM) as lib:
        grow(lib, 20, 20, rng)
        assert lib._store.ann_state is not None
        covered = dict(lib._store.ann_state.covered)
        ids, vectors = lib.tracklet_vectors()
    return ids, vectors, covered


def count_checked_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows hashed by vector_store.row_checksums from now on, one entry per call."""
    calls: list[int] = []
    real = vector_store.row_checksums

    def counting(ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        calls.append(len(np.asarray(ids).reshape(-1)))
        return real(ids, vectors)

    monkeypatch.setattr(vector_store, "row_checksums", counting)
    return calls


def test_opening_checks_only_the_rows_the_approximate_index_does_not_cover(
    tmp_path: Path, small_bounds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, vectors, covered = grown_with_an_index(tmp_path)
    calls = count_checked_rows(monkeypatch)
    with Library.open(tmp_path) as reader:
        assert sum(calls) == len(ids) - sum(covered.values())  # the tail only: the rest by its sums
        hits = reader.search(vectors[5], 3)
        assert hits[0].tracklet.id == ids[5]
        # Each search checks the candidates it re-scores, not the library, and each row once.
        assert sum(calls[1:]) < len(ids) / 2
        checked = sum(calls)
        assert reader.search(vectors[5], 3)[0].tracklet.id == ids[5]
        assert sum(calls) == checked


def test_a_row_damaged_under_the_approximate_index_is_found_when_read_and_repaired(
    tmp_path: Path, small_bounds: None
) -> None:
    ids, vectors, covered = grown_with_an_index(tmp_path)
    assert covered.get(0, 0) > 7
    shard = tmp_path / "vectors" / "shard-000000.f32"
    damaged = np.fromfile(shard, np.float32).reshape(-1, DIM)
    damaged[7] = -damaged[7]  # still a unit vector, silently wrong, and not checked by opening
    damaged.tofile(shard)
    with Library.open(tmp_path) as reader:
        hit = reader.search(vectors[7], 1)[0]  # finds the damage, rebuilds from library.sqlite
        assert hit.tracklet.id == ids[7] and hit.score == pytest.approx(1.0, abs=1e-5)
    assert not shard.exists()  # no writer held the library: the reader saved the repair
    with Library.open(tmp_path) as reader:
        assert reader.search(vectors[7], 1)[0].tracklet.id == ids[7]


def test_row_sums_missing_or_damaged_mean_a_whole_check_and_a_writer_writes_them_again(
    tmp_path: Path, small_bounds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, vectors, _ = grown_with_an_index(tmp_path)
    sums = sorted((tmp_path / "vectors").glob("shard-*.sums"))
    assert len(sums) >= 2
    sums[0].unlink()  # a library from before row sums
    data = bytearray(sums[1].read_bytes())
    data[8:16] = bytes(8)
    sums[1].write_bytes(bytes(data))
    calls = count_checked_rows(monkeypatch)
    with Library.open(tmp_path) as reader:  # reads: checks those two shards whole, changes nothing
        assert sum(calls) == len(ids)
        assert reader.search(vectors[300], 1)[0].tracklet.id == ids[300]
    assert not sums[0].exists()
    rng = np.random.default_rng(10)
    with Library.create_or_open(tmp_path, "fake", DIM) as writer:
        grow(writer, 1, 5, rng, first=50)
    assert sums[0].exists() and sums[1].read_bytes() != bytes(data)
    calls.clear()
    with Library.open(tmp_path) as reader:
        assert sum(calls) < len(ids) / 2  # both shards' sums are whole again
        assert reader.search(vectors[3], 1)[0].tracklet.id == ids[3]
