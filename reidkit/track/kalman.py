"""Constant-velocity Kalman filter for boxes in image space.

The state is ``[cx, cy, a, h, vcx, vcy, va, vh]``: box centre, aspect ratio ``w / h``, height, and their
velocities in pixels (or aspect units) **per source frame**. Positional noise is proportional to the box
height, so a near, tall person may move more pixels per frame than a far, small one before the filter
starts distrusting a measurement. ``predict`` takes the number of source frames ``dt`` to step over, so
a tracker that only sees every Nth frame still predicts the right displacement.

All functions broadcast over leading dimensions: ``mean`` may be ``(8,)`` or ``(N, 8)`` with ``cov``
``(8, 8)`` or ``(N, 8, 8)``.
"""

from __future__ import annotations

import numpy as np

# Standard deviations relative to the box height (chosen for pedestrians at 10-30 fps, as in SORT-family
# trackers): position noise ~5% of the height, velocity noise ~0.6% of the height per frame.
STD_POSITION = 1.0 / 20.0
STD_VELOCITY = 1.0 / 160.0
# The aspect ratio of a walking person changes little and is measured poorly; give it fixed small noise.
STD_ASPECT = 1e-2
STD_ASPECT_VELOCITY = 1e-5
STD_ASPECT_MEASUREMENT = 1e-1


def xyxy_to_xyah(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return np.stack([boxes[..., 0] + w / 2, boxes[..., 1] + h / 2, w / np.maximum(h, 1e-6), h], axis=-1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    xyah = np.asarray(xyah, dtype=np.float64)
    h = np.maximum(xyah[..., 3], 1e-3)
    w = xyah[..., 2] * h
    cx, cy = xyah[..., 0], xyah[..., 1]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


class KalmanFilter:
    """Stateless filter: callers keep ``(mean, cov)`` per track and pass them in."""

    ndim = 4

    def __init__(self, std_position: float = STD_POSITION, std_velocity: float = STD_VELOCITY):
        self.std_position = std_position
        self.std_velocity = std_velocity
        self._observe = np.eye(self.ndim, 2 * self.ndim)

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A new track from one ``xyah`` measurement: unknown (zero) velocity with a wide prior."""
        measurement = np.asarray(measurement, dtype=np.float64)
        mean = np.concatenate([measurement, np.zeros_like(measurement)], axis=-1)
        h = measurement[..., 3]
        std = np.stack(
            [
                2 * self.std_position * h,
                2 * self.std_position * h,
                np.full_like(h, STD_ASPECT),
                2 * self.std_position * h,
                10 * self.std_velocity * h,
                10 * self.std_velocity * h,
                np.full_like(h, STD_ASPECT_VELOCITY),
                10 * self.std_velocity * h,
            ],
            axis=-1,
        )
        cov = _diag(std**2)
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Step ``dt`` source frames ahead. Process noise grows linearly with ``dt``."""
        transition = np.eye(2 * self.ndim)
        transition[: self.ndim, self.ndim :] = dt * np.eye(self.ndim)
        h = mean[..., 3]
        std = np.stack(
            [
                self.std_position * h,
                self.std_position * h,
                np.full_like(h, STD_ASPECT),
                self.std_position * h,
                self.std_velocity * h,
                self.std_velocity * h,
                np.full_like(h, STD_ASPECT_VELOCITY),
                self.std_velocity * h,
            ],
            axis=-1,
        )
        noise = _diag(std**2) * dt
        mean = mean @ transition.T
        cov = transition @ cov @ transition.T + noise
        return mean, cov

    def project(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The state as a predicted ``xyah`` measurement, with measurement noise added."""
        h = mean[..., 3]
        std = np.stack(
            [
                self.std_position * h,
                self.std_position * h,
                np.full_like(h, STD_ASPECT_MEASUREMENT),
                self.std_position * h,
            ],
            axis=-1,
        )
        projected_mean = mean @ self._observe.T
        projected_cov = self._observe @ cov @ self._observe.T + _diag(std**2)
        return projected_mean, projected_cov

    def update(
        self, mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct the state with an ``xyah`` measurement."""
        projected_mean, projected_cov = self.project(mean, cov)
        # gain = P H^T S^-1, computed by solving S K^T = H P (S is symmetric).
        cross = cov @ self._observe.T  # P H^T
        gain = np.swapaxes(np.linalg.solve(projected_cov, np.swapaxes(cross, -1, -2)), -1, -2)
        innovation = np.asarray(measurement, dtype=np.float64) - projected_mean
        new_mean = mean + (gain @ innovation[..., None])[..., 0]
        new_cov = cov - gain @ projected_cov @ np.swapaxes(gain, -1, -2)
        return new_mean, new_cov


def _diag(values: np.ndarray) -> np.ndarray:
    """Batched ``np.diag``: ``(..., n) -> (..., n, n)``."""
    out = np.zeros((*values.shape, values.shape[-1]), dtype=np.float64)
    idx = np.arange(values.shape[-1])
    out[..., idx, idx] = values
    return out
