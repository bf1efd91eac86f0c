"""Appearance-vector arithmetic shared by every stage."""

from __future__ import annotations

import numpy as np


def l2_normalise(x: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    """``x`` as float32 scaled to unit length along ``axis`` (each row of a matrix, or one vector).

    A zero vector stays zero instead of becoming NaN (``eps`` bounds the divisor).
    """
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), eps)
