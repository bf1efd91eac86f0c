"""Box arithmetic: the detectors' post-processing (NMS, clipping, size filter) and :func:`box_iou`, the
one IoU that tracking, crop sampling, search and the benches use."""

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
    """Pairwise intersection-over-union of ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)`` float64.

    Boxes with no area overlap nothing (IoU 0), so degenerate boxes never match.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return _iou(a[:, None, :], b[None, :, :])


def paired_box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]`` for two ``(N, 4)`` arrays of boxes -> ``(N,)`` float64."""
    return _iou(
        np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    )


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of broadcastable ``(..., 4)`` float64 boxes; no-area boxes overlap nothing."""
    ix1 = np.maximum(a[..., 0], b[..., 0])
    iy1 = np.maximum(a[..., 1], b[..., 1])
    ix2 = np.minimum(a[..., 2], b[..., 2])
    iy2 = np.minimum(a[..., 3], b[..., 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
