"""OpenCV's HOG + linear SVM people detector: needs no weights file, the fallback when ONNX models are
missing. Much less accurate than YOLOX and blind to people shorter than ~128 pixels (after the resize
to ``max_side``); use it to get going, not for real footage.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from reidkit.core.types import Detections
from reidkit.detect.boxes import finish
from reidkit.detect.options import DetectorOptions

# HOG's own scale of scores (1 - exp(-SVM margin), see HogDetector); frames shrunk to 800 px for speed.
HOG_DEFAULTS = DetectorOptions(conf=0.2, input_side=800)


class HogDetector:
    """``HogDetector().detect(image_bgr)`` -> Detections.

        Scores are ``1 - exp(-margin)`` of the SVM margin: 0 at the decision boundary, ~0.63 at margin 1,
        monotonic, in [0, 1). Images whose longer side exceeds ``max_side`` are shrunk first (speed; None:
    never).
    """

    name = "hog"

    def __init__(
        self,
        conf: float = HOG_DEFAULTS.conf,
        nms_iou: float = HOG_DEFAULTS.nms_iou,
        min_size: float = HOG_DEFAULTS.min_size,
        max_side: int | None = HOG_DEFAULTS.input_side,
        win_stride: int = 8,
        scale: float = 1.05,
    ):
        self.conf, self.nms_iou, self.min_size = conf, nms_iou, min_size
        self.max_side, self.win_stride, self.scale = max_side, win_stride, scale
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))

    def detect(self, image: np.ndarray) -> Detections:
        factor = 1.0 if self.max_side is None else min(1.0, self.max_side / max(image.shape[:2]))
        small = (
            cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            if factor < 1
            else image
        )
        stride = (self.win_stride, self.win_stride)
        rects, margins = self.hog.detectMultiScale(small, winStride=stride, padding=(8, 8), scale=self.scale)
        if len(rects) == 0:
            return Detections.empty()
        x, y, w, h = (np.asarray(rects, np.float32) / factor).T
        # The 64x128 window holds a margin around the person; shrink to the body as OpenCV's sample does.
        boxes = np.stack([x + 0.1 * w, y + 0.07 * h, x + 0.9 * w, y + 0.87 * h], axis=1)
        scores = 1.0 - np.exp(-np.asarray(margins, np.float32).reshape(-1))
        hit = scores >= self.conf
        return finish(
            boxes[hit], scores[hit], image.shape, iou_threshold=self.nms_iou, min_size=self.min_size
        )

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        return [self.detect(image) for image in images]

    def __repr__(self) -> str:
        return f"HogDetector(conf={self.conf}, max_side={self.max_side})"
