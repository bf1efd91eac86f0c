"""Moment grouping: re-entries, gaps, look-alikes, images, and the exact JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reidkit.search import MomentRule, SearchResult, find_moments, search_vector
from reidkit.zoo.calibration import ScoreCalibration, calibration_for
from tests.search.fakes import FakeLibrary, identity, mix, unit

MOMENT_KEYS = {
    "media", "start", "end", "start_frame", "end_frame", "score", "likely", "probability", "thumbnail", "box",
    "recorded_start", "recorded_end",
}  # fmt: skip


@pytest.fixture
def scene(tmp_path: Path) -> tuple[FakeLibrary, dict[str, np.ndarray]]:
    """One video: A visits twice (first visit split by a 1 s occlusion), B overlaps A, C looks like A."""
    lib = FakeLibrary(tmp_path / "lib")
    a, b = identity(1), identity(2)
    c = mix(a, identity(3), 0.45)  # a look-alike (grey cardigan): similar but not the same person
    video = lib.add_video("/videos/room.mp4", duration=60.0)
    lib.add_tracklet(video, 0.0, 10.0, a)
    lib.add_tracklet(video, 11.0, 20.0, a)  # same visit, after a 1 s occlusion
    lib.add_tracklet(video, 12.0, 30.0, b)  # someone else, on screen at the same time
    lib.add_tracklet(video, 21.0, 28.0, c)  # the look-alike enters right after A leaves
    lib.add_tracklet(video, 45.0, 52.0, a)  # A comes back much later
    return lib, {"a": a, "b": b, "c": c}


def test_reentering_person_gives_one_moment_per_visit(scene) -> None:
    lib, people = scene
    moments = search_vector(lib, people["a"], top=10)
    spans = [(m.start, m.end) for m in moments[:2]]
    assert sorted(spans) == [(0.0, 20.0), (45.0, 52.0)]
    assert all(len(m.tracklet_ids) in (1, 2) for m in moments)
    # the look-alike and the other person are separate moments that rank below both visits
    rest = moments[2:]
    assert {(m.start, m.end) for m in rest} == {(12.0, 30.0), (21.0, 28.0)}
    assert max(m.score for m in rest) < min(m.score for m in moments[:2])


def test_gap_rule_splits_or_merges(scene) -> None:
    lib, people = scene
    short = search_vector(lib, people["a"], top=10, rule=MomentRule(max_gap=0.5))
    assert sorted((m.start, m.end) for m in short if m.score > 0.9) == [
        (0.0, 10.0),
        (11.0, 20.0),
        (45.0, 52.0),
    ]
    long = search_vector(lib, people["a"], top=10, rule=MomentRule(max_gap=30.0))
    assert sorted((m.start, m.end) for m in long if m.score > 0.9) == [(0.0, 52.0)]


def test_overlapping_tracklets_are_never_linked(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    video = lib.add_video("/v.mp4")
    lib.add_tracklet(video, 0.0, 10.0, a)
    lib.add_tracklet(video, 5.0, 15.0, mix(a, identity(9), 0.95))  # twin on screen at once
    assert len(search_vector(lib, a, top=10, rule=MomentRule(merge_concurrent=False))) == 2


def test_two_likely_tracks_on_one_spot_at_once_are_one_moment(tmp_path: Path) -> None:
    """A short second track on the person (left from a crossing) joins the person's moment."""
    lib = FakeLibrary(tmp_path / "lib")
    a, b = identity(1), identity(2)
    video = lib.add_video("/v.mp4", fps=10.0)
    _walker(lib, video, range(0, 60), [[300, 100, 360, 280]] * 60, mix(a, b, 0.9))
    _walker(lib, video, range(20, 30), [[320, 100, 380, 280]] * 10, a)  # the piece matches best
    _walker(lib, video, range(0, 60), [[20, 100, 80, 280]] * 60, mix(a, b, 0.85))  # a twin, apart
    _walker(lib, video, range(0, 60), [[340, 100, 400, 280]] * 60, b)  # someone else, beside her
    moments = search_vector(lib, a, top=10)
    assert [(m.start_frame, m.end_frame, m.tracklet_ids) for m in moments[:2]] == [
        (0, 59, (1, 2)),
        (0, 59, (3,)),
    ]
    assert moments[0].score > 0.99 and moments[0].best_tracklet == 2
    assert (0, 59, (4,)) in [(m.start_frame, m.end_frame, m.tracklet_ids) for m in moments]
    apart = search_vector(lib, a, top=10, rule=MomentRule(merge_concurrent=False))
    assert len(apart) == 4


