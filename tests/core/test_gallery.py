"""The Gallery contract (reidkit.core.gallery), run on the real Library and on the tests' in-memory one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from reidkit.core.gallery import Gallery, LinkRule
from reidkit.index.visits import visit_vector
from reidkit.search import MomentRule, search_vector
from tests.search.fakes import FakeLibrary, as_library, identity, mix


def scene(root: Path) -> FakeLibrary:
    """Two videos and a photo: A twice in the hall (the first visit in two pieces), B, A in the corner."""
    fake = FakeLibrary(root)
    a, b = identity(1), identity(2)
    hall, corner = fake.add_video("/v/hall.mp4"), fake.add_video("/v/corner.mp4")
    fake.add_tracklet(hall, 0.0, 10.0, a)
    fake.add_tracklet(hall, 11.0, 20.0, a)  # after a 1 s occlusion: one visit with the first
    fake.add_tracklet(hall, 12.0, 30.0, b)  # on screen with A: never linked to A
    fake.add_tracklet(hall, 45.0, 52.0, a)  # back much later: a visit of its own
    fake.add_tracklet(corner, 5.0, 12.0, mix(a, identity(3), 0.9))
    photo = fake.add_image("/p/photo.jpg")
    fake.add_tracklet(photo, 0.0, 0.0, a)
    fake.add_tracklet(photo, 0.0, 0.0, b)
    return fake


@pytest.fixture(params=["library", "in-memory"])
def gallery(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gallery]:
    fake = scene(tmp_path / "fake")
    if request.param == "in-memory":
        yield fake
        return
    library = as_library(fake, tmp_path / "lib")
    yield library
    library.close()


def test_it_is_a_gallery(gallery: Gallery) -> None:
    assert isinstance(gallery, Gallery)
    assert len(gallery) == 7 and gallery.dim == 16 and gallery.model == "fake-reid"
    assert [Path(m.path).name for m in gallery.media_list()] == ["hall.mp4", "corner.mp4", "photo.jpg"]


def test_a_tracklet_by_id(gallery: Gallery) -> None:
    record = gallery.tracklet(3)
    assert (record.id, record.media_id, record.start, record.end) == (3, 1, 12.0, 30.0)
    assert record.frames.dtype == np.int64 and record.boxes.shape == (len(record.frames), 4)
    with pytest.raises(KeyError):
        gallery.tracklet(99)
    assert sorted(gallery.tracklet_ids(1)) == [1, 2, 3, 4] and gallery.tracklet_ids(99) == []
    with pytest.raises(KeyError):
        gallery.vectors_of([1, 99])


def test_search_ranks_by_the_stored_vectors(gallery: Gallery) -> None:
    query = identity(1)
    hits = gallery.search(query, k=4)
    assert len(hits) == 4
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    vectors = gallery.vectors_of([h.tracklet.id for h in hits])
    assert np.allclose(vectors @ query, scores, atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert hits[0].media.id == hits[0].tracklet.media_id


def test_visits_partition_the_tracklets(gallery: Gallery) -> None:
    visits = gallery.visits()
    members = [[t.id for t in v.tracklets] for v in visits]
    assert members == [[1, 2], [3], [4], [5], [6], [7]]
    assert len({v.id for v in visits}) == len(visits)
    for visit in visits:
        ids = [t.id for t in visit.tracklets]
        assert all(t.media_id == visit.media.id for t in visit.tracklets)
        assert np.allclose(visit.tracklet_vectors, gallery.vectors_of(ids), atol=1e-6)
        assert np.allclose(visit.vector, visit_vector(visit.tracklet_vectors), atol=1e-6)
        assert [t.start for t in visit.tracklets] == sorted(t.start for t in visit.tracklets)
    assert visits[0].start == 0.0 and visits[0].end == 20.0


def test_visits_of_some_tracklets(gallery: Gallery) -> None:
    found = gallery.visits_of([2, 6, 2])
    assert [[t.id for t in v.tracklets] for v in found] in ([[1, 2], [6]], [[6], [1, 2]])
    assert gallery.visits_of([]) == []
    # Another rule than the library's links again, for that call only.
    strict = gallery.visits_of([2], LinkRule(max_gap=0.5))
    assert [[t.id for t in v.tracklets] for v in strict] == [[2]]
    assert [[t.id for t in v.tracklets] for v in gallery.visits_of([2])] == [[1, 2]]


def test_visit_heads_are_the_visits_without_members(gallery: Gallery) -> None:
    heads = gallery.visit_heads_of([2, 6, 1, 4])
    visits = {v.id: v for v in gallery.visits_of([2, 6, 1, 4])}
    assert sorted(h.id for h in heads) == sorted(visits) and len(heads) == 3
    for head in heads:
        visit = visits[head.id]
        first = visit.tracklets[0]
        assert (head.media, head.start, head.first_tracklet) == (visit.media, first.start, first.id)
        assert np.allclose(head.vector, visit.vector, atol=1e-6)
    assert gallery.visit_heads_of([]) == []
    strict = gallery.visit_heads_of([2], LinkRule(max_gap=0.5))
    assert [(h.start, h.first_tracklet) for h in strict] == [(11.0, 2)]


def test_cohort_is_a_sample_of_the_vectors(gallery: Gallery) -> None:
    cohort = gallery.cohort_vectors()
    everything = gallery.vectors_of(range(1, len(gallery) + 1))
    assert len(cohort) == len(gallery)
    assert np.allclose(np.sort(cohort @ identity(1)), np.sort(everything @ identity(1)), atol=1e-6)


def test_both_galleries_give_the_same_moments(tmp_path: Path) -> None:
    fake = scene(tmp_path / "fake")
    with as_library(fake, tmp_path / "lib") as library:
        for query in (identity(1), identity(2), mix(identity(1), identity(4), 0.7)):
            for rule in (MomentRule(), MomentRule(max_gap=0.5, expand_query=0)):
                ours = [(m.tracklet_ids, round(m.score, 5)) for m in search_vector(library, query, rule=rule)]
                theirs = [(m.tracklet_ids, round(m.score, 5)) for m in search_vector(fake, query, rule=rule)]
                assert ours == theirs
