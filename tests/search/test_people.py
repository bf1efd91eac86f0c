"""Who is in this footage: visits clustered into people (reidkit.search.people), the CLI and the API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import reidkit.api as rk
from reidkit.cli import main
from reidkit.search import people as people_module
from reidkit.search.clustering import average_linkage
from reidkit.search.people import people
from tests.search.fakes import FakeLibrary, identity, mix


def visits_of(found: list, person_id: int) -> list[tuple[str, float]]:
    person = next(p for p in found if p.id == person_id)
    return [(Path(m.media).name, m.start) for m in person.moments]


def test_one_person_in_two_videos_is_one_person(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    a, b = identity(1), identity(3)
    hall, corner = lib.add_video("/v/hall.mp4"), lib.add_video("/v/corner.mp4")
    lib.add_tracklet(hall, 2.0, 9.0, a)
    lib.add_tracklet(hall, 20.0, 26.0, b)
    lib.add_tracklet(corner, 5.0, 12.0, a)
    found = people(lib)
    assert len(found) == 2
    assert visits_of(found, 1) == [("hall.mp4", 2.0), ("corner.mp4", 5.0)]
    assert (found[0].visits, found[0].videos, found[0].images) == (2, 2, 0)
    assert found[0].seconds == pytest.approx(14.0)
    assert visits_of(found, 2) == [("hall.mp4", 20.0)]


def test_look_alikes_on_screen_together_stay_two(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    twin = mix(a, identity(2), 0.97)
    hall = lib.add_video("/v/hall.mp4")
    lib.add_tracklet(hall, 2.0, 9.0, a)
    lib.add_tracklet(hall, 4.0, 12.0, twin)
    lib.add_tracklet(hall, 30.0, 36.0, a)  # alone later: alike enough to join one of them
    found = people(lib)
    assert len(found) == 2
    assert sum(p.visits for p in found) == 3


def test_cannot_link_holds_for_whole_clusters() -> None:
    # 0 and 2 may not merge; 1 is alike to both: 1 joins one of them and the other stays alone.
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.28, 0.96]])
    cannot = np.zeros((3, 3), bool)
    cannot[0, 2] = cannot[2, 0] = True
    labels = average_linkage(vectors @ vectors.T, cannot, 0.7)
    assert labels[0] != labels[2] and len(set(labels.tolist())) == 2
    assert len(set(average_linkage(vectors @ vectors.T, np.zeros((3, 3), bool), 0.2).tolist())) == 1


def test_a_photo_joins_the_person_it_shows(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    a, b = identity(1), identity(3)
    hall = lib.add_video("/v/hall.mp4")
    lib.add_tracklet(hall, 2.0, 9.0, a)
    lib.add_tracklet(hall, 20.0, 26.0, b)
    photo = lib.add_image("/p/party.jpg")
    lib.add_tracklet(photo, 0.0, 0.0, b)
    lib.add_tracklet(photo, 0.0, 0.0, mix(a, b, 0.3))  # somebody else in the same photo
    found = people(lib)
    assert len(found) == 3
    assert visits_of(found, 2) == [("hall.mp4", 20.0), ("party.jpg", 0.0)]
    assert (found[1].videos, found[1].images) == (1, 1)


def build(root: Path) -> FakeLibrary:
    lib = FakeLibrary(root)
    a, b = identity(1), identity(3)
    hall = lib.add_video("/v/hall.mp4")
    lib.add_tracklet(hall, 30.0, 36.0, b)  # the first tracklet indexed, but b comes in later
    lib.add_tracklet(hall, 3.0, 9.0, a)
    lib.add_tracklet(lib.add_video("/v/corner.mp4"), 1.0, 5.0, b)
    return lib


def test_ids_follow_first_appearance_and_are_stable(tmp_path: Path) -> None:
    found = people(build(tmp_path / "one"))
    assert [visits_of(found, i) for i in (1, 2)] == [
        [("hall.mp4", 3.0)],
        [("hall.mp4", 30.0), ("corner.mp4", 1.0)],
    ]
    again = people(build(tmp_path / "two"))  # another library of the same content: no cache shared
    assert [(p.id, [m.tracklet_ids for m in p.moments]) for p in again] == [
        (p.id, [m.tracklet_ids for m in p.moments]) for p in found
    ]


def test_people_update_as_media_are_added(tmp_path: Path) -> None:
    lib = build(tmp_path / "lib")
    assert len(people(lib)) == 2
    lib.add_tracklet(lib.add_video("/v/door.mp4"), 1.0, 4.0, identity(4))
    assert len(people(lib)) == 3


def test_cli_json_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    lib = build(tmp_path / "lib")
    monkeypatch.setattr(people_module, "open_library", lambda _lib: lib)
    assert main(["people", "--library", str(lib.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["people"] and [p["id"] for p in data["people"]] == [1, 2]
    person = data["people"][1]
    assert set(person) == {
        "id",
        "visits",
        "videos",
        "images",
        "seconds",
        "thumbnail",
        "best_tracklet",
        "moments",
    }
    assert (person["visits"], person["videos"], person["images"]) == (2, 2, 0)
    assert set(person["moments"][0]) == {
        "media", "start", "end", "start_frame", "end_frame", "recorded_start", "recorded_end", "score",
        "thumbnail", "box", "tracklets",
    }  # fmt: skip
    assert person["moments"][0]["media"] == str(Path("/v/hall.mp4").resolve())
    assert Path(person["thumbnail"]).is_file()

    assert main(["people", "--library", str(lib.root)]) == 0
    table = capsys.readouterr().out
    assert table.startswith("2 people") and "hall.mp4 00:30.0" in table


def test_api_people(tmp_path: Path) -> None:
    found = rk.people(build(tmp_path / "lib"))
    assert [p.visits for p in found] == [1, 2]
    assert found[1].best_tracklet in {1, 3}
