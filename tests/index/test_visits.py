"""Visits made at index time: stored in add_media's transaction, read in batches, re-linked when stale."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from reidkit.core.gallery import LinkRule, MediaRecord
from reidkit.index import library as library_module
from reidkit.index.library import Library
from reidkit.index.visits import VISITS_KEY, LinkSpan, link, rule_key, visit_vector
from reidkit.search import search_vector
from tests.search.fakes import FakeLibrary, as_library, identity, mix


def two_visits(root: Path) -> FakeLibrary:
    fake = FakeLibrary(root)
    a, b = identity(1), identity(2)
    video = fake.add_video("/v/hall.mp4")
    fake.add_tracklet(video, 0.0, 10.0, a)
    fake.add_tracklet(video, 11.0, 20.0, a)
    fake.add_tracklet(video, 12.0, 30.0, b)
    fake.add_tracklet(fake.add_video("/v/corner.mp4"), 0.0, 6.0, mix(a, identity(3), 0.9))
    return fake


def members(library: Library) -> list[list[int]]:
    return [[t.id for t in v.tracklets] for v in library.visits()]


def test_add_media_stores_the_visits_with_the_file(tmp_path: Path) -> None:
    with as_library(two_visits(tmp_path / "fake"), tmp_path / "lib") as lib:
        assert members(lib) == [[1, 2], [3], [4]]
    conn = sqlite3.connect(tmp_path / "lib" / "library.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 3
    assert conn.execute("SELECT COUNT(*) FROM visit_tracklets").fetchone()[0] == 4
    assert conn.execute("SELECT value FROM meta WHERE key = ?", (VISITS_KEY,)).fetchone()[0] == rule_key(
        LinkRule(), "fake-reid"
    )


def test_a_tracklets_index_score_is_its_moment_score(tmp_path: Path) -> None:
    """One vector: what Faiss ranks is what a moment scores (a visit of one tracklet scores as it)."""
    with as_library(two_visits(tmp_path / "fake"), tmp_path / "lib") as lib:
        query = identity(1)
        faiss_scores = {h.tracklet.id: h.score for h in lib.search(query, k=4)}
        moments = {m.tracklet_ids: m.score for m in search_vector(lib, query, top=10)}
        assert moments[(3,)] == pytest.approx(faiss_scores[3], abs=1e-5)
        assert moments[(4,)] == pytest.approx(faiss_scores[4], abs=1e-5)
        pooled = visit_vector(lib.vectors_of([1, 2]))
        assert moments[(1, 2)] == pytest.approx(float(pooled @ query), abs=1e-5)


def test_a_search_reads_in_a_few_batched_queries(tmp_path: Path) -> None:
    """No read per tracklet or per video: the statement count does not grow with the hit videos."""
    fake = FakeLibrary(tmp_path / "fake")
    a = identity(1)
    for v in range(40):
        video = fake.add_video(f"/v/{v}.mp4")
        for t in range(4):
            fake.add_tracklet(video, 10.0 * t, 10.0 * t + 5, mix(a, identity(100 + 4 * v + t), 0.6), seed=v)
    with as_library(fake, tmp_path / "lib") as lib:
        statements: list[str] = []
        lib._conn.set_trace_callback(statements.append)
        moments = search_vector(lib, a, top=20)
        lib._conn.set_trace_callback(None)
    assert len(moments) == 20
    # Four snapshots of a few statements each: the heads of every hit visit, then the members of the
    # likely visits that may merge, of the best moment (query expansion) and of the moments shown.
    assert len(statements) <= 20, statements
    assert not any("crop_vectors" in s for s in statements)


def test_a_library_from_before_stored_visits_is_linked_once_on_open(tmp_path: Path) -> None:
    with as_library(two_visits(tmp_path / "fake"), tmp_path / "lib") as lib:
        expected = [(m.tracklet_ids, m.score) for m in search_vector(lib, identity(1))]
    conn = sqlite3.connect(tmp_path / "lib" / "library.sqlite", isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript("DROP TABLE visit_tracklets; DROP TABLE visits;")  # as made by older reidkit
    conn.execute("DELETE FROM meta WHERE key = ?", (VISITS_KEY,))
    conn.close()

    writer = Library.create_or_open(tmp_path / "lib", model="fake-reid", dim=16)
    assert members(writer) == [[1, 2], [3], [4]]
    assert [(m.tracklet_ids, m.score) for m in search_vector(writer, identity(1))] == expected
    writer.close()
    with Library.open(tmp_path / "lib") as reader:
        assert reader._visits_stored


def test_a_reader_that_cannot_store_them_links_in_memory(tmp_path: Path, caplog) -> None:
    """Visits made by another rule (here: another link threshold) are never used as they are."""
    with as_library(two_visits(tmp_path / "fake"), tmp_path / "lib") as lib:
        expected = [(m.tracklet_ids, m.score) for m in search_vector(lib, identity(1))]
        with lib._transaction() as cur:  # stored visits from another rule: everything one visit
            cur.execute("UPDATE visit_tracklets SET visit_id = (SELECT MIN(id) FROM visits)")
            cur.execute("UPDATE meta SET value = 'another rule' WHERE key = ?", (VISITS_KEY,))
        with Library.open(tmp_path / "lib") as reader:
            assert not reader._visits_stored
            assert [(m.tracklet_ids, m.score) for m in search_vector(reader, identity(1))] == expected
            assert [[t.id for t in v.tracklets] for v in reader.visits()] == [[1, 2], [3], [4]]
    assert "linking them in memory" in caplog.text
    # A reader never writes: the next writer stores them.
    with Library.open(tmp_path / "lib") as reader:
        assert not reader._visits_stored
    with Library.create_or_open(tmp_path / "lib", model="fake-reid", dim=16) as writer:
        assert writer._visits_stored and members(writer) == [[1, 2], [3], [4]]
    with Library.open(tmp_path / "lib") as reader:
        assert reader._visits_stored


def test_removing_media_removes_its_visits(tmp_path: Path) -> None:
    with as_library(two_visits(tmp_path / "fake"), tmp_path / "lib") as lib:
        with lib._transaction() as cur:
            cur.execute("DELETE FROM media WHERE id = 1")
        assert lib._conn.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 1
        assert lib._conn.execute("SELECT COUNT(*) FROM visit_tracklets").fetchone()[0] == 1
        assert members(lib) == [[4]]


def test_linking_many_tracklets_compares_only_those_within_the_gap(monkeypatch) -> None:
    """A long video: each tracklet is checked against the visits that ended less than max_gap ago."""
    from reidkit.index import visits as visits_module

    calls = 0
    real = visits_module.plausible_link

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(visits_module, "plausible_link", counting)
    box = np.array([100, 50, 160, 230], np.float32)
    spans = [LinkSpan(i, 10.0 * i, 10.0 * i + 5.0, box, box) for i in range(2000)]
    vectors = np.tile(identity(1), (len(spans), 1))
    groups = link(spans, vectors, 768, 0.5)
    assert len(groups) == 2000  # 5 s apart each: too long a gap to link
    assert calls == 0


def test_link_joins_pieces_in_time_order() -> None:
    box = np.array([100, 50, 160, 230], np.float32)
    spans = [
        LinkSpan(2, 11.0, 20.0, box, box),
        LinkSpan(1, 0.0, 10.0, box, box),
        LinkSpan(3, 12.0, 30.0, box, box),
    ]
    a, b = identity(1), identity(2)
    groups = link(spans, np.stack([a, a, b]), 768, 0.5)
    assert groups == [[1, 0], [2]]


def test_media_record_lives_in_core() -> None:
    assert library_module.MediaRecord is MediaRecord


def test_files_added_by_an_older_reidkit_are_linked_too(tmp_path: Path) -> None:
    """An older writer adds tracklets without visits: the next open links again; a search never drops them."""
    fake = two_visits(tmp_path / "fake")
    with as_library(fake, tmp_path / "lib") as lib:
        expected = [(m.tracklet_ids, round(m.score, 5)) for m in search_vector(lib, identity(1))]
        with lib._transaction() as cur:  # what an older reidkit's add leaves: no visit rows for its file
            cur.execute("DELETE FROM visits WHERE media_id = 2")
        got = [(m.tracklet_ids, round(m.score, 5)) for m in search_vector(lib, identity(1))]
        assert got == expected  # linked in memory, not lost
    with Library.create_or_open(tmp_path / "lib", model="fake-reid", dim=16) as lib:
        assert lib._visits_stored and members(lib) == [[1, 2], [3], [4]]


def test_the_stored_vector_is_the_mean_of_the_crops(tmp_path: Path) -> None:
    """One vector, made by the library: the mean direction of the crop vectors, whatever ``vector`` says."""
    from reidkit.core.vectors import mean_direction
    from reidkit.index.library import NewMedia, NewTracklet

    crops = np.stack([identity(1), identity(2)])
    tracklet = NewTracklet(
        track_id=1, frames=np.arange(3), times=np.arange(3) / 10.0,
        boxes=np.tile(np.float32([10, 20, 50, 120]), (3, 1)), vector=identity(3), crop_vectors=crops,
        best_frame=1, best_box=np.float32([10, 20, 50, 120]), thumbnail_jpeg=b"\xff\xd8\xff\xd9", quality=0.5,
        crop_qualities=np.array([0.9, 0.1]),
    )  # fmt: skip
    with Library.create_or_open(tmp_path / "lib", model="fake-reid", dim=16) as lib:
        lib.add_media(NewMedia("/v/a.mp4", "a" * 64, "video", 10.0, 3, 0.3, 640, 480), [tracklet])
        expected = mean_direction(crops)
        assert np.allclose(lib.vectors_of([1])[0], expected, atol=1e-6)
        assert lib.search(expected, k=1)[0].score == pytest.approx(1.0, abs=1e-5)
        assert np.allclose(lib.visits()[0].vector, expected, atol=1e-6)


def test_a_library_from_before_the_one_vector_stores_it_once(tmp_path: Path) -> None:
    """Older libraries stored the indexer's quality-weighted vector but searched by the crops' mean:
    on the next writable open they store the mean, rebuild Faiss from it and link their visits again."""
    from reidkit.index.library import VECTORS_KEY

    fake = two_visits(tmp_path / "fake")
    with as_library(fake, tmp_path / "lib") as lib:
        expected = [(m.tracklet_ids, round(m.score, 5)) for m in search_vector(lib, identity(1))]
        with lib._transaction() as cur:  # as an older reidkit left it: other vectors, no marker
            for i in range(1, 5):
                other = (fake.crop_vectors(i)[0]).astype(np.float32).tobytes()
                cur.execute("UPDATE tracklets SET vector = ? WHERE id = ?", (other, i))
            cur.execute("DELETE FROM meta WHERE key = ?", (VECTORS_KEY,))
        lib._rebuild_store("as an older reidkit wrote them")  # its vector files held those vectors
    with Library.create_or_open(tmp_path / "lib", model="fake-reid", dim=16) as lib:
        assert np.allclose(
            lib.vectors_of([1, 2, 3, 4]), np.stack([fake.vector(i) for i in range(1, 5)]), atol=1e-6
        )
        hit = lib.search(fake.vector(3), k=1)[0]
        assert hit.tracklet.id == 3 and hit.score == pytest.approx(1.0, abs=1e-5)
        assert [(m.tracklet_ids, round(m.score, 5)) for m in search_vector(lib, identity(1))] == expected
        assert members(lib) == [[1, 2], [3], [4]]


FORMAT_1_TABLES = {"meta", "media", "tracklets", "crop_vectors"}  # all a library of format 1 has


def as_format_1(root: Path) -> None:
    """Leave only what a library written by a format-1 reidkit holds: its four tables and version 1."""
    conn = sqlite3.connect(root / "library.sqlite", isolation_level=None)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in sorted(set(tables) - FORMAT_1_TABLES, key=lambda t: t != "visit_tracklets"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM meta WHERE key NOT IN ('model', 'dim', 'index', 'created_at', 'version')")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
    conn.close()


def ranked_as(moments: list[tuple[tuple[int, ...], float]]) -> list[tuple[tuple[int, ...], float]]:
    return [(ids, round(score, 4)) for ids, score in moments]


def ranked(lib: Library) -> list[tuple[tuple[int, ...], float]]:
    return ranked_as([(m.tracklet_ids, m.score) for m in search_vector(lib, identity(1))])


def test_a_format_1_library_is_searched_by_a_reader_and_upgraded_by_a_writer(tmp_path: Path) -> None:
    with as_library(two_visits(tmp_path / "fake"), tmp_path / "lib") as lib:
        expected = [(m.tracklet_ids, m.score) for m in search_vector(lib, identity(1))]
    as_format_1(tmp_path / "lib")
    with Library.open(tmp_path / "lib") as reader:  # reads it as it is: links its visits in memory
        assert ranked(reader) == ranked_as(expected)
        assert members(reader) == [[1, 2], [3], [4]]
    with Library.create_or_open(tmp_path / "lib", model="fake-reid", dim=16) as writer:  # upgrades it
        assert writer.version == library_module.SCHEMA_VERSION and writer._visits_stored
        assert ranked(writer) == ranked_as(expected)
