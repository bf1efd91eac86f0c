"""Skip the detector on still frames: :class:`MotionGate`."""

from __future__ import annotations

import numpy as np

from reidkit.core.types import Frame


class MotionGate:
    """Says whether a frame is worth running the detector on.

    Yes when a track is open (the tracker needs every frame then), when the frame differs from the
    previous processed one (something moved: maybe someone entered), and at least every
    ``keyframe_seconds`` (someone may stand still). Differences are measured on a small blurred grey
    copy, so compression noise and lighting flicker do not count; a walking person 1/10 of the frame
    tall changes well over ``min_fraction`` of it between frames 0.2 s apart.
    """

    def __init__(
        self,
        keyframe_seconds: float = 2.0,
        width: int = 96,
        pixel_delta: int = 16,
        min_fraction: float = 0.002,
    ):
        self.keyframe_seconds = keyframe_seconds
        self.width = width
        self.pixel_delta = pixel_delta
        self.min_fraction = min_fraction
        self._previous: np.ndarray | None = None
        self._last_detect: float | None = None

    def moved(self, image: np.ndarray) -> bool:
        import cv2

        height = max(1, round(image.shape[0] * self.width / image.shape[1]))
        small = cv2.resize(image, (self.width, height), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (3, 3), 0)
        previous, self._previous = self._previous, grey
        if previous is None:
            return True
        changed = cv2.absdiff(grey, previous) > self.pixel_delta
        return bool(changed.mean() >= self.min_fraction)

    def should_detect(self, frame: Frame, open_tracks: bool) -> bool:
        return self.decide(frame.time, self.moved(frame.image), open_tracks)

    def due(self, time: float) -> bool:
        """A keyframe is due at ``time`` (the detector has not run for ``keyframe_seconds``)."""
        return self._last_detect is None or time - self._last_detect >= self.keyframe_seconds

    def decide(self, time: float, moved: bool, open_tracks: bool) -> bool:
        """:meth:`should_detect` for a frame whose :meth:`moved` was measured already, in frame order.

        Measuring motion needs only the frame, deciding needs the tracker's state after the previous
        frame: apart, the motion of frames ahead is known while the current one is still tracked.
        """
        if open_tracks or moved or self.due(time):
            self._last_detect = time
            return True
        return False
