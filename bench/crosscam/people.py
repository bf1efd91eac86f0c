"""Person detector used by the benchmark: reidkit's own when it exists, else a minimal YOLOX decoder.

The fallback only exists so the benchmark can find empty background frames before ``reidkit.detect``
lands; it follows the decoding documented in ../shared/README.md (grids of strides 8/16/32, score =
objectness x class, NMS).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from reidkit.core.types import Detections


def build_person_detector(name: str = "yolox-nano", score_threshold: float = 0.3) -> Any:
    try:
        from reidkit.detect import build_detector  # type: ignore[attr-defined]
    except ImportError:
        return YoloxPeople(name, score_threshold)
    return build_detector(name)


class YoloxPeople:
    """Bare YOLOX person detector over onnxruntime (class 0 only)."""

    def __init__(self, model: str = "yolox-nano", score_threshold: float = 0.3, nms_iou: float = 0.45):
        from reidkit.core.runtime import create_session
        from reidkit.zoo.registry import resolve_model

        path, spec = resolve_model(model)
        assert spec is not None
        self.name = spec.name
        self.spec = spec.input
        self.session = create_session(path)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        grids, strides = [], []
        for stride in (8, 16, 32):
            gh, gw = self.spec.height // stride, self.spec.width // stride
            ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
            grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
            strides.append(np.full((gh * gw, 1), stride))
        self.grid = np.concatenate(grids).astype(np.float32)
        self.stride = np.concatenate(strides).astype(np.float32)

    def detect(self, image: np.ndarray) -> Detections:
        from reidkit.core.runtime import letterbox

        padded, scale = letterbox(image, self.spec.height, self.spec.width, self.spec.pad_value)
        tensor = padded.astype(np.float32).transpose(2, 0, 1)[None]
        raw = self.session.run(None, {self.session.get_inputs()[0].name: tensor})[0][0]
        scores = raw[:, 4] * raw[:, 5]
        keep = scores >= self.score_threshold
        if not keep.any():
            return Detections.empty()
        xy = (raw[keep, :2] + self.grid[keep]) * self.stride[keep]
        wh = np.exp(raw[keep, 2:4]) * self.stride[keep]
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1) / scale
        scores = scores[keep]
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
        kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.score_threshold, self.nms_iou)
        kept = np.asarray(kept, dtype=np.int64).reshape(-1)
        h, w = image.shape[:2]
        boxes = np.clip(boxes[kept], 0, [w, h, w, h]).astype(np.float32)
        return Detections(boxes, scores[kept].astype(np.float32))
