"""Box expansion and minimum-cost assignment used by the tracker (IoU: :func:`reidkit.detect.boxes.box_iou`)."""

from __future__ import annotations

import numpy as np

try:  # lap's Jonker-Volgenant solver handles the cost limit natively and is faster than scipy's.
    import lap as _lap
except ImportError:  # pragma: no cover - lap is a declared dependency; scipy is the safety net
    _lap = None


def expand_boxes(boxes: np.ndarray, scale: float) -> np.ndarray:
    """Grow xyxy boxes by ``scale`` x their width / height on every side (``scale=0`` is a no-op)."""
    if scale == 0:
        return boxes
    boxes = np.asarray(boxes, dtype=np.float64)
    pad_w = (boxes[:, 2] - boxes[:, 0]) * scale
    pad_h = (boxes[:, 3] - boxes[:, 1]) * scale
    return boxes + np.stack([-pad_w, -pad_h, pad_w, pad_h], axis=1)


def linear_assignment(cost: np.ndarray, max_cost: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one matching that never pairs a row and column costing more than ``max_cost``.

    Returns ``(matches (K, 2) [row, col], unmatched_rows, unmatched_cols)``.
    """
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return np.zeros((0, 2), np.int64), np.arange(rows), np.arange(cols)
    if _lap is not None:
        _, row_to_col, _ = _lap.lapjv(cost, extend_cost=True, cost_limit=max_cost)
        matched_rows = np.flatnonzero(row_to_col >= 0)
        matches = np.stack([matched_rows, row_to_col[matched_rows]], axis=1).astype(np.int64)
    else:
        matches = _scipy_assignment(cost, max_cost)
    unmatched_rows = np.setdiff1d(np.arange(rows), matches[:, 0])
    unmatched_cols = np.setdiff1d(np.arange(cols), matches[:, 1])
    return matches, unmatched_rows, unmatched_cols


def _scipy_assignment(cost: np.ndarray, max_cost: float) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    # Pairs above the limit are made prohibitively expensive, then dropped after solving.
    gated = np.where(cost > max_cost, max_cost + 1e6, cost)
    row_idx, col_idx = linear_sum_assignment(gated)
    keep = cost[row_idx, col_idx] <= max_cost
    return np.stack([row_idx[keep], col_idx[keep]], axis=1).astype(np.int64)
