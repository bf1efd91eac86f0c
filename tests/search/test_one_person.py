"""A query shows one person: only the best moment's person is likely (reidkit.search.one_person)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidkit.search import find_moments
from reidkit.search.verdict import VerdictRule
from tests.search.fakes import DIM, FakeLibrary, add_crowd, identity, mix, unit


def axes(*weights: float) -> np.ndarray:
    """A unit vector in the first dimensions, which nobody else in these libraries uses."""
    return unit(np.pad(np.asarray(weights, np.float32), (0, DIM - len(weights))))


def stranger(seed: int) -> np.ndarray:
    """Somebody else: a random person in the other dimensions (cosine ~0 to the person)."""
    return unit(np.concatenate([np.zeros(4, np.float32), identity(seed)[4:]]))


PERSON = axes(1.0)
LOOK_ALIKE = axes(0.55, 0.835)  # cosine 0.55 to the person: the library tells them apart
BEHIND = axes(0.9, 0.0, 0.436)  # the person from behind: cosine 0.9 to the front view
# A photo from another camera: the person, with some of the look-alike's appearance (same coat), so
# the look-alike scores high against it, and the back view low.
PHOTO = axes(1.0, 0.4, -0.6)
SCORE_ONLY = VerdictRule(one_person=False)


@pytest.fixture
def footage(tmp_path: Path) -> FakeLibrary:
    """60 other people in 12 videos; the person twice (once from behind), the look-alike once."""
    lib = FakeLibrary(tmp_path / "lib")
    add_crowd(lib, lambda i: stranger(200 + i), noise=0.05)
    lib.add_tracklet(lib.add_video("/person.mp4"), 0.0, 5.0, PERSON, noise=0.05)
    lib.add_tracklet(lib.add_video("/behind.mp4"), 0.0, 5.0, BEHIND, noise=0.05)
    lib.add_tracklet(lib.add_video("/look-alike.mp4"), 0.0, 5.0, LOOK_ALIKE, noise=0.05)
    return lib


def likely(moments: list) -> list[str]:
    return sorted(m.media for m in moments if m.likely)


def test_the_look_alike_is_not_likely_and_the_person_from_behind_is(footage: FakeLibrary) -> None:
    by_score, verdict, _ = find_moments(footage, PHOTO, top=10, verdict_rule=SCORE_ONLY)
    scores = {m.media: m.score for m in by_score}
    # What a threshold alone does with this photo: the look-alike clears it, the back view does not.
    assert scores["/look-alike.mp4"] >= verdict.threshold > scores["/behind.mp4"]
    assert likely(by_score) == ["/look-alike.mp4", "/person.mp4"]

    moments, _, _ = find_moments(footage, PHOTO, top=10)
    assert likely(moments) == ["/behind.mp4", "/person.mp4"]
    for m in moments:  # probability and likely agree, and so does the order of the list
        assert m.likely == (m.probability >= 0.5)
    assert [m.media for m in moments] == [m.media for m in by_score]


def test_nothing_is_likely_when_the_best_moment_is_not(footage: FakeLibrary) -> None:
    for seed in range(1000, 1010):
        moments, verdict, _ = find_moments(footage, identity(seed), top=10)
        if max(m.score for m in moments) < verdict.threshold:
            assert not any(m.likely for m in moments)
            assert all(m.probability < 0.5 for m in moments)


def test_two_people_on_screen_together_are_never_both_the_person(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    add_crowd(lib, lambda i: stranger(200 + i), noise=0.05)
    hall = lib.add_video("/hall.mp4")
    lib.add_tracklet(hall, 0.0, 8.0, PERSON, noise=0.02)
    # A twin on the other side of the room, at the same time: search keeps two moments (their boxes
    # never meet) and the rule must not call both of them the person.
    frames = np.arange(10, 91, 5)
    twin = np.tile(mix(PERSON, identity(12), 0.97), (len(frames), 1))
    lib.add_observed(hall, frames, np.tile([[500, 50, 560, 230]], (len(frames), 1)), twin)
    moments, _, _ = find_moments(lib, PERSON, top=10, verdict_rule=SCORE_ONLY)
    assert sum(m.likely for m in moments) == 2  # both clear the threshold
    moments, _, _ = find_moments(lib, PERSON, top=10)
    assert [m.score for m in moments if m.likely] == [max(m.score for m in moments)]


def test_the_answer_says_when_more_moments_than_shown_are_likely(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    add_crowd(lib, lambda i: stranger(200 + i), noise=0.05)
    for i in range(15):  # the person in 15 videos: more than the 10 asked for
        lib.add_tracklet(lib.add_video(f"/visit-{i}.mp4"), 0.0, 5.0, PERSON, noise=0.05)
    cut = find_moments(lib, PERSON, top=10)
    assert len(cut.moments) == 10 and all(m.likely for m in cut.moments)
    assert cut.more_likely
    whole = find_moments(lib, PERSON, top=20)
    assert sum(m.likely for m in whole.moments) == 15
    assert not whole.more_likely  # the 16th moment is somebody else
    # The moments shown keep their verdicts whichever ``top`` cut them.
    assert [m.likely for m in whole.moments[:10]] == [m.likely for m in cut.moments]


def test_a_file_is_judged_whatever_its_rank_in_the_library(tmp_path: Path) -> None:
    """The watchlist's question (find_moments_in): is the person in the file just indexed?"""
    from reidkit.search import find_moments_in

    lib = FakeLibrary(tmp_path / "lib")
    add_crowd(lib, lambda i: stranger(200 + i), noise=0.05, videos=60)  # 300 other people
    for i in range(60):  # seen often before (more than the 50 alerts once searched), and well
        lib.add_tracklet(lib.add_video(f"/day-{i}.mp4"), 0.0, 5.0, PERSON, noise=0.02)
    new = lib.add_video("/today.mp4")
    lib.add_tracklet(new, 0.0, 5.0, BEHIND, noise=0.02)
    lib.add_tracklet(new, 20.0, 25.0, LOOK_ALIKE, noise=0.02)
    assert "/today.mp4" not in {m.media for m in find_moments(lib, PERSON, top=50).moments}
    today = find_moments_in(lib, PERSON, new.id)
    assert sorted((m.start, m.likely) for m in today) == [(0.0, True), (20.0, False)]
    elsewhere = lib.add_video("/empty-hall.mp4")
    lib.add_tracklet(elsewhere, 0.0, 5.0, stranger(999), noise=0.02)
    assert not any(m.likely for m in find_moments_in(lib, PERSON, elsewhere.id))
    assert find_moments_in(lib, PERSON, 12345) == []
