"""MotionGate: the detector is skipped on still frames only while nobody is tracked."""

from __future__ import annotations

import numpy as np

from reidkit.core.types import Frame
from reidkit.index.motion import MotionGate

SHAPE = (240, 320, 3)


def room(person_x: int | None = None, seed: int = 0) -> np.ndarray:
    """A textured empty room; with a dark 30x80 person at ``person_x``."""
    rng = np.random.default_rng(seed)
    image = np.full(SHAPE, 120, np.uint8)
    image[::16] = 90  # floor lines: the frame is not flat
    image += rng.integers(0, 4, SHAPE, dtype=np.uint8)  # sensor and compression noise
    if person_x is not None:
        image[100:180, person_x : person_x + 30] = (30, 40, 60)
    return image


def frames(images: list[np.ndarray], fps: float = 5.0) -> list[Frame]:
    return [Frame(image, i, i / fps) for i, image in enumerate(images)]


def test_a_still_frame_skips_the_detector_when_nobody_is_tracked() -> None:
    gate = MotionGate(keyframe_seconds=2.0)
    still = frames([room(seed=i) for i in range(5)])  # only noise changes
    assert gate.should_detect(still[0], open_tracks=False)  # the first frame is always looked at
    assert [gate.should_detect(f, open_tracks=False) for f in still[1:]] == [False] * 4


def test_a_tracked_person_runs_the_detector_on_still_frames() -> None:
    gate = MotionGate(keyframe_seconds=2.0)
    still = frames([room(person_x=100, seed=i) for i in range(5)])  # someone standing still
    assert all(gate.should_detect(f, open_tracks=True) for f in still)


def test_motion_runs_the_detector() -> None:
    gate = MotionGate(keyframe_seconds=2.0)
    walk = frames([room(), room(), room(person_x=10), room(person_x=20), room(person_x=20)])
    decisions = [gate.should_detect(f, open_tracks=False) for f in walk]
    assert decisions == [True, False, True, True, False]  # enters, walks, then stands still


def test_a_keyframe_is_due_every_keyframe_seconds() -> None:
    gate = MotionGate(keyframe_seconds=1.0)
    still = frames([room(person_x=100, seed=i) for i in range(11)], fps=5.0)  # 0.2 s apart
    detected = [f.index for f in still if gate.should_detect(f, open_tracks=False)]
    assert detected == [0, 5, 10]  # someone who never moves is still looked for once a second
