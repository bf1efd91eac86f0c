"""Library: round trip, model mismatch, duplicates, crash safety, the writer lock."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from reidkit.core.errors import LibraryError
from reidkit.core.gallery import VisitHead
from reidkit.index.library import Library, NewMedia, NewTracklet
from reidkit.search import search_vector
from tests.search.fakes import FakeLibrary, as_library, identity, mix

DIM = 8
JPEG = b"\xff\xd8\xff\xd9"  # the library stores thumbnail bytes as given


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def make_tracklet(track_id: int, vector: np.ndarray, n: int = 3, start: int = 0) -> NewTracklet:
    frames = np.arange(start, start + n)
    boxes = np.tile(np.array([10, 20, 50, 120], np.float32), (n, 1)) + frames[:, None]
    # Two crops either side of the vector: the library stores their mean direction, which is it.
    side = np.roll(unit(vector), 1) * 0.01
    crop_vectors = np.stack([unit(vector + side), unit(vector - side)])
    return NewTracklet(
        track_id=track_id,
        frames=frames,
        times=frames / 10.0,
        boxes=boxes,
        vector=unit(vector),
        crop_vectors=crop_vectors,
        best_frame=int(frames[1 % n]),
        best_box=boxes[1 % n],
        thumbnail_jpeg=JPEG,
        quality=0.7,
        crop_frames=frames[:2],
        crop_qualities=np.array([0.7, 0.5]),
    )


def media(name: str, sha: str) -> NewMedia:
    return NewMedia(f"/videos/{name}", sha, "video", 10.0, 100, 10.0, 640, 480)


def basis(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    return v


def test_round_trip_search_and_reopen(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    with Library.create_or_open(root, "fake", DIM) as lib:
        m1 = lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0)), make_tracklet(2, basis(1))])
        m2 = lib.add_media(media("b.mp4", "b" * 64), [make_tracklet(1, basis(2) + 0.1 * basis(0))])
        assert len(lib) == 3 and m1 != m2
        hits = lib.search(basis(0), k=10)
        assert [h.media.id for h in hits][:2] == [m1, m2]
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    lib = Library.open(root)
    assert (lib.model, lib.dim, len(lib)) == ("fake", DIM, 3)
    hit = lib.search(basis(1), k=1)[0]
    t = hit.tracklet
    assert (t.track_id, t.start_frame, t.end_frame, t.start, t.end) == (2, 0, 2, 0.0, 0.2)
    assert t.frames.tolist() == [0, 1, 2] and t.boxes.shape == (3, 4) and t.n_crops == 2
    assert (root / t.thumbnail).read_bytes() == JPEG
    assert hit.media.path == "/videos/a.mp4" and hit.media.kind == "video" and hit.media.fps == 10.0
    assert lib.crop_vectors(t.id).shape == (2, DIM)
    assert [m.sha256[0] for m in lib.media_list()] == ["a", "b"]
    assert len(lib.tracklets(m1)) == 2 and len(lib.tracklets()) == 3
    lib.close()


def test_model_mismatch_is_refused(tmp_path: Path) -> None:
    Library.create_or_open(tmp_path, "osnet", DIM).close()
    with pytest.raises(LibraryError, match=r"built with model 'osnet'.*--model osnet"):
        Library.create_or_open(tmp_path, "retail-0287", DIM)
    Library.create_or_open(tmp_path, "osnet", DIM).close()  # the lock was released


def two_model_files(tmp_path: Path) -> tuple[Path, Path]:
    """Two different files both called mine.onnx."""
    first, second = tmp_path / "a" / "mine.onnx", tmp_path / "b" / "mine.onnx"
    for path, content in ((first, b"weights A"), (second, b"weights B")):
        path.parent.mkdir()
        path.write_bytes(content)
    return first, second


def test_a_model_file_of_the_same_name_but_other_content_is_refused(tmp_path: Path) -> None:
    first, second = two_model_files(tmp_path)
    root = tmp_path / "lib"
    with Library.create_or_open(root, "mine", DIM, model_file=first) as lib:
        assert lib.model_sha256 == hashlib.sha256(b"weights A").hexdigest()
    with pytest.raises(LibraryError) as err:
        Library.create_or_open(root, "mine", DIM, model_file=second)
    message = str(err.value)
    assert str(first) in message and str(second) in message and f"--model {first}" in message
    assert "\n" not in message
    Library.create_or_open(root, "mine", DIM, model_file=first).close()  # the same file is fine
    reader = Library.open(root)
    reader.check_model_file(first)
    with pytest.raises(LibraryError, match="not comparable"):
        reader.check_model_file(second)


def test_a_library_from_before_model_hashes_opens_and_records_the_next_model(tmp_path: Path) -> None:
    first, second = two_model_files(tmp_path)
    root = tmp_path / "lib"
    Library.create_or_open(root, "mine", DIM).close()  # no model file: as libraries were made before
    old = Library.open(root)
    assert old.model_sha256 is None
    old.check_model_file(second)  # nothing recorded, nothing to refuse
    Library.create_or_open(root, "mine", DIM, model_file=first).close()
    assert Library.open(root).model_file == str(first.resolve())
    with pytest.raises(LibraryError, match="not comparable"):
        Library.create_or_open(root, "mine", DIM, model_file=second)


def test_duplicate_add_is_a_noop(tmp_path: Path) -> None:
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        first = lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0))])
        assert lib.has_media("a" * 64)
        again = lib.add_media(media("copy.mp4", "a" * 64), [make_tracklet(1, basis(3))])
        assert again == first and len(lib) == 1 and len(lib.media_list()) == 1


def test_empty_library_search_says_to_index(tmp_path: Path) -> None:
    Library.create_or_open(tmp_path, "fake", DIM).close()
    with pytest.raises(LibraryError, match=r"library is empty.*reidkit index"):
        Library.open(tmp_path).search(basis(0), k=5)


def test_open_missing_library(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match=r"not a library.*reidkit index"):
        Library.open(tmp_path / "nope")


def test_crash_mid_add_leaves_nothing_and_file_can_be_readded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = Library.create_or_open(tmp_path, "fake", DIM)
    lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0))])
    calls = {"n": 0}
    real_insert = Library._insert_tracklet

    def crash_on_second(self, cur, media_id, thumb, t, tracklet_id):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real_insert(self, cur, media_id, thumb, t, tracklet_id)

    monkeypatch.setattr(Library, "_insert_tracklet", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        lib.add_media(media("b.mp4", "b" * 64), [make_tracklet(1, basis(1)), make_tracklet(2, basis(2))])
    lib.close()
    monkeypatch.setattr(Library, "_insert_tracklet", real_insert)

    lib = Library.create_or_open(tmp_path, "fake", DIM)
    assert not lib.has_media("b" * 64) and len(lib) == 1
    files = sorted(p.name for p in (tmp_path / "thumbs").rglob("*") if p.is_file())
    assert files == [f"{'a' * 64}_1.jpg"]
    lib.add_media(media("b.mp4", "b" * 64), [make_tracklet(1, basis(1)), make_tracklet(2, basis(2))])
    assert len(lib) == 3 and lib.search(basis(2), k=1)[0].tracklet.track_id == 2
    lib.close()


def shard_file(root: Path) -> Path:
    return root / "vectors" / "shard-000000.f32"


def test_crash_after_vectors_are_written_before_the_commit_is_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = Library.create_or_open(tmp_path, "fake", DIM)
    lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0))])

    def die(self: Library, *args: object) -> None:
        raise KeyboardInterrupt("killed after the vectors were appended, before the commit")

    monkeypatch.setattr(Library, "_insert_media", die)
    with pytest.raises(KeyboardInterrupt):
        lib.add_media(media("b.mp4", "b" * 64), [make_tracklet(1, basis(1))])
    lib.close()
    monkeypatch.undo()
    assert shard_file(tmp_path).stat().st_size == 2 * DIM * 4  # the uncommitted row is on disk

    reader = Library.open(tmp_path)  # a reader maps the committed row only
    assert len(reader) == 1 and reader.search(basis(1), k=5)[0].media.path == "/videos/a.mp4"
    reader.close()
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:  # the next writer cuts it off
        assert shard_file(tmp_path).stat().st_size == DIM * 4
        lib.add_media(media("b.mp4", "b" * 64), [make_tracklet(1, basis(1))])
        assert lib.search(basis(1), k=1)[0].media.path == "/videos/b.mp4"


def test_missing_vector_files_are_rebuilt_from_the_database(tmp_path: Path) -> None:
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0)), make_tracklet(2, basis(1))])
    shard_file(tmp_path).unlink()
    with Library.open(tmp_path) as reader:
        assert reader.search(basis(1), k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    assert any((tmp_path / "vectors").glob("shard-*.f32"))  # the repair was saved (no writer held it)


def test_corrupt_vectors_are_detected_and_rebuilt(tmp_path: Path) -> None:
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0)), make_tracklet(2, basis(1))])
    data = bytearray(shard_file(tmp_path).read_bytes())
    data[: DIM * 4], data[DIM * 4 :] = data[DIM * 4 :], data[: DIM * 4]  # the two vectors swapped
    shard_file(tmp_path).write_bytes(bytes(data))
    with Library.open(tmp_path) as reader:
        hit = reader.search(basis(0), k=1)[0]
        assert hit.tracklet.track_id == 1 and hit.score == pytest.approx(1.0, abs=1e-5)


def test_second_writer_is_refused(tmp_path: Path) -> None:
    lib = Library.create_or_open(tmp_path, "fake", DIM)
    with pytest.raises(LibraryError, match=r"being written by pid"):
        Library.create_or_open(tmp_path, "fake", DIM)
    Library.open(tmp_path).close()  # readers are fine
    lib.close()


def test_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "library.sqlite").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(LibraryError, match=r"not a readable database"):
        Library.open(tmp_path)


def test_ivf_index_is_trained_once_enough_vectors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with Library.create_or_open(tmp_path, "fake", DIM, index="IVF2,Flat") as lib:
        for i in range(80):
            lib.add_media(media(f"{i}.mp4", f"{i:064d}"), [make_tracklet(1, rng.normal(size=DIM))])
        assert lib._store.ann is not None and "IVF" in type(lib._store.ann).__name__
        target = lib.tracklet_vectors()[1][4]
        lib.nprobe = 2
        assert lib.search(target, k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    db = sqlite3.connect(tmp_path / "library.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key='index'").fetchone()[0] == "IVF2,Flat"


WRITER = """
import sys, numpy as np
sys.path.insert(0, {repo!r})
from tests.index.test_library import Library, media, make_tracklet
lib = Library.create_or_open({root!r}, "fake", 8)
rng = np.random.default_rng(0)
for i in range(100000):
    lib.add_media(media(f"{{i}}.mp4", f"{{i:064d}}"), [make_tracklet(t, rng.normal(size=8)) for t in (1, 2, 3)])
    if i == 3:
        print("ready", flush=True)
