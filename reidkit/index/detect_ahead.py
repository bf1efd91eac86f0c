"""Detect people in the next frames of a video while the current one is tracked: :class:`DetectAhead`.

A small detector on two threads is far from twice as fast as on one (its layers are too small to split
well), so on a machine with few cores the indexer gets more frames per second by running one
single-threaded detector per core on consecutive frames at once (``bench/index_speed.py``). Each worker
thread uses its own detector, so a detector need not be thread-safe; a thread-safe one (an ONNX
session) is one object shared by all, loaded once.

Which frames need the detector depends on the tracker's state after the frame before
(:meth:`~reidkit.index.motion.MotionGate.decide`), which is not known yet for frames ahead. So the
frames ahead are detected *speculatively* (when something moved, a track was open or a keyframe is
due) and the decision is taken in frame order as before: a speculative result that is not needed is
dropped, a needed frame that was not speculated on is detected then. The detections a video gets are
those of the one-frame-at-a-time loop.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from reidkit.core.types import Detections, Detector, Frame
from reidkit.index.motion import MotionGate


class DetectorPool:
    """One thread per detector in ``detectors``, each detecting one image at a time with its own.

    The same object may be listed several times when its ``detect`` is thread-safe
    (:func:`reidkit.detect.build_detectors`); otherwise each thread must get its own.
    """

    def __init__(self, detectors: Sequence[Detector]):
        if not detectors:
            raise ValueError("a DetectorPool needs at least one detector")
        self._detectors = list(detectors)
        self._assigned = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self.workers = len(self._detectors)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="reidkit-detect")

    def _detect(self, image: object) -> Detections:
        detector = getattr(self._local, "detector", None)
        if detector is None:  # a thread's first image: it takes the next detector (the pool has as many)
            with self._lock:
                detector = self._local.detector = self._detectors[self._assigned]
                self._assigned += 1
        return detector.detect(image)  # type: ignore[arg-type]

    def submit(self, frame: Frame) -> Future[Detections]:
        return self._executor.submit(self._detect, frame.image)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Ahead:
    frame: Frame
    moved: bool
    detections: Future[Detections] | None  # None: not speculated on


@dataclass(frozen=True)
class DetectedFrame:
    frame: Frame
    detections: Detections
    detected: bool  # False: the gate skipped the detector on this frame (``detections`` is empty)


def detect_ahead(
    frames: Iterator[Frame],
    pool: DetectorPool,
    gate: MotionGate | None,
    open_tracks: Callable[[], bool],
) -> Generator[DetectedFrame, None, None]:
    """``frames`` with their detections, in order, ``pool.workers`` frames detected at once.

    ``open_tracks()`` is the tracker's state after the frame last yielded (the caller tracks each frame
    before asking for the next); ``gate`` None runs the detector on every frame.
    """
    window: deque[_Ahead] = deque()
    exhausted = False
    try:
        while True:
            while not exhausted and len(window) < pool.workers:
                frame = next(frames, None)
                if frame is None:
                    exhausted = True
                    break
                moved = True if gate is None else gate.moved(frame.image)  # in frame order, always
                speculate = gate is None or moved or open_tracks() or gate.due(frame.time)
                window.append(_Ahead(frame, moved, pool.submit(frame) if speculate else None))
            if not window:
                return
            ahead = window.popleft()
            needed = gate is None or gate.decide(ahead.frame.time, ahead.moved, open_tracks())
            if not needed:
                yield DetectedFrame(ahead.frame, Detections.empty(), False)
                continue
            future = ahead.detections or pool.submit(ahead.frame)
            yield DetectedFrame(ahead.frame, future.result(), True)
    finally:
        for ahead in window:
            if ahead.detections is not None:
                ahead.detections.cancel()
