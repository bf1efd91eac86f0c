from __future__ import annotations

import numpy as np
import pytest

from reidkit.core.types import Frame, Tracks
from reidkit.track import ByteTracker, TrackletBuilder
from tests.synthetic import gt_detections, make_scene

IMAGE = np.zeros((4, 4, 3), np.uint8)


def frame(i: int) -> Frame:
    return Frame(IMAGE, i, i / 10)


def tracks(*ids: int) -> Tracks:
    n = len(ids)
    boxes = np.tile(np.array([0, 0, 10, 20], np.float32), (n, 1)) + np.arange(n, dtype=np.float32)[:, None]
    return Tracks(boxes, np.full(n, 0.9, np.float32), np.asarray(ids, np.int64))


def test_lengths_min_length_and_order():
    builder = TrackletBuilder(min_length=3)
    for i in range(5):
        builder.add(frame(i), tracks(1, 2) if i < 2 else tracks(1))  # track 2: 2 observations only
    builder.add(frame(6), tracks(1, 3))
    out = builder.finish()
    assert [t.track_id for t in out] == [1]
    t = out[0]
    assert len(t) == 6 and t.frames.tolist() == [0, 1, 2, 3, 4, 6]
    assert t.start_frame == 0 and t.end_frame == 6 and t.end == pytest.approx(0.6)
    assert t.boxes.shape == (6, 4) and t.boxes.dtype == np.float32 and t.scores.dtype == np.float32
    assert builder.open_count == 0 and builder.finish() == []


def test_pop_finished_releases_old_tracklets_only():
    builder = TrackletBuilder(min_length=1, max_idle=5)
    for i in range(3):
        builder.add(frame(i), tracks(1, 2))
    for i in range(3, 10):
        builder.add(frame(i), tracks(2))
    assert builder.pop_finished(7) == []  # track 1 last seen at 2: idle 5, not more
    popped = builder.pop_finished(8)
    assert [t.track_id for t in popped] == [1] and len(popped[0]) == 3
    assert builder.open_count == 1
    assert [t.track_id for t in builder.finish()] == [2]


def test_rejects_bad_input():
    builder = TrackletBuilder()
    builder.add(frame(3), tracks(1))
    with pytest.raises(ValueError):
        builder.add(frame(3), tracks(1))
    with pytest.raises(ValueError):
        builder.add(frame(4), tracks(0))
    with pytest.raises(ValueError):
        TrackletBuilder(min_length=0)


def test_on_tracker_output_covers_each_person():
    scene = make_scene(n_people=3, n_frames=60, seed=4)
    tracker = ByteTracker()
    builder = TrackletBuilder(min_length=3, max_idle=tracker.config.buffer)
    finished = []
    for f in scene.iter_frames(stride=2):
        builder.add(f, tracker.update(gt_detections(scene, f.index, noise=0.01), f.index))
        finished += builder.pop_finished(f.index)
    finished += builder.finish()
    assert len({t.track_id for t in finished}) == len(finished)
    assert len(finished) == len(scene.gt)
    for t in finished:
        assert np.all(np.diff(t.frames) > 0) and np.all(t.frames % 2 == 0)
