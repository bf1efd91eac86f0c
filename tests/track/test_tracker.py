from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from reidkit.core.types import Detections, Tracker, Tracks
from reidkit.track import ByteTracker, TrackerConfig, tracks_to_mot
from reidkit.track.metrics import score_tracking
from tests.synthetic import crossing_scene, gt_detections, make_scene, reentry_scene


def run_tracker(scene, tracker, stride=1, **det_kw):
    """Track ``scene`` on noisy ground-truth detections; return MOT rows and per-frame tracks."""
    rows, per_frame = [], {}
    for index in range(0, len(scene), stride):
        tracks = tracker.update(gt_detections(scene, index, **det_kw), index)
        per_frame[index] = tracks
        rows.append(tracks_to_mot(index, tracks))
    return np.concatenate(rows), per_frame


def gt_rows(scene, stride=1, min_visibility=0.3):
    gt = scene.mot_gt(min_visibility)
    return gt[(gt[:, 0] - 1) % stride == 0]


def dominant_ids(scene, per_frame, identity):
    """Track ids covering ``identity``'s truth boxes (IoU >= 0.5), counted per frame."""
    from reidkit.detect.boxes import box_iou

    counts: Counter[int] = Counter()
    truth = scene.gt[identity]
    for index, tracks in per_frame.items():
        if index not in truth.boxes or not len(tracks):
            continue
        overlap = box_iou(truth.boxes[index][None], tracks.boxes)[0]
        if overlap.max() >= 0.5:
            counts[int(tracks.track_ids[overlap.argmax()])] += 1
    return counts


def test_implements_tracker_protocol():
    assert isinstance(ByteTracker(), Tracker)


def test_simple_scene_one_id_per_person():
    scene = make_scene(n_people=3, n_frames=100, seed=2)
    hyp, per_frame = run_tracker(scene, ByteTracker(), noise=0.02, drop_rate=0.05)
    scores = score_tracking(gt_rows(scene), hyp)
    assert scores.idf1 > 0.9, scores
    assert scores.mota > 0.8, scores
    assert scores.id_switches <= 1, scores
    for identity in scene.gt:
        counts = dominant_ids(scene, per_frame, identity)
        assert counts.most_common(1)[0][1] >= 0.85 * sum(counts.values())


def test_ids_positive_unique_and_reset():
    scene = make_scene(n_people=4, n_frames=60, seed=5)
    tracker = ByteTracker()
    hyp, _ = run_tracker(scene, tracker)
    assert hyp[:, 1].min() >= 1
    frame_id = hyp[:, :2].astype(int)
    assert len({tuple(r) for r in frame_id}) == len(frame_id)  # no id twice in a frame
    assert sorted(set(hyp[:, 1].astype(int))) == list(range(1, int(hyp[:, 1].max()) + 1))  # no gaps
    tracker.reset()
    again, _ = run_tracker(scene, tracker)
    np.testing.assert_array_equal(hyp, again)  # deterministic, ids restart at 1


def test_crossing_keeps_identities():
    scene = crossing_scene(n_frames=80)
    # The crossing hides identity 1 below min_visibility for a few frames: a real occlusion gap.
    hidden = [i for i in range(80) if scene.gt[1].visibility.get(i, 0) < 0.3]
    assert hidden, "scene should contain an occlusion"
    _, per_frame = run_tracker(scene, ByteTracker(), noise=0.015)
    before = dominant_ids(scene, {i: t for i, t in per_frame.items() if i < min(hidden)}, 1)
    after = dominant_ids(scene, {i: t for i, t in per_frame.items() if i > max(hidden)}, 1)
    assert before.most_common(1)[0][0] == after.most_common(1)[0][0]
    before2 = dominant_ids(scene, {i: t for i, t in per_frame.items() if i < min(hidden)}, 2)
    after2 = dominant_ids(scene, {i: t for i, t in per_frame.items() if i > max(hidden)}, 2)
    assert before2.most_common(1)[0][0] == after2.most_common(1)[0][0]
    assert before.most_common(1)[0][0] != before2.most_common(1)[0][0]


def test_low_score_detections_keep_occluded_track():
    """ByteTrack's second association: a person whose score drops below track_high keeps the track."""
    scene = make_scene(n_people=2, n_frames=60, seed=3)
    hyp, _ = run_tracker(scene, ByteTracker(), noise=0.01, low_score_rate=0.3)
    scores = score_tracking(gt_rows(scene), hyp)
    assert scores.id_switches == 0 and scores.idf1 > 0.85, scores
    ignore_low = TrackerConfig(track_low=0.5)  # without the second association tracks break up
    hyp2, _ = run_tracker(scene, ByteTracker(ignore_low), noise=0.01, low_score_rate=0.3)
    assert score_tracking(gt_rows(scene), hyp2).idf1 < scores.idf1


