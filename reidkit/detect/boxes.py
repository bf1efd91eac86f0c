"""Box post-processing shared by the detectors: score filter, NMS, clipping, size filter."""

from __future__ import annotations

import cv2
import numpy as np

from reidkit.core.types import Detections


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, float(iou_threshold))
    keep = np.asarray(kept, np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]


def finish(
    boxes: np.ndarray,
    scores: np.ndarray,
    image_shape: tuple[int, ...],
    *,
    iou_threshold: float,
    min_size: float,
) -> Detections:
    """Clip boxes to the image, drop people shorter than ``min_size`` pixels, NMS; best first."""
    height, width = image_shape[:2]
    boxes = boxes.astype(np.float32, copy=True)
    np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
    box_w, box_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    big_enough = (box_h >= max(min_size, 1.0)) & (box_w >= 1.0)
    boxes, scores = boxes[big_enough], scores[big_enough].astype(np.float32)
    keep = nms(boxes, scores, iou_threshold)
    return Detections(boxes[keep], scores[keep])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) xyxy boxes -> (N, M)."""
    a, b = np.asarray(a, np.float32).reshape(-1, 4), np.asarray(b, np.float32).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
