"""Data types and the small protocols at the seams between stages.

Conventions used everywhere:

* images are ``HxWx3 uint8`` arrays in **BGR** order (OpenCV's), whatever the source file was;
* boxes are ``float32`` arrays ``[x1, y1, x2, y2]`` in pixels of the frame they came from;
* embeddings are ``float32`` rows, L2-normalised, so inner product = cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture of a media file."""

    image: np.ndarray  # HxWx3 uint8 BGR
    index: int  # frame number within the media, 0-based (0 for a still image)
    time: float  # seconds from the start of the media (0.0 for a still image)


@dataclass(frozen=True, slots=True)
class Detections:
    """People found in one image."""

    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (N,) float32 in [0, 1]

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass(frozen=True, slots=True)
class Tracks:
    """The tracker's confirmed, active tracks for one frame."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32 (score of the detection matched this frame)
    track_ids: np.ndarray  # (N,) int64, unique within one media file, >= 1

    @staticmethod
    def empty() -> Tracks:
        return Tracks(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass(slots=True)
class Tracklet:
    """One person's continuous track in one media file: the unit that gets embedded and indexed."""

    track_id: int
    frames: np.ndarray  # (T,) int64 frame indices where the track was observed
    times: np.ndarray  # (T,) float64 seconds
    boxes: np.ndarray  # (T, 4) float32
    scores: np.ndarray  # (T,) float32

    @property
    def start_frame(self) -> int:
        return int(self.frames[0])

    @property
    def end_frame(self) -> int:
        return int(self.frames[-1])

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@dataclass(slots=True)
class Crop:
    """A person crop cut from a frame, kept for embedding."""

    image: np.ndarray  # hxwx3 uint8 BGR
    frame: int
    time: float
    box: np.ndarray  # (4,) float32 in frame pixels
    score: float
    quality: float = 0.0  # higher is better (size, detector score, not cut by the frame border)
    meta: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """Finds people in one image."""

    name: str

    def detect(self, image: np.ndarray) -> Detections: ...


@runtime_checkable
class Tracker(Protocol):
    """Links detections over the frames of one media file; ``reset`` before the next file."""

    @property
    def buffer(self) -> int:
        """Source frames a lost track is kept for re-activation: a track unseen longer has ended."""
        ...

    def update(self, detections: Detections, frame_index: int) -> Tracks: ...

    def reset(self) -> None: ...


@runtime_checkable
class Embedder(Protocol):
    """Turns person crops into L2-normalised appearance vectors."""

    name: str  # the model name recorded in a library; libraries refuse to mix models
    dim: int

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...  # (N, dim) float32


def model_file_of(embedder: Embedder) -> str | None:
    """The file ``embedder`` was loaded from (``ModelEmbedder.path``: a library records it, and its
    sidecar holds the model's calibration), None for an embedder made in code."""
    path = getattr(embedder, "path", None)
    return None if path is None else str(path)