@pytest.mark.parametrize("gap, same_id", [(15, True), (45, False)])
def test_reentry_on_both_sides_of_buffer(gap, same_id):
    scene = reentry_scene(gap=gap)
    _, per_frame = run_tracker(scene, ByteTracker(TrackerConfig(buffer=30)), noise=0.01)
    first, second = scene.gt[1].intervals
    ids_first = dominant_ids(scene, {i: t for i, t in per_frame.items() if i <= first[1]}, 1)
    ids_second = dominant_ids(scene, {i: t for i, t in per_frame.items() if i >= second[0]}, 1)
    assert (ids_first.most_common(1)[0][0] == ids_second.most_common(1)[0][0]) is same_id


@pytest.mark.parametrize("stride", [2, 3])
def test_frame_stride(stride):
    scene = make_scene(n_people=3, n_frames=120, seed=2)
    hyp, _ = run_tracker(scene, ByteTracker(), stride=stride, noise=0.02, drop_rate=0.05)
    scores = score_tracking(gt_rows(scene, stride), hyp)
    assert scores.idf1 > 0.85 and scores.id_switches <= 1, scores


def test_stride_reentry_buffer_counts_source_frames():
    """buffer is in source frames: at stride 3 a 45-frame gap still exceeds a 30-frame buffer."""
    scene = reentry_scene(gap=45)
    _, per_frame = run_tracker(scene, ByteTracker(TrackerConfig(buffer=30)), stride=3, noise=0.01)
    first, second = scene.gt[1].intervals
    a = dominant_ids(scene, {i: t for i, t in per_frame.items() if i <= first[1]}, 1).most_common(1)[0][0]
    b = dominant_ids(scene, {i: t for i, t in per_frame.items() if i >= second[0]}, 1).most_common(1)[0][0]
    assert a != b


def test_empty_frames_and_no_detections():
    tracker = ByteTracker()
    for index in range(5):
        out = tracker.update(Detections.empty(), index)
        assert isinstance(out, Tracks) and len(out) == 0
    box = np.array([[10, 10, 50, 110]], np.float32)
    one = Detections(box, np.array([0.9], np.float32))
    assert len(tracker.update(one, 5)) == 0  # tentative: not on the first frame of the media any more
    assert tracker.update(one, 6).track_ids.tolist() == [1]
    for index in range(7, 12):  # detector misses: track goes lost, not reported
        assert len(tracker.update(Detections.empty(), index)) == 0
    assert tracker.update(one, 12).track_ids.tolist() == [1]  # re-activated within buffer


def test_first_frame_confirms_immediately_and_low_scores_do_not_start_tracks():
    tracker = ByteTracker()
    dets = Detections(
        np.array([[0, 0, 40, 100], [100, 0, 140, 100], [200, 0, 240, 100]], np.float32),
        np.array([0.9, 0.3, 0.05], np.float32),
    )
    out = tracker.update(dets, 0)
    assert out.track_ids.tolist() == [1]
    np.testing.assert_allclose(out.boxes[0], dets.boxes[0], atol=1e-3)


def test_degenerate_boxes_ignored_and_frame_order_enforced():
    tracker = ByteTracker()
    bad = Detections(np.array([[10, 10, 10, 50], [5, 5, 3, 9]], np.float32), np.array([0.9, 0.9], np.float32))
    assert len(tracker.update(bad, 0)) == 0
    with pytest.raises(ValueError, match="increase"):
        tracker.update(Detections.empty(), 0)


def test_config_validation():
    with pytest.raises(ValueError):
        TrackerConfig(track_low=0.6, track_high=0.5)
    with pytest.raises(ValueError):
        TrackerConfig(min_hits=0)


@pytest.mark.parametrize("low_recent, resumed", [(0, False), (5, True)])
def test_low_score_detection_resumes_a_recently_lost_track(low_recent: int, resumed: bool) -> None:
    tracker = ByteTracker(TrackerConfig(low_recent=low_recent))
    box = np.array([[100, 100, 140, 200]], np.float32)
    for frame in range(3):
        tracker.update(Detections(box, np.array([0.9], np.float32)), frame)
    tracker.update(Detections.empty(), 3)  # missed once: lost
    tracks = tracker.update(Detections(box, np.array([0.3], np.float32)), 4)  # back, partly hidden
    assert (len(tracks) == 1) is resumed
    if resumed:
        assert tracks.track_ids.tolist() == [1]


def test_tracker_thresholds_follow_the_detector():
    nano = TrackerConfig.for_detector("yolox-nano")
    # 0.3 restates yolox-nano's tuned registry value (ModelSpec.track_high); what this pins is that
    # the registry value reaches the tracker, by name, by file path and by detector object.
    assert nano.track_high == nano.new_track == 0.3
    assert TrackerConfig.for_detector("some-unknown-detector") == TrackerConfig()
    assert TrackerConfig.for_detector(Path("/models/yolox_nano_416x416.onnx")).track_high == 0.3

    class Named:
        name = "yolox-nano"

    tuned = TrackerConfig.for_detector(Named(), track_high=0.6, new_track=0.6, buffer=5)
    assert (tuned.track_high, tuned.new_track, tuned.buffer) == (0.6, 0.6, 5)  # overrides win
