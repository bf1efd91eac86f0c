"""Box overlap: one IoU, pairwise or row by row."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.detect.boxes import box_iou, paired_box_iou


def test_paired_iou_is_the_diagonal_of_the_pairwise_one() -> None:
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 100, (20, 2))
    a = np.hstack([corners, corners + rng.uniform(1, 50, (20, 2))])
    b = a + rng.uniform(-20, 20, (20, 4))
    assert paired_box_iou(a, b) == pytest.approx(np.diagonal(box_iou(a, b)))
    assert paired_box_iou(a[:1], a[:1])[0] == pytest.approx(1.0)
    flat = np.array([[0, 0, 10, 0]], np.float32)  # no area: overlaps nothing, itself included
    assert paired_box_iou(flat, flat)[0] == 0.0
