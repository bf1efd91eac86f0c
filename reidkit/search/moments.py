"""From tracklet hits to *moments*: the spans of time a person is on screen.

A tracker breaks one visit of a person into several tracklets whenever they are hidden, turn away or
the detector misses them for a moment. Showing each piece separately would flood the result list and
cut the moment short, so :func:`link_tracklets` joins the tracklets of one video into visits, *without
looking at the query* (a link is the index's own claim that two pieces are one person), when

* the gap between them is short (``MomentRule.max_gap`` seconds) and they do not overlap in time (one
  person cannot be two boxes at once);
* the move is plausible: the later tracklet starts within walking reach of where the earlier one ended
  (``MomentRule.max_speed`` body heights per second, plus half a body height); and the frame's side
  borders are doors: a tracklet that ended at one (the person left) or a tracklet that starts at one
  (someone came in) only joins a visit across a gap of at most ``MomentRule.edge_gap`` seconds;
* their appearance agrees: the mean cosine between the new tracklet's pooled vector and those already in
  the visit reaches the model's calibrated *link* threshold (``ScoreCalibration.link_threshold``,
  measured at a false-positive rate of 1e-3), or ``MomentRule.min_link`` when given.

A search then returns the visits that hold a matching tracklet, each scored by the cosine between the
query and the visit's pooled vector (the mean of its tracklets' vectors; measured against the best
member's score and a mean of per-crop scores in bench/crosscam/README.md). Each person found in a still image is a moment
of its own, at time 0. Two likely visits on one spot at the same time are one person
(:func:`merge_concurrent`), and moments are ranked with query expansion (``MomentRule.expand_query``,
in ``reidkit.search.engine.search_vector``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reidkit.core.vectors import l2_normalise
from reidkit.detect.boxes import box_iou

if TYPE_CHECKING:
    from reidkit.index.library import TrackletHit


if TYPE_CHECKING:
    from reidkit.index.library import MediaRecord, TrackletRecord


@dataclass(frozen=True)
class MomentRule:
    max_gap: float = 4.0  # seconds between tracklets that may still be one moment
    min_link: float | None = (
        None  # mean cosine to link tracklets; None: the model's calibrated link threshold
    )
    max_overlap: float = 0.3  # seconds of overlap tolerated (a tracker hand-over can overlap a frame)
    max_speed: float = 1.5  # body heights per second a person may move while unseen (a brisk walk is ~1)
    edge_gap: float = 1.0  # seconds: a person who left the frame and is back later is a new visit
    # A box within this fraction of the frame width from a side border is at the border: detectors
    # lose a person who is half out of frame a few pixels before the box touches the edge.
    border: float = 0.02
    # Two moments of one video on screen together, with boxes that meet, that both score at least the
    # model's "likely the same person" threshold are one person the tracker followed twice (a duplicate
    # track in a crowd, a piece left over from an identity swap): one moment (:func:`merge_concurrent`).
    merge_concurrent: bool = True
    # Average query expansion: search again with the query plus the pooled vector of the best N
    # moments (0: off). The found person's appearance in the footage itself finds their other visits
    # (bench/crosscam dev footage: +2.2 mAP with N=1, +0.6 with 2). Moments are ranked by the expanded
    # query; their score stays the photo's own cosine, the one the calibration speaks about.
    expand_query: int = 1


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
            "thumbnail": self.thumbnail,
            "box": [round(v, 1) for v in self.box],
            "tracklets": list(self.tracklet_ids),
        }


def pooled_vector(crop_vectors: np.ndarray) -> np.ndarray:
    """One unit vector for a tracklet from its per-crop vectors."""
    mean = np.asarray(crop_vectors, np.float32).reshape(-1, crop_vectors.shape[-1]).mean(axis=0)
    return l2_normalise(mean)


def plausible_link(
    earlier: TrackletRecord, later: TrackletRecord, frame_width: int, rule: MomentRule = MomentRule()
) -> bool:
    """Could the person at the end of ``earlier`` be the one at the start of ``later``, by time and place?"""
    gap = later.start - earlier.end
    if gap > rule.max_gap or gap < -rule.max_overlap:
        return False
    return plausible_move(earlier.boxes[-1], later.boxes[0], max(0.0, gap), frame_width, rule)


def plausible_move(
    last_box: np.ndarray, first_box: np.ndarray, gap: float, frame_width: int, rule: MomentRule = MomentRule()
) -> bool:
    """Could a person last seen at ``last_box`` appear at ``first_box`` ``gap`` seconds later?"""
    ax1, ay1, ax2, ay2 = (float(v) for v in np.asarray(last_box).reshape(4))
    bx1, by1, bx2, by2 = (float(v) for v in np.asarray(first_box).reshape(4))
    height = max(ay2 - ay1, by2 - by1, 1.0)
    distance = float(np.hypot((ax1 + ax2 - bx1 - bx2) / 2, (ay1 + ay2 - by1 - by2) / 2))
    if distance > height * (0.5 + rule.max_speed * gap):
        return False
    if gap <= rule.edge_gap or frame_width <= 0:
        return True
    # A longer gap at a door: the one who left is not the one who came in (bench/crosscam: people
    # leaving at the left and a look-alike entering at the right 1.6 s later were linked).
    margin = max(2.0, rule.border * frame_width)
    left_frame = ax1 <= margin or ax2 >= frame_width - margin
    came_in = bx1 <= margin or bx2 >= frame_width - margin
    return not (left_frame or came_in)


def link_tracklets(
    records: Sequence[TrackletRecord],
    vectors: dict[int, np.ndarray],
    media: MediaRecord,
    min_link: float,
    rule: MomentRule = MomentRule(),
) -> list[list[TrackletRecord]]:
    """Group one video's tracklets into visits of one person each (see the module docstring).

    Greedy in time order: a tracklet joins the visit whose appearance agrees best among those it may
    plausibly continue (checked against the visit's latest member), else starts a visit of its own.
    ``vectors`` maps tracklet id -> pooled unit vector.
    """
    visits: list[list[TrackletRecord]] = []
    for record in sorted(records, key=lambda r: (r.start, r.id)):
        vector = vectors[record.id]
        best, best_link = None, min_link
        for visit in visits:
            if any(min(m.end, record.end) - max(m.start, record.start) > rule.max_overlap for m in visit):
                continue
            latest = max(visit, key=lambda m: (m.end, m.id))
            if not plausible_link(latest, record, media.width, rule):
                continue
            link = float(np.mean([float(vector @ vectors[m.id]) for m in visit]))
            if link >= best_link:
                best, best_link = visit, link
        if best is None:
            visits.append([record])
        else:
            best.append(record)
    return visits


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


def make_moment(hits: Sequence[TrackletHit], root: Path, score: float | None = None) -> Moment:
    """A moment spanning ``hits``; it shows the best-matching member and scores as it (or ``score``)."""
    best = max(hits, key=lambda h: h.score)
    media = best.media
    return Moment(
        media=str(Path(media.path).resolve()),
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
    )
