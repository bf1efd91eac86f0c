"""Model-free parts for indexing tests on tests/synthetic.py scenes (picklable, so Ray workers can use them)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from reidkit.core.types import Detections, Tracks
from reidkit.detect.boxes import box_iou


class BackgroundDetector:
    """People = what differs from the empty scene: connected blobs of changed pixels, scored 0.9.

    Exact on synthetic scenes (static background); people who overlap come out as one box.
    """

    name = "background-diff"

    def __init__(self, background: np.ndarray, threshold: int = 60, min_area: int = 150):
        self.background = background.astype(np.int16)
        self.threshold = threshold
        self.min_area = min_area

    def detect(self, image: np.ndarray) -> Detections:
        changed = np.abs(image.astype(np.int16) - self.background).sum(axis=2) > self.threshold
        mask = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, area in stats[1:n] if area >= self.min_area]
        if not boxes:
            return Detections.empty()
        return Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.9, np.float32))


class ShirtTrousersEmbedder:
    """Appearance = mean colour of the upper and of the lower half of the crop's centre column (6-D)."""

    name = "shirt-trousers-test"
    dim = 6

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        rows = []
        for crop in crops:
            h, w = crop.shape[:2]
            centre = crop[:, w // 4 : 3 * w // 4 + 1].reshape(h, -1, 3).astype(np.float32)
            upper, lower = centre[: h // 2].reshape(-1, 3).mean(0), centre[h // 2 :].reshape(-1, 3).mean(0)
            rows.append(np.concatenate([upper, lower]) - 100.0)
        out = np.array(rows, np.float32).reshape(-1, self.dim)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


class OverlapTracker:
    """A detection continues the track whose last box it overlaps most (IoU >= ``min_iou``), else starts
    one; a track unseen for more than ``buffer`` source frames has ended. No motion model, no scores."""

    def __init__(self, buffer: int = 4, min_iou: float = 0.3):
        self._buffer = buffer
        self.min_iou = min_iou
        self.reset()

    @property
    def buffer(self) -> int:
        return self._buffer

    def reset(self) -> None:
        self._last: dict[int, tuple[np.ndarray, int]] = {}  # track id -> (last box, last frame)
        self._next_id = 1

    def update(self, detections: Detections, frame_index: int) -> Tracks:
        live = {t: v for t, v in self._last.items() if frame_index - v[1] <= self._buffer}
        ids = list(live)
        overlap = box_iou(detections.boxes, np.array([live[t][0] for t in ids]).reshape(-1, 4))
        out = np.zeros(len(detections), np.int64)
        for i in np.argsort(-detections.scores, kind="stable"):
            best = int(np.argmax(overlap[i])) if ids else -1
            if best >= 0 and overlap[i, best] >= self.min_iou:
                out[i] = ids[best]
                overlap[:, best] = -1.0  # one detection per track
            else:
                out[i], self._next_id = self._next_id, self._next_id + 1
            live[int(out[i])] = (detections.boxes[i], frame_index)
        self._last = live
        return Tracks(detections.boxes, detections.scores, out)
