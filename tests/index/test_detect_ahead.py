"""detect_ahead: frames detected side by side get exactly the detections of the one-at-a-time loop."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from reidkit.core.types import Detections, Frame
from reidkit.index.detect_ahead import DetectorPool, detect_ahead
from reidkit.index.motion import MotionGate
from tests.index.test_motion import room


class FrameDetector:
    """Finds one person wherever the frame is dark; records which thread called it and on what."""

    name = "fake"

    def __init__(self, calls: list[tuple[int, int]]):
        self.calls = calls

    def detect(self, image: np.ndarray) -> Detections:
        self.calls.append((threading.get_ident(), id(self)))
        ys, xs = np.nonzero(image[..., 0] < 50)
        if len(xs) == 0:
            return Detections.empty()
        box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
        return Detections(box, np.array([0.9], np.float32))


class Tracker:
    """Open while the last detected frame had a person, and for two frames after (a lost track)."""

    def __init__(self) -> None:
        self.idle = 99

    def update(self, detections: Detections) -> None:
        self.idle = 0 if len(detections) else self.idle + 1

    def open(self) -> bool:
        return self.idle <= 2


def footage() -> list[Frame]:
    """Empty room, a person walking in and standing still, leaving, the room still again."""
    xs = [None] * 4 + [10, 40, 70, 70, 70, 70, 70, 70, 70, 70] + [None] * 12
    return [Frame(room(x, seed=i), i, i / 5.0) for i, x in enumerate(xs)]


def sequential(frames: list[Frame]) -> list[tuple[int, bool, list[float]]]:
    gate, tracker, detector = MotionGate(keyframe_seconds=1.0), Tracker(), FrameDetector([])
    out = []
    for frame in frames:
        detect = gate.should_detect(frame, open_tracks=tracker.open())
        detections = detector.detect(frame.image) if detect else Detections.empty()
        tracker.update(detections)
        out.append((frame.index, detect, detections.boxes.ravel().tolist()))
    return out


def side_by_side(frames: list[Frame], pool: DetectorPool) -> list[tuple[int, bool, list[float]]]:
    gate, tracker = MotionGate(keyframe_seconds=1.0), Tracker()
    out = []
    try:
        for item in detect_ahead(iter(frames), pool, gate, tracker.open):
            tracker.update(item.detections)
            out.append((item.frame.index, item.detected, item.detections.boxes.ravel().tolist()))
    finally:
        pool.close()
    return out


def test_side_by_side_detection_equals_the_one_at_a_time_loop() -> None:
    frames = footage()
    calls: list[tuple[int, int]] = []
    detectors = [FrameDetector(calls) for _ in range(3)]
    out = side_by_side(frames, DetectorPool(detectors))
    expected = sequential(frames)
    assert out == expected
    assert sum(d for _, d, _ in expected) < len(frames)  # the gate did skip frames: the case is real
    detectors_by_thread: dict[int, set[int]] = {}
    for thread, detector in calls:
        detectors_by_thread.setdefault(thread, set()).add(detector)
    assert all(len(d) == 1 for d in detectors_by_thread.values())  # each thread keeps one detector
    used = [d for ds in detectors_by_thread.values() for d in ds]
    assert len(set(used)) == len(used)  # and no two threads share one
    assert set(used) <= {id(d) for d in detectors}


def test_one_thread_safe_detector_serves_every_thread_with_the_same_results() -> None:
    frames = footage()
    calls: list[tuple[int, int]] = []
    shared = FrameDetector(calls)
    assert side_by_side(frames, DetectorPool([shared] * 3)) == sequential(frames)
    assert {detector for _, detector in calls} == {id(shared)}


class MeetingDetector(FrameDetector):
    """Its first two calls wait for each other: they return only if two threads call it at once."""

    def __init__(self, calls: list[tuple[int, int]]):
        super().__init__(calls)
        self.meeting = threading.Barrier(2, timeout=10)
        self.started = 0
        self.lock = threading.Lock()

    def detect(self, image: np.ndarray) -> Detections:
        with self.lock:
            self.started += 1
            first_two = self.started <= 2
        if first_two:
            self.meeting.wait()
        return super().detect(image)


def test_a_shared_detector_runs_in_several_threads_at_once() -> None:
    calls: list[tuple[int, int]] = []
    shared = MeetingDetector(calls)
    pool = DetectorPool([shared, shared])
    try:
        items = list(detect_ahead(iter(footage()[:6]), pool, None, lambda: False))
    finally:
        pool.close()
    assert len(items) == 6
    assert len({thread for thread, _ in calls}) == 2


def test_a_pool_needs_a_detector() -> None:
    with pytest.raises(ValueError, match="at least one detector"):
        DetectorPool([])


def test_without_a_gate_every_frame_is_detected_in_order() -> None:
    frames = footage()[:9]
    pool = DetectorPool([FrameDetector([]), FrameDetector([])])
    try:
        items = list(detect_ahead(iter(frames), pool, None, lambda: False))
    finally:
        pool.close()
    assert [i.frame.index for i in items] == list(range(9))
    assert all(i.detected for i in items)
    assert [len(i.detections) for i in items] == [0] * 4 + [1] * 5


def test_stopping_early_leaves_no_work_running() -> None:
    pool = DetectorPool([FrameDetector([]), FrameDetector([])])
    items = detect_ahead(iter(footage()), pool, None, lambda: False)
    next(items)
    items.close()
    pool.close()  # returns: nothing left waiting
