"""Verdicts judged in the adapted space (reidkit.search.verdict_space): the library's head maps the query,
the moments' visits and the cohort; the stored vectors still rank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidkit.core.head import VerdictHead
from reidkit.search.engine import find_moments
from tests.search.fakes import FakeLibrary, add_crowd, as_library, identity, mix, unit

PERSON, LOOK_ALIKE_SEED, STRANGERS = 1, 2, 100


def footage(root: Path) -> tuple[FakeLibrary, np.ndarray]:
    """Strangers in 12 videos, the person in two more, and a look-alike (cosine 0.85 to the person) in a
    third; returns the library and the direction that tells the look-alike from the person."""
    lib = FakeLibrary(root)
    person = identity(PERSON)
    closeness = np.random.default_rng(0).uniform(0.1, 0.45, 60)  # strangers' cosines to the person
    add_crowd(lib, lambda i: mix(person, identity(STRANGERS + i), float(closeness[i])), noise=0.02)
    look_alike = mix(person, identity(LOOK_ALIKE_SEED), 0.85)
    for name in ("/door.mp4", "/hall.mp4"):
        lib.add_tracklet(lib.add_video(name), 3.0, 9.0, person, noise=0.02)
    lib.add_tracklet(lib.add_video("/shop.mp4"), 3.0, 9.0, look_alike, noise=0.02)
    difference = unit(look_alike - (look_alike @ person) * person)
    return lib, difference


def head_that_stresses(direction: np.ndarray, gain: float = 3.0) -> VerdictHead:
    """y = x + gain (x . d) d: what tells the two apart counts (gain + 1) times more."""
    return VerdictHead("fake-reid-adapted", {"w": (gain * np.outer(direction, direction)).astype(np.float32)})


def by_media(moments) -> dict[str, object]:
    return {Path(m.media).name: m for m in moments}


@pytest.mark.parametrize("gallery", ["in-memory", "library"])
def test_the_adapted_space_judges_and_the_stored_vectors_rank(tmp_path: Path, gallery: str) -> None:
    fake, difference = footage(tmp_path / "fake")
    library = fake if gallery == "in-memory" else as_library(fake, tmp_path / "lib")
    before, plain, _ = find_moments(library, identity(PERSON), top=10)
    fake.verdict_head = head_that_stresses(difference)
    if gallery == "library":
        library.set_verdict_head(fake.verdict_head)
    after, verdict, _ = find_moments(library, identity(PERSON), top=10)
    assert plain.scored_by is None and verdict.scored_by == "fake-reid-adapted"
    assert [m.tracklet_ids for m in after] == [m.tracklet_ids for m in before]  # the same order
    was, now = by_media(before), by_media(after)
    assert was["shop.mp4"].score == pytest.approx(0.85, abs=0.02) and was["shop.mp4"].likely  # wrong
    # The look-alike's score, the cosine in the adapted space (0.85 / sqrt(0.85^2 + (4 x 0.53)^2)) ...
    assert now["shop.mp4"].score == pytest.approx(0.37, abs=0.03)
    assert not now["shop.mp4"].likely
    # ... while the person's moments keep theirs and stay likely.
    for name in ("door.mp4", "hall.mp4"):
        assert now[name].likely and now[name].score == pytest.approx(was[name].score, abs=1e-3)
    # A score floor bounds the scores shown, the adapted ones.
    floored, _, _ = find_moments(library, identity(PERSON), top=10, min_score=0.5)
    assert "shop.mp4" not in by_media(floored) and {"door.mp4", "hall.mp4"} <= set(by_media(floored))


def test_people_are_clustered_in_the_adapted_space(tmp_path: Path) -> None:
    from reidkit.search.people import people

    def who(lib: FakeLibrary) -> list[set[str]]:
        found = [{Path(m.media).name for m in p.moments} for p in people(lib)]
        return [names for names in found if names & {"door.mp4", "hall.mp4", "shop.mp4"}]

    fake, difference = footage(tmp_path / "fake")
    assert who(fake) == [{"door.mp4", "hall.mp4", "shop.mp4"}]  # the look-alike joins the person
    fake.verdict_head = head_that_stresses(difference)
    assert sorted(who(fake), key=len) == [{"shop.mp4"}, {"door.mp4", "hall.mp4"}]
