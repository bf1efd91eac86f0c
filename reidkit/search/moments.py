"""From tracklet hits to *moments*: the spans of time a person is on screen.

A tracker breaks one visit of a person into several tracklets; the index links the tracklets of one
video into *visits* without looking at any query, once, when the file is indexed
(:mod:`reidkit.index.visits` says when two tracklets are one visit), and stores them with their vectors.

A search then returns the visits that hold a matching tracklet, each scored by the cosine between the
query and the visit's vector (the mean of its tracklets' vectors; measured against the best member's
score and a mean of per-crop scores in bench/crosscam/README.md). Each person found in a still image is
a moment of its own, at time 0. Two likely visits on one spot at the same time are one person
(:func:`merge_concurrent`), and moments are ranked with query expansion (``MomentRule.expand_query``,
in ``reidkit.search.engine.search_vector``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reidkit.core.gallery import LinkRule
from reidkit.detect.boxes import box_iou
from reidkit.media.recorded import iso_utc_or_none

if TYPE_CHECKING:
    from reidkit.core.gallery import TrackletHit


@dataclass(frozen=True)
class MomentRule:
    # How tracklets link into visits (reidkit.core.gallery.LinkRule, same defaults). A library stores
    # the visits of the defaults; other values re-link the hit videos at search time.
    max_gap: float = LinkRule.max_gap
    min_link: float | None = LinkRule.min_link
    max_overlap: float = LinkRule.max_overlap
    max_speed: float = LinkRule.max_speed
    edge_gap: float = LinkRule.edge_gap
    border: float = LinkRule.border
    # Two moments of one video on screen together, with boxes that meet, that both score at least the
    # model's "likely the same person" threshold are one person the tracker followed twice (a duplicate
    # track in a crowd, a piece left over from an identity swap): one moment (:func:`merge_concurrent`).
    merge_concurrent: bool = True
    # Average query expansion: search again with the query plus the pooled vector of the best N
    # moments (0: off). The found person's appearance in the footage itself finds their other visits
    # (bench/crosscam dev footage: +2.2 mAP with N=1, +0.6 with 2). Moments are ranked by the expanded
    # query; their score stays the photo's own cosine, the one the calibration speaks about.
    expand_query: int = 1

    @property
    def link(self) -> LinkRule:
        """The linking part of the rule. Its defaults are the rule a library's stored visits were made
        with; any other value re-links the hit videos at search time (for experiments)."""
        return LinkRule(
            max_gap=self.max_gap,
            min_link=self.min_link,
            max_overlap=self.max_overlap,
            max_speed=self.max_speed,
            edge_gap=self.edge_gap,
            border=self.border,
        )


@dataclass(frozen=True)
class Moment:
    """One continuous appearance of a person in one media file."""

    media: str  # absolute path of the video or image
    kind: str  # "video" or "image"
    start: float  # seconds
    end: float
    start_frame: int
    end_frame: int
    score: float  # cosine similarity of the best member tracklet to the query
    thumbnail: str  # absolute path of the best member's thumbnail JPEG
    box: tuple[float, float, float, float]  # best box of the moment, in media pixels
    best_frame: int
    tracklet_ids: tuple[int, ...]
    best_tracklet: int = 0  # id of the member that matched the query best (its box and thumbnail)
    media_duration: float = 0.0  # seconds; 0 for images
    fps: float = 0.0
    likely: bool = False  # the search's verdict: likely the same person (reidkit.search.verdict)
    probability: float = 0.0  # estimated probability that it is the same person
    media_recorded_at: float | None = None  # clock time of the media's frame 0 (UTC epoch s), if known

    @property
    def folder(self) -> str:
        """The name of the media's folder: a camera's, for the segments reidkit records."""
        return Path(self.media).parent.name

    @property
    def recorded_start(self) -> float | None:
        """The moment's start on the clock (UTC epoch seconds), when the media says when it was recorded."""
        return None if self.media_recorded_at is None else self.media_recorded_at + self.start

    @property
    def recorded_end(self) -> float | None:
        return None if self.media_recorded_at is None else self.media_recorded_at + self.end

    def to_dict(self) -> dict[str, Any]:
        return {
            "media": self.media,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "score": round(self.score, 4),
            "likely": self.likely,
            "probability": round(self.probability, 3),
            "recorded_start": iso_utc_or_none(self.recorded_start),
            "recorded_end": iso_utc_or_none(self.recorded_end),
            "thumbnail": self.thumbnail,
            "box": [round(v, 1) for v in self.box],
            "tracklets": list(self.tracklet_ids),
        }