"""


def test_kill_9_mid_writing_leaves_a_consistent_library(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    repo = str(Path(__file__).resolve().parents[2])
    code = WRITER.format(repo=repo, root=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    lib = Library.create_or_open(tmp_path, "fake", DIM)  # the lock died with the writer
    n_media = len(lib.media_list())
    assert n_media >= 4 and len(lib) == 3 * n_media  # every file complete, none half-written
    assert set(lib._store.live_vectors()[0].tolist()) == set(lib.tracklet_vectors()[0].tolist())
    lib.add_media(media("new.mp4", "f" * 64), [make_tracklet(1, basis(5))])
    assert lib.search(basis(5), k=1)[0].media.path == "/videos/new.mp4"
    lib.close()


def many_videos(root: Path, videos: int = 40) -> Path:
    """A library of ``videos`` files whose first tracklets are look-alikes of one person, the rest strangers."""
    fake = FakeLibrary(root / "fake")
    a = identity(1)
    for v in range(videos):
        video = fake.add_video(f"/v/{v}.mp4")
        fake.add_tracklet(video, 0.0, 5.0, mix(a, identity(100 + v), 0.5), seed=v)
        fake.add_tracklet(video, 5.5, 9.0, mix(a, identity(100 + v), 0.5), seed=v)  # the same visit
        for t in range(1, 4):
            fake.add_tracklet(video, 20.0 * t, 20.0 * t + 5, identity(1000 + 4 * v + t), seed=v)
    as_library(fake, root / "lib").close()
    return root / "lib"


def test_visit_heads_are_the_visits_without_their_members(tmp_path: Path) -> None:
    with Library.open(many_videos(tmp_path, 6)) as lib:
        visits = lib.visits()
        ids = [t.id for v in visits for t in v.tracklets]
        expected = sorted((VisitHead.of(v) for v in visits), key=lambda h: h.id)
        heads = lib.visit_heads_of(ids[::-1] + ids[:3])  # each visit once, however often asked
        assert [(h.id, h.media, h.start, h.first_tracklet) for h in heads] == [
            (h.id, h.media, h.start, h.first_tracklet) for h in expected
        ]
        assert all(np.array_equal(h.vector, e.vector) for h, e in zip(heads, expected, strict=True))
        assert lib.visit_heads_of([]) == []


def test_a_search_reads_the_members_of_only_the_visits_it_shows_or_merges(tmp_path: Path) -> None:
    """Every hit visit is ranked from its head; members (tracks, vectors) are read for the few shown."""
    with Library.open(many_videos(tmp_path)) as lib:
        asked: list[int] = []
        visits_of = lib.visits_of
        lib.visits_of = lambda ids, rule=None: asked.extend(ids) or visits_of(ids, rule)  # type: ignore[method-assign]
        heads: list[int] = []
        heads_of = lib.visit_heads_of
        lib.visit_heads_of = lambda ids, rule=None: heads.extend(ids) or heads_of(ids, rule)  # type: ignore[method-assign]
        moments = search_vector(lib, identity(1), top=3)
        assert len(moments) == 3
        assert len(set(heads)) == len(lib) == 200  # a small library: every tracklet is a hit
    # The shown moments' visits and the likely ones (the 40 look-alike visits may merge), nothing else.
    assert len(set(asked)) <= 40 + 3


def described(heads: list) -> list[tuple]:
    return [(h.id, h.media, h.start, h.first_tracklet, h.vector.tobytes()) for h in heads]


def test_a_library_from_before_visit_heads_is_searched_the_same(tmp_path: Path) -> None:
    """Visits stored without their start and first member: a reader works them out from the members,
    the next writer stores them (once), and every search gives the same moments throughout."""
    root = many_videos(tmp_path, 8)
    queries = [identity(1), mix(identity(1), identity(101), 0.7), identity(1002)]

    def results(lib: Library) -> list:
        return [[(m.tracklet_ids, m.score, m.start) for m in search_vector(lib, q, top=10)] for q in queries]

    with Library.open(root) as lib:
        expected = results(lib)
        heads = described(lib.visit_heads_of(range(1, len(lib) + 1)))
    conn = sqlite3.connect(root / "library.sqlite", isolation_level=None)
    conn.executescript(  # the visits table as an older reidkit made it
        "CREATE TABLE old (id INTEGER PRIMARY KEY, media_id INTEGER NOT NULL, vector BLOB NOT NULL);"
        "INSERT INTO old SELECT id, media_id, vector FROM visits; DROP TABLE visits;"
        "ALTER TABLE old RENAME TO visits; CREATE INDEX visits_media ON visits(media_id);"
    )
    conn.close()
    with Library.open(root) as reader:
        assert not reader._head_columns
        assert described(reader.visit_heads_of(range(1, len(reader) + 1))) == heads
        assert results(reader) == expected
    Library.create_or_open(root, model="fake-reid", dim=16).close()
    conn = sqlite3.connect(root / "library.sqlite")
    assert (
        conn.execute("SELECT COUNT(*) FROM visits WHERE start IS NULL OR first_tracklet IS NULL").fetchone()[
            0
        ]
        == 0
    )
    conn.execute("UPDATE visits SET start = NULL WHERE id = 1")  # one stored by an older writer since
    conn.commit()
    conn.close()
    with Library.open(root) as reader:
        assert reader._head_columns
        assert described(reader.visit_heads_of(range(1, len(reader) + 1))) == heads
        assert results(reader) == expected


def test_a_reader_never_shows_a_removed_files_record_for_one_added_after_it(tmp_path: Path) -> None:
    """Media records are kept by a reader while nothing changes; a removal and an add that takes the
    removed file's id (SQLite reuses the largest) show the new file."""
    root = tmp_path / "lib"
    with Library.create_or_open(root, model="m", dim=DIM) as writer:
        writer.add_media(media("a.mp4", "sha-a"), [make_tracklet(1, basis(0))])
        writer.add_media(media("b.mp4", "sha-b"), [make_tracklet(1, basis(1))])
    with Library.open(root) as reader:
        assert [Path(m.media).name for m in search_vector(reader, basis(1), top=1)] == ["b.mp4"]
        with Library.create_or_open(root, model="m", dim=DIM) as writer:
            removed = writer.remove_media("/videos/b.mp4")
            added = writer.add_media(media("c.mp4", "sha-c"), [make_tracklet(1, basis(1))])
        assert removed is not None and added == removed.id  # the id is taken again
        assert [Path(m.media).name for m in search_vector(reader, basis(1), top=1)] == ["c.mp4"]


