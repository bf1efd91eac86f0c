"""What the indexer relies on from any ``core.types.Tracker``: the real ByteTracker and the test fake."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from reidkit.core.types import Detections, Tracker
from reidkit.track import ByteTracker, TrackerConfig
from tests.index.fakes import OverlapTracker

TRACKERS: dict[str, Callable[[], Tracker]] = {
    "byte": lambda: ByteTracker(TrackerConfig(buffer=6)),
    "fake": lambda: OverlapTracker(buffer=6),
}


def person(x: float) -> Detections:
    return Detections(np.array([[x, 50, x + 30, 130]], np.float32), np.array([0.9], np.float32))


@pytest.fixture(params=sorted(TRACKERS))
def tracker(request: pytest.FixtureRequest) -> Tracker:
    return TRACKERS[request.param]()


def test_is_a_tracker_with_a_buffer(tracker: Tracker) -> None:
    assert isinstance(tracker, Tracker)
    assert tracker.buffer == 6


def test_one_id_while_seen_a_new_one_after_the_buffer(tracker: Tracker) -> None:
    tracker.reset()
    walk = [tracker.update(person(10 + 2 * i), i) for i in range(5)]
    ids = {int(t) for tracks in walk for t in tracks.track_ids}
    assert len(ids) == 1 and min(ids) >= 1
    gone = 4 + tracker.buffer + 1  # unseen for longer than the buffer: that track has ended
    for frame in range(5, gone + 1):  # the indexer updates on every processed frame, empty or not
        assert not len(tracker.update(Detections.empty(), frame))
    back = [tracker.update(person(20), gone + 1 + i) for i in range(3)]
    back_ids = {int(t) for tracks in back for t in tracks.track_ids}
    assert back_ids and not back_ids & ids


def test_reset_starts_a_new_file(tracker: Tracker) -> None:
    for i in range(3):
        tracker.update(person(10), 100 + i)
    tracker.reset()
    tracks = tracker.update(person(10), 0)  # frame indices start over
    assert len(tracks) <= 1 and all(int(t) >= 1 for t in tracks.track_ids)