def merge_concurrent(
    visits: Sequence[tuple[float, list[TrackletHit]]], threshold: float, max_overlap: float
) -> list[list[int]]:
    """Group scored visits of one video that share the screen and a spot when both score >= ``threshold``.

    One person cannot be in two places at once: two likely matches whose boxes meet while both are on
    screen are one person followed by two tracks (a duplicate track in a crowd, a piece left over from
    an identity swap where people crossed). Returns groups of indices into ``visits``, each group's best
    visit first. Visits below the threshold, and likely matches apart from each other (twins across the
    room), stay alone: two different people often share the screen.
    """
    groups: list[list[int]] = []
    for i in sorted(range(len(visits)), key=lambda i: -visits[i][0]):
        score, members = visits[i]
        into = None
        if score >= threshold:
            into = next(
                (
                    group
                    for group in groups
                    if visits[group[0]][0] >= threshold
                    and _share_a_spot([h for j in group for h in visits[j][1]], members, max_overlap)
                ),
                None,
            )
        if into is None:
            groups.append([i])
        else:
            into.append(i)
    return groups


def _share_a_spot(a: Sequence[TrackletHit], b: Sequence[TrackletHit], max_overlap: float) -> bool:
    """Do ``a`` and ``b`` overlap in time by more than ``max_overlap`` s with boxes meeting in a frame?"""
    start = max(min(h.tracklet.start for h in a), min(h.tracklet.start for h in b))
    end = min(max(h.tracklet.end for h in a), max(h.tracklet.end for h in b))
    if end - start <= max_overlap:
        return False
    boxes_at: dict[int, list[np.ndarray]] = {}
    for hit in a:
        for frame, box in zip(hit.tracklet.frames, hit.tracklet.boxes, strict=True):
            boxes_at.setdefault(int(frame), []).append(box)
    for hit in b:
        for frame, box in zip(hit.tracklet.frames, hit.tracklet.boxes, strict=True):
            others = boxes_at.get(int(frame))
            if others and bool((box_iou(box, np.stack(others)) > 0).any()):
                return True
    return False


def make_moment(
    hits: Sequence[TrackletHit], root: Path, score: float | None = None, *, media_path: str | None = None
) -> Moment:
    """A moment spanning ``hits``; it shows the best-matching member and scores as it (or ``score``).

    ``media_path``: the hits' media path already resolved (else it is resolved here)."""
    best = max(hits, key=lambda h: h.score)
    media = best.media
    return Moment(
        media=media_path if media_path is not None else str(Path(media.path).resolve()),
        kind=media.kind,
        start=min(h.tracklet.start for h in hits),
        end=max(h.tracklet.end for h in hits),
        start_frame=min(h.tracklet.start_frame for h in hits),
        end_frame=max(h.tracklet.end_frame for h in hits),
        score=float(best.score if score is None else score),
        thumbnail=str(root / best.tracklet.thumbnail),
        box=tuple(float(v) for v in np.asarray(best.tracklet.best_box).reshape(4)),  # type: ignore[arg-type]
        best_frame=int(best.tracklet.best_frame),
        tracklet_ids=tuple(sorted(h.tracklet.id for h in hits)),
        best_tracklet=int(best.tracklet.id),
        media_duration=float(media.duration),
        fps=float(media.fps),
        media_recorded_at=media.recorded_at,
    )