def test_a_verdict_head_is_stored_with_the_library_seen_by_readers_and_dropped_by_re_embedding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from reidkit.core.head import VerdictHead
    from reidkit.index.library import VERDICT_HEAD_KEY

    rng = np.random.default_rng(0)
    head = VerdictHead("m-adapted-1", {"w": rng.normal(0, 0.1, (DIM, DIM)).astype(np.float32)})
    root = tmp_path / "lib"
    writer = Library.create_or_open(root, "fake", DIM)
    writer.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0)), make_tracklet(2, basis(1))])
    reader = Library.open(root)
    assert writer.verdict_head is None and reader.verdict_head is None
    writer.set_verdict_head(head)
    seen = reader.verdict_head  # a reader open before the write sees it
    assert seen is not None and seen.model == head.model and seen.sha256 == head.sha256
    np.testing.assert_array_equal(seen.arrays["w"], head.arrays["w"])
    with pytest.raises(ValueError):
        writer.set_verdict_head(VerdictHead("wrong", {"w": np.zeros((DIM + 1, DIM + 1), np.float32)}))
    # A damaged head is a warning, and verdicts fall back to the library model's own.
    with writer._transaction() as cur:
        cur.execute("UPDATE meta SET value = ? WHERE key = ?", ('{"model": "m"}', VERDICT_HEAD_KEY))
    writer._verdict_head = ("", None)
    with caplog.at_level("WARNING"):
        assert writer.verdict_head is None
    assert "cannot be read" in caplog.text and "reidkit adapt" in caplog.text
    writer.set_verdict_head(head)
    # Re-embedding replaces the vectors the head maps: the head goes with them.
    (tmp_path / "other.onnx").write_bytes(b"other weights")
    crops = {t.id: -writer.crop_vectors(t.id) for t in writer.tracklets()}
    writer.replace_vectors("other", tmp_path / "other.onnx", crops)
    assert writer.verdict_head is None and reader.verdict_head is None
    writer.close()
    reader.close()


def test_a_reader_opening_while_the_first_writer_creates_the_file_sees_no_library_yet(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "library.sqlite") as conn:  # a database without reidkit's tables yet
        conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    assert (tmp_path / "library.sqlite").stat().st_size > 0
    with pytest.raises(LibraryError, match="no model recorded"):
        Library.open(tmp_path)