def test_min_score_and_top(scene) -> None:
    lib, people = scene
    assert len(search_vector(lib, people["a"], top=1)) == 1
    strong = search_vector(lib, people["a"], top=10, min_score=0.8)
    assert [round(m.start) for m in sorted(strong, key=lambda m: m.start)] == [0, 45]


def test_images_give_one_moment_per_person(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    photo = lib.add_image("/photos/p.jpg")
    lib.add_tracklet(photo, 0.0, 0.0, a)
    lib.add_tracklet(photo, 0.0, 0.0, mix(a, identity(5), 0.97))
    moments = search_vector(lib, a, top=10)
    assert len(moments) == 2
    assert all(m.start == m.end == 0.0 and m.start_frame == m.end_frame == 0 for m in moments)


def test_json_has_exactly_the_contract_keys(scene) -> None:
    lib, people = scene
    moments, verdict, more_likely = find_moments(lib, people["a"], top=10)
    result = SearchResult(
        query="/q/me.jpg", model=lib.model, moments=moments, verdict=verdict, more_likely=more_likely
    )
    data = json.loads(result.to_json())
    assert set(data) == {"query", "model", "found", "more_likely", "verdict", "moments"}
    assert data["more_likely"] is False
    assert data["model"] == "fake-reid"
    assert data["found"] is True and data["verdict"]["threshold"] == pytest.approx(
        verdict.threshold, abs=1e-4
    )
    assert {"threshold", "source", "candidates", "false_alarm", "from_footage"} <= set(data["verdict"])
    scores = [m["score"] for m in data["moments"]]
    assert scores == sorted(scores, reverse=True)
    for m in data["moments"]:
        assert MOMENT_KEYS <= set(m) <= MOMENT_KEYS | {"tracklets"}
        assert m["likely"] == (m["score"] >= verdict.threshold) == (m["probability"] >= 0.5)
        assert isinstance(m["start_frame"], int) and isinstance(m["box"], list) and len(m["box"]) == 4
        assert Path(m["thumbnail"]).is_absolute() and Path(m["thumbnail"]).is_file()
        assert m["start"] <= m["end"] and m["start_frame"] <= m["end_frame"]


def test_calibration_hook() -> None:
    cal = calibration_for("no-such-model")
    assert not cal.measured
    assert cal.probability(cal.threshold) == pytest.approx(0.5)
    assert cal.probability(0.95) > 0.9 > 0.1 > cal.probability(0.1)
    assert ScoreCalibration(0.7, 10.0, -7.0, True).likely(0.71)


def _walker(lib: FakeLibrary, video, frames, boxes, vector) -> None:
    lib.add_observed(
        video, np.asarray(frames), np.asarray(boxes, np.float32), np.tile(vector, (len(frames), 1))
    )


def test_link_needs_a_plausible_move(tmp_path: Path) -> None:
    """Same look, short gap: linked when the person could have walked there, not across the room."""
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    video = lib.add_video("/v.mp4", fps=10.0)
    _walker(lib, video, range(0, 20), [[300, 100, 360, 280]] * 20, a)
    _walker(lib, video, range(30, 50), [[330, 100, 390, 280]] * 20, a)  # 1 s later, 30 px on: linked
    _walker(lib, video, range(55, 75), [[20, 100, 80, 280]] * 20, a)  # 0.5 s later, 310 px away: not
    moments = search_vector(lib, a, top=10, rule=MomentRule(min_link=0.7))
    assert sorted((m.start_frame, m.end_frame) for m in moments) == [(0, 49), (55, 74)]


def test_a_person_who_left_the_frame_starts_a_new_visit(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    video = lib.add_video("/v.mp4", fps=10.0)
    _walker(lib, video, range(0, 20), [[700, 100, 768, 280]] * 20, a)  # ends at the right border
    _walker(lib, video, range(40, 60), [[700, 100, 768, 280]] * 20, a)  # back 2 s later
    _walker(lib, video, range(65, 80), [[690, 100, 760, 280]] * 15, a)  # 0.5 s gap inside: same visit
    moments = search_vector(lib, a, top=10, rule=MomentRule(min_link=0.7))
    assert sorted((m.start_frame, m.end_frame) for m in moments) == [(0, 19), (40, 79)]


def test_a_box_a_few_pixels_from_the_border_has_left(tmp_path: Path) -> None:
    """Detectors lose a half-out person before the box touches the edge: 9 px of 768 is at the border."""
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    video = lib.add_video("/v.mp4", fps=10.0)
    _walker(lib, video, range(0, 20), [[9, 100, 60, 280]] * 20, a)  # lost 9 px from the left border
    _walker(lib, video, range(36, 56), [[40, 100, 100, 280]] * 20, a)  # 1.6 s later, near: someone entering
    moments = search_vector(lib, a, top=10, rule=MomentRule(min_link=0.7))
    assert sorted((m.start_frame, m.end_frame) for m in moments) == [(0, 19), (36, 55)]


def test_someone_entering_at_the_border_is_a_new_visit(tmp_path: Path) -> None:
    """Lost mid-frame, and 1.8 s later a look-alike comes in at the right border: not the same visit."""
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    video = lib.add_video("/v.mp4", fps=10.0)
    _walker(lib, video, range(0, 20), [[500, 100, 560, 280]] * 20, a)
    _walker(lib, video, range(38, 58), [[712, 100, 768, 280]] * 20, a)  # enters at the right border
    _walker(lib, video, range(62, 80), [[600, 100, 660, 280]] * 18, a)  # 0.4 s gap: that visit goes on
    moments = search_vector(lib, a, top=10, rule=MomentRule(min_link=0.7))
    assert sorted((m.start_frame, m.end_frame) for m in moments) == [(0, 19), (38, 79)]


def test_link_threshold_comes_from_the_calibration(tmp_path: Path, monkeypatch) -> None:
    """Two pieces with cosine ~0.8: linked when the calibration's even odds (one person as likely as
    two) are at 0.75, separate at 0.85."""
    from reidkit.core.registry import Registry
    from reidkit.zoo import registry

    lib = FakeLibrary(tmp_path / "lib", model="calibrated-fake")
    a = identity(1)
    video = lib.add_video("/v.mp4", fps=10.0)
    _walker(lib, video, range(0, 20), [[300, 100, 360, 280]] * 20, a)
    _walker(lib, video, range(25, 45), [[310, 100, 370, 280]] * 20, mix(a, identity(2), 0.8))
    spec = registry.ModelSpec("calibrated-fake", "reid", "x.onnx", None, registry.InputSpec(256, 128))
    known_models = registry.MODELS.values()
    for link, expected in ((0.75, 1), (0.85, 2)):
        calibrated = registry.ModelSpec(
            **{
                **spec.__dict__,
                "calibration": {"threshold": 0.5, "logit_slope": 20.0, "logit_bias": -20.0 * link},
            }
        )
        zoo: Registry[registry.ModelSpec] = Registry("model")  # the zoo plus this one spec
        for known in known_models:
            zoo.add(known.name, known)
        zoo.add(calibrated.name, calibrated)
        monkeypatch.setattr(registry, "MODELS", zoo)
        assert len(search_vector(lib, a, top=10)) == expected
    assert calibration_for("calibrated-fake").measured


def test_unmeasured_link_threshold_is_stricter_than_the_match_threshold() -> None:
    cal = calibration_for("no-such-model")
    assert cal.link_threshold > cal.threshold
    assert cal.even_odds == cal.threshold  # its logistic is centred on its threshold


def test_query_expansion_finds_the_persons_other_visit_before_a_look_alike(tmp_path: Path) -> None:
    """The photo matches a look-alike better than the person's second visit, which looks like the first."""
    lib = FakeLibrary(tmp_path / "lib")
    person, camera, photo, other = identity(1), identity(2), identity(3), identity(4)
    query = unit(person + photo)  # the photo: the person, seen by another camera
    first = lib.add_tracklet(lib.add_video("/cam1.mp4"), 0.0, 5.0, person + 0.6 * camera, noise=0.01)
    second = lib.add_tracklet(lib.add_video("/cam2.mp4"), 0.0, 5.0, 0.7 * person + camera, noise=0.01)
    alike = lib.add_tracklet(
        lib.add_video("/cam3.mp4"), 0.0, 5.0, 0.5 * photo + 0.5 * person + other, noise=0.01
    )

    plain = search_vector(lib, query, top=10, rule=MomentRule(expand_query=0))
    assert [m.tracklet_ids for m in plain] == [(first.id,), (alike.id,), (second.id,)]
    expanded = search_vector(lib, query, top=10)
    assert [m.tracklet_ids for m in expanded] == [(first.id,), (second.id,), (alike.id,)]
    # scores stay the photo's cosines, whatever the order
    assert {m.tracklet_ids: m.score for m in expanded} == pytest.approx(
        {m.tracklet_ids: m.score for m in plain}
    )


def test_a_visit_scores_by_its_pooled_vector_not_its_best_member(tmp_path: Path) -> None:
    """Pins the product decision: a linked visit is scored (and ranked) by the cosine between the query
    and the mean of its tracklets' vectors, so one lucky piece cannot lift a visit above a better one."""
    lib = FakeLibrary(tmp_path / "lib")
    query = identity(1)
    part_match = mix(query, identity(2), 0.6)  # linked to the exact match below (cosine 0.6)
    visit = lib.add_video("/v1.mp4")
    exact = lib.add_tracklet(visit, 0.0, 5.0, query, noise=0.0)
    lib.add_tracklet(visit, 5.5, 10.0, part_match, noise=0.0)
    lib.add_tracklet(lib.add_video("/v2.mp4"), 0.0, 5.0, mix(query, identity(3), 0.95), noise=0.0)
    rule = MomentRule(min_link=0.5, expand_query=0)  # no expansion: the visit's own score decides
    moments = search_vector(lib, query, top=10, rule=rule)
    assert [Path(m.media).name for m in moments] == ["v2.mp4", "v1.mp4"]
    pooled = unit(unit(query) + unit(part_match))
    assert moments[1].score == pytest.approx(float(pooled @ unit(query)), abs=1e-4)
    assert len(moments[1].tracklet_ids) == 2 and exact.id in moments[1].tracklet_ids


def test_a_moment_is_placed_on_the_clock_when_its_video_says_when_it_was_recorded(tmp_path: Path) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    recorded = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    camera = lib.add_video("/cam/20231114-221320.mp4", duration=60.0, recorded_at=recorded)
    phone = lib.add_video("/phone/clip.mp4", duration=60.0)  # its file does not say
    lib.add_tracklet(camera, 12.5, 20.0, a)
    lib.add_tracklet(phone, 3.0, 8.0, mix(a, identity(2), 0.95))
    by_media = {m.media: m for m in search_vector(lib, a, top=10)}
    on_camera, on_phone = by_media["/cam/20231114-221320.mp4"], by_media["/phone/clip.mp4"]
    assert (on_camera.recorded_start, on_camera.recorded_end) == (recorded + 12.5, recorded + 20.0)
    assert on_camera.to_dict()["recorded_start"] == "2023-11-14T22:13:32.500Z"
    assert on_camera.to_dict()["recorded_end"] == "2023-11-14T22:13:40.000Z"
    assert on_phone.recorded_start is None
    assert on_phone.to_dict()["recorded_start"] is None and on_phone.to_dict()["recorded_end"] is None
