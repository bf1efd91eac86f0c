"""The watchlist: names are unique, and a people tile carries a name only as a search would answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidkit.app.live import Watched
from reidkit.app.state import name_tiles
from reidkit.app.watchlist import WatchedPerson, Watchlist
from reidkit.core.vectors import l2_normalise


def toward(base: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector at ``cosine`` to the unit ``base``."""
    other = np.random.default_rng(seed).normal(size=base.shape)
    other = l2_normalise(other - (other @ base) * base)
    return (cosine * base + np.sqrt(1 - cosine**2) * other).astype(np.float32)


ANNA, BOB = np.eye(16, dtype=np.float32)[0], np.eye(16, dtype=np.float32)[1]


def person(pid: int, name: str, vector: np.ndarray, confirmed=(), rejected=()) -> WatchedPerson:  # type: ignore[no-untyped-def]
    return WatchedPerson(pid, name, vector.tolist(), confirmed=list(confirmed), rejected=list(rejected))


def test_a_person_names_their_best_tile_only_and_never_a_rejected_one() -> None:
    tiles = np.stack(
        [
            toward(ANNA, 0.99, 1),  # 0: holds tracklet 5, which the user marked "not Anna"
            toward(ANNA, 0.95, 2),  # 1: Anna
            toward(ANNA, 0.80, 3),  # 2: a man in a similar shirt, above Anna's threshold too
            toward(ANNA, 0.40, 4),  # 3: confirmed as Bob, though he scores low against Bob
            toward(BOB, 0.10, 5),  # 4: somebody else
        ]
    )
    tiles[3] = l2_normalise(0.3 * BOB + 0.95 * tiles[3])
    members = [{5}, {1, 2}, {3}, {4}, {6}]
    people = [person(1, "Anna", ANNA, rejected=[5]), person(2, "Bob", BOB, confirmed=[4])]
    watched = [Watched("Anna", ANNA, 0.75), Watched("Bob", BOB, 0.75)]
    assert name_tiles(people, watched, tiles, members) == [None, "Anna", None, "Bob", None]


def test_a_tile_below_the_persons_own_threshold_stays_unnamed() -> None:
    tiles = np.stack([toward(ANNA, 0.70, 1)])
    people = [person(1, "Anna", ANNA)]
    assert name_tiles(people, [Watched("Anna", ANNA, 0.75)], tiles, [{1}]) == [None]
    assert name_tiles(people, [Watched("Anna", ANNA, 0.65)], tiles, [{1}]) == ["Anna"]


def test_two_people_cannot_share_a_name(tmp_path: Path) -> None:
    watchlist = Watchlist(tmp_path)
    anna = watchlist.add("Anna", ANNA, [], [], rejected=[7])
    bob = watchlist.add("Bob", BOB, [], [])
    with pytest.raises(ValueError, match="already has 'Anna'"):
        watchlist.add(" anna ", ANNA, [], [])
    with pytest.raises(ValueError, match="already has 'Anna'"):
        watchlist.rename(bob.id, "ANNA")
    assert watchlist.rename(anna.id, "anna").name == "anna"  # a person may change their own case
    again = Watchlist(tmp_path)  # what was stored, read back
    assert [(p.name, p.rejected) for p in again.people()] == [("anna", [7]), ("Bob", [])]


def test_a_watchlist_saved_before_rejections_were_kept_still_loads(tmp_path: Path) -> None:
    (tmp_path / "watchlist.json").write_text(
        '[{"id": 1, "name": "Bea", "vector": [1.0, 0.0], "photos": [], "confirmed": [3], "created": 1.0}]'
    )
    (bea,) = Watchlist(tmp_path).people()
    assert (bea.name, bea.confirmed, bea.rejected) == ("Bea", [3], [])
