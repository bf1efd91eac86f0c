"""The gallery seam: what search and the app read from a library of indexed people.

A gallery holds media files, their *tracklets* (one tracked person each, with one appearance vector)
and their *visits* (one person's linked tracklets within one video, worked out when the file was
indexed; every tracklet of a still image is a visit of its own). :class:`reidkit.index.library.Library`
is the real one; the tests have an in-memory one, and one contract test runs on both.

Every vector here is the one the gallery stores for a tracklet: the vector its index ranks, the one
linking compared, the one a moment scores. A visit's vector is the mean of its tracklets' vectors,
renormalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from reidkit.core.head import VerdictHead


@dataclass(frozen=True)
class MediaRecord:
    id: int
    path: str
    sha256: str
    kind: Literal["video", "image"]
    fps: float
    frame_count: int
    duration: float
    width: int
    height: int
    recorded_at: float | None = None  # clock time of frame 0, UTC epoch seconds (reidkit.media.recorded)


@dataclass(frozen=True)
class TrackletRecord:
    id: int
    media_id: int
    track_id: int
    start_frame: int
    end_frame: int
    start: float
    end: float
    frames: np.ndarray  # (T,) int64
    boxes: np.ndarray  # (T, 4) float32
    best_frame: int
    best_box: np.ndarray  # (4,) float32
    thumbnail: str  # relative to the library root
    n_crops: int
    quality: float


@dataclass(frozen=True)
class TrackletHit:
    tracklet: TrackletRecord
    media: MediaRecord
    score: float  # cosine similarity of the tracklet's vector to the query


@dataclass(frozen=True)
class LinkRule:
    """When two tracklets of one video are one visit (reidkit.index.visits has the reasons)."""

    max_gap: float = 4.0  # seconds between tracklets that may still be one visit
    min_link: float | None = None  # mean cosine to link; None: the model's calibrated link threshold
    max_overlap: float = 0.3  # seconds of overlap tolerated (a tracker hand-over can overlap a frame)
    max_speed: float = 1.5  # body heights per second a person may move while unseen (a brisk walk is ~1)
    edge_gap: float = 1.0  # seconds: a person who left the frame and is back later is a new visit
    # A box within this fraction of the frame width from a side border is at the border: detectors
    # lose a person who is half out of frame a few pixels before the box touches the edge.
    border: float = 0.02


@dataclass(frozen=True)
class Visit:
    """One person's linked tracklets within one media file, with their vectors."""

    id: int  # unique within its gallery and link rule
    media: MediaRecord
    tracklets: tuple[TrackletRecord, ...]  # by start time
    tracklet_vectors: np.ndarray  # (n, D): each member's stored vector, in the order of ``tracklets``
    vector: np.ndarray  # (D,) unit: the mean of the members' vectors, renormalised

    @property
    def start(self) -> float:
        return min(t.start for t in self.tracklets)

    @property
    def end(self) -> float:
        return max(t.end for t in self.tracklets)


@dataclass(frozen=True)
class VisitHead:
    """What ranking a visit needs, without its members' tracks: a search reads one for every visit its
    nearest tracklets belong to, and the full :class:`Visit` only for the few it shows or merges."""

    id: int  # the Visit's id
    media: MediaRecord
    start: float  # its members' earliest start
    first_tracklet: int  # its first member (by start, then id): a visit's place among its file's
    vector: np.ndarray  # (D,) unit: the Visit's vector

    @staticmethod
    def of(visit: Visit) -> VisitHead:
        first = min(visit.tracklets, key=lambda t: (t.start, t.id))
        return VisitHead(visit.id, visit.media, first.start, first.id, visit.vector)


@runtime_checkable
class Gallery(Protocol):
    """What search (reidkit.search) and the app read from a library. Each call is a few batched reads:
    none walks every tracklet or every video."""

    @property
    def root(self) -> Path:
        """The library's folder (thumbnails are relative to it)."""
        ...

    @property
    def model(self) -> str:
        """The ReID model that made the vectors (a query must be embedded by it)."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def model_file(self) -> str | None:
        """The model file the vectors were made with, when the library recorded it (its sidecar holds
        the model's calibration: a model of one's own has no registry entry)."""
        ...

    def __hash__(self) -> int: ...

    def __len__(self) -> int:
        """Tracklets in the gallery."""
        ...

    def media_list(self) -> list[MediaRecord]:
        """Every media file, in the order indexed."""
        ...

    def tracklet(self, tracklet_id: int) -> TrackletRecord:
        """One tracklet by id; KeyError when there is none."""
        ...

    def tracklet_ids(self, media_id: int) -> list[int]:
        """The ids of one media file's tracklets (none for an unknown file)."""
        ...

    def search(self, query: np.ndarray, k: int) -> list[TrackletHit]:
        """The ``k`` tracklets whose vector is closest (cosine) to the unit ``query``, best first."""
        ...

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """:meth:`search` without the records: ``(tracklet id, cosine)`` pairs, best first."""
        ...

    def vectors_of(self, tracklet_ids: Sequence[int]) -> np.ndarray:
        """(n, D): the stored vectors of ``tracklet_ids``, in that order; KeyError for an unknown id."""
        ...

    def visits_of(self, tracklet_ids: Sequence[int], rule: LinkRule | None = None) -> list[Visit]:
        """The visits holding any of ``tracklet_ids`` (each once), with all their members.

        ``rule`` None (or the gallery's own rule): the visits stored at indexing. Another rule re-links
        the videos of those tracklets for this call (an experiment; it costs per-video work)."""
        ...

    def visit_heads_of(self, tracklet_ids: Sequence[int], rule: LinkRule | None = None) -> list[VisitHead]:
        """:meth:`visits_of` without the members: one :class:`VisitHead` per visit, each once."""
        ...

    def visits(self, rule: LinkRule | None = None) -> list[Visit]:
        """Every visit of the gallery, media in the order indexed (for clustering people)."""
        ...

    def cohort_vectors(self) -> np.ndarray:
        """(m, D): a bounded sample of tracklet vectors spread over the gallery (a verdict's impostors)."""
        ...

    @property
    def verdict_head(self) -> VerdictHead | None:
        """The adapted model the gallery's verdicts are judged with (``reidkit adapt``), or None: the
        vectors' own model. Ranking always uses the stored vectors."""
        ...

    def check_model_file(self, model_file: str | Path | None, sha256: str | None = None) -> None:
        """Refuse a model file whose content differs from the one the vectors were made with."""
        ...
