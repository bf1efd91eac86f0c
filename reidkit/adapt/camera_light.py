"""The cameras' own directions in a library's vectors, found without labels and projected out.

A camera's light and sensor move every crop it sees the same way: in a library whose rooms are lit
differently, one person's vectors from two cameras differ by the same offset that separates any two
people's. Each video is one camera (:attr:`~reidkit.adapt.labels.LibraryView.cameras`), and the
differences between the videos' mean vectors span both that offset and the people each video happens
to hold. The two are told apart by an analysis of variance along each direction of the videos' means:

* ``F`` is the variance of the video means along the direction over the variance of the tracklets
  around their own video's mean along it (each divided by its degrees of freedom). The people in a
  video give the means some spread in every direction, so ``F`` is a few everywhere;
* a direction is the cameras' when most of the spread along it lies between the videos (at least
  ``MIN_SHARE`` of it: every video sits at its own place along it, whoever walks through) *and* its
  ``F`` stands ``stand_out`` times above the median direction's. The second rule keeps the people: in
  a library whose videos each hold one person, every direction separates the videos, and none stands
  out; the first keeps groups of people who walk through the same few videos together.

Removing such a direction (``y = x - U^T U x``, renormalised) is a linear head on the model's unit
output (:func:`reidkit.core.head.apply_head` with ``w = -U^T U``), so the debiased model is the
library model's graph plus one matrix, and a query photo is mapped the same way as the library.
Footage under one light has no such direction, and nothing is removed (docs/adapt.md, measured).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_VIDEOS = 4  # fewer videos: too few means to tell a camera's direction from its people
MIN_SHARE = 0.75  # of the spread along a direction that lies between the videos


@dataclass(frozen=True)
class CameraBias:
    """The directions found (orthonormal rows, removed) and the statistics they were chosen by."""

    directions: np.ndarray  # (k, D)
    f_ratios: tuple[float, ...]  # of every direction of the video means, strongest first
    shares: tuple[float, ...]  # of each one's spread that lies between the videos
    stand_out: float
    videos: int

    def __bool__(self) -> bool:
        return len(self.directions) > 0

    @property
    def head(self) -> dict[str, np.ndarray]:
        """The projection as a linear head on unit vectors: ``x + x w`` with ``w = -U^T U``."""
        u = self.directions.astype(np.float32)
        return {"w": -(u.T @ u)}

    def summary(self) -> str:
        """One line: how many directions were removed and how far the strongest stands out."""
        if not self:
            return f"no direction of the {self.videos} videos' means stands out; nothing removed"
        return (
            f"{len(self.directions)} direction(s) removed from the vectors: the {self.videos} videos' means "
            f"differ along the strongest {self.f_ratios[0] / float(np.median(self.f_ratios)):.0f}x more "
            "than along the median direction"
        )

    def to_dict(self) -> dict[str, Any]:
        median = float(np.median(self.f_ratios)) if self.f_ratios else None
        return {
            "directions_removed": len(self.directions),
            "videos": self.videos,
            "f_ratios": [round(f, 2) for f in self.f_ratios],
            "between_video_shares": [round(f, 3) for f in self.shares],
            "median_f": None if median is None else round(median, 2),
            "stand_out": self.stand_out,
            "summary": self.summary(),
        }


def camera_bias(vectors: np.ndarray, cameras: np.ndarray, stand_out: float) -> CameraBias:
    """The directions of ``vectors`` (N, D; one row per tracklet) that belong to the cameras (``cameras``:
    each row's video), by the rule of the module docstring. ``stand_out <= 0`` finds none.

    Only videos with at least two tracklets count: a video of one tracklet has one person for its mean
    and no spread around it. Rows of photos (a photo is no camera of its own) are left out by the
    caller."""
    vectors = np.asarray(vectors, np.float64)
    dim = vectors.shape[1]
    cameras = np.asarray(cameras)
    ids, sizes = np.unique(cameras, return_counts=True)
    counted = np.isin(cameras, ids[sizes >= 2])
    vectors, cameras = vectors[counted], cameras[counted]
    videos, row_video, counts = np.unique(cameras, return_inverse=True, return_counts=True)
    none = np.zeros((0, dim), np.float32)
    if stand_out <= 0 or len(videos) < MIN_VIDEOS or len(vectors) <= len(videos):
        return CameraBias(none, (), (), stand_out, len(videos))
    means = np.stack([vectors[row_video == v].mean(axis=0) for v in range(len(videos))])
    between = (means - vectors.mean(axis=0)) * np.sqrt(counts)[:, None]  # weighted by tracklets
    _, _, rows = np.linalg.svd(between, full_matrices=False)
    rows = rows[: len(videos) - 1]  # the directions the video means span
    sum_between = ((between @ rows.T) ** 2).sum(axis=0)
    sum_within = (((vectors - means[row_video]) @ rows.T) ** 2).sum(axis=0)
    share = sum_between / np.maximum(sum_between + sum_within, 1e-12)
    f = (sum_between / (len(videos) - 1)) / np.maximum(sum_within / (len(vectors) - len(videos)), 1e-12)
    order = np.argsort(-f)
    f, share, rows = f[order], share[order], rows[order]
    keep = (share >= MIN_SHARE) & (f >= stand_out * np.median(f))
    return CameraBias(
        rows[keep].astype(np.float32),
        tuple(float(x) for x in f),
        tuple(float(x) for x in share),
        stand_out,
        len(videos),
    )
