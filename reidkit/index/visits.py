"""Visits: one person's tracklets within one video, linked when the file is indexed.

A tracker breaks one visit of a person into several tracklets whenever they are hidden, turn away or
the detector misses them for a moment. Showing each piece separately would flood a search's result list
and cut the moment short, so the tracklets of one video are joined into visits, *without looking at any
query* (a link is the index's own claim that two pieces are one person), when

* the gap between them is short (``LinkRule.max_gap`` seconds) and they do not overlap in time (one
  person cannot be two boxes at once);
* the move is plausible: the later tracklet starts within walking reach of where the earlier one ended
  (``LinkRule.max_speed`` body heights per second, plus half a body height); and the frame's side
  borders are doors: a tracklet that ended at one (the person left) or a tracklet that starts at one
  (someone came in) only joins a visit across a gap of at most ``LinkRule.edge_gap`` seconds;
* their appearance agrees: the mean cosine between the new tracklet's vector and those already in the
  visit reaches the cosine at which the model's calibration finds one person and two equally likely
  (``ScoreCalibration.even_odds``), or ``LinkRule.min_link`` when given. The time and place rules have
  already ruled out almost everyone else, so a pair that passes them needs no stricter evidence; the
  pieces of one walk, cut where the person was hidden, often score lower against each other than a
  photo scores against its person (bench/crosscam/README.md has the measurement).

Linking does not depend on the query, so it runs once, in the transaction that adds the file
(:meth:`reidkit.index.library.Library.add_media`), and the visits are stored with their vectors: a
search reads them instead of re-linking. Every tracklet of a still image is a visit of its own.

The visits a library holds were made with one rule and one link threshold, recorded in its meta
(:func:`rule_key`). When the rule the code asks for differs (a library from before visits were stored,
a model whose calibration changed), a writer re-links every file once on open and a reader links the
files it needs in memory, so stored visits are never silently out of date.

Cost: one pass over a video's tracklets in time order, each compared with the visits still within
``max_gap`` of it: linear in the video's tracklets for footage where people come and go.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from reidkit.core.gallery import LinkRule, MediaRecord, TrackletRecord, Visit
from reidkit.core.vectors import mean_direction

VISITS_KEY = "visits_rule"  # meta key: the rule and link threshold the stored visits were made with


@dataclass(frozen=True)
class LinkSpan:
    """What linking reads of a tracklet: when it was on screen and where it started and ended."""

    id: int
    start: float
    end: float
    first_box: np.ndarray  # (4,)
    last_box: np.ndarray  # (4,)


def span_of(tracklet_id: int, start: float, end: float, boxes: np.ndarray) -> LinkSpan:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return LinkSpan(int(tracklet_id), float(start), float(end), boxes[0], boxes[-1])


def link_threshold(rule: LinkRule, model: str, model_file: str | None = None) -> float:
    """The cosine at which ``rule`` links tracklets of ``model``'s vectors (loaded from ``model_file``)."""
    if rule.min_link is not None:
        return float(rule.min_link)
    from reidkit.zoo.calibration import calibration_for

    return float(calibration_for(model, model_file).even_odds)


def rule_key(rule: LinkRule, model: str, model_file: str | None = None) -> str:
    """The rule with its link threshold resolved for ``model``: equal keys link the same way."""
    threshold = link_threshold(rule, model, model_file)
    return json.dumps({**asdict(rule), "min_link": round(threshold, 6)}, sort_keys=True)


def visit_vector(tracklet_vectors: np.ndarray) -> np.ndarray:
    """A visit's vector: the mean of its tracklets' vectors, renormalised (``mean_direction``)."""
    return mean_direction(tracklet_vectors)


def plausible_move(
    last_box: np.ndarray, first_box: np.ndarray, gap: float, frame_width: int, rule: LinkRule = LinkRule()
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


def plausible_link(earlier: LinkSpan, later: LinkSpan, frame_width: int, rule: LinkRule = LinkRule()) -> bool:
    """Could the person at the end of ``earlier`` be the one at the start of ``later``, by time and place?"""
    gap = later.start - earlier.end
    if gap > rule.max_gap or gap < -rule.max_overlap:
        return False
    return plausible_move(earlier.last_box, later.first_box, max(0.0, gap), frame_width, rule)


def link(
    spans: Sequence[LinkSpan],
    vectors: np.ndarray,
    frame_width: int,
    min_link: float,
    rule: LinkRule = LinkRule(),
) -> list[list[int]]:
    """Group one video's tracklets into visits of one person each (see the module docstring).

    ``vectors`` (N, D) are the tracklets' unit vectors, row i for ``spans[i]``. Returns the visits as
    lists of indices into ``spans``, each in time order, visits in order of their first tracklet.
    Greedy in time order: a tracklet joins the visit whose appearance agrees best among those it may
    plausibly continue (checked against the visit's latest member), else starts a visit of its own.
    """
    vectors = np.asarray(vectors, np.float32).reshape(len(spans), -1)
    visits: list[list[int]] = []
    latest: list[int] = []  # per visit: the member that ended last (ties: the higher id)
    live: list[int] = []  # visits whose latest member ended within max_gap of the current start
    for i in sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].id)):
        span = spans[i]
        # Tracklets come in start order, so a visit that ended more than max_gap ago can take no more.
        live = [v for v in live if span.start - spans[latest[v]].end <= rule.max_gap]
        best, best_link = -1, min_link
        for v in live:
            members = visits[v]
            if any(
                min(spans[m].end, span.end) - max(spans[m].start, span.start) > rule.max_overlap
                for m in members
            ):
                continue
            if not plausible_link(spans[latest[v]], span, frame_width, rule):
                continue
            agreement = float(np.mean((vectors[members] @ vectors[i]).astype(np.float64)))
            if agreement >= best_link:
                best, best_link = v, agreement
        if best < 0:
            visits.append([i])
            latest.append(i)
            live.append(len(visits) - 1)
        else:
            visits[best].append(i)
            previous = spans[latest[best]]
            if (span.end, span.id) > (previous.end, previous.id):
                latest[best] = i
    return visits


def group_media(
    kind: str,
    spans: Sequence[LinkSpan],
    vectors: np.ndarray,
    frame_width: int,
    min_link: float,
    rule: LinkRule = LinkRule(),
) -> list[list[int]]:
    """The visits of one media file as index lists: linked for a video, one per person for an image."""
    if kind == "image":
        return [[i] for i in range(len(spans))]
    return link(spans, vectors, frame_width, min_link, rule)


def insert_visits(
    cur: sqlite3.Cursor,
    media_id: int,
    groups: Sequence[Sequence[int]],
    ids: Sequence[int],
    vectors: np.ndarray,
    starts: Sequence[float],
) -> None:
    """Store one media file's visits (``groups`` index ``ids``, the rows of ``vectors`` and ``starts``).

    Each visit row also holds what ranking it needs besides its vector (its start and its first member,
    :class:`~reidkit.core.gallery.VisitHead`), so that a search reads no member for a visit it only ranks.
    """
    for group in groups:
        members = [int(ids[i]) for i in group]
        vector = visit_vector(np.asarray(vectors)[list(group)])
        start, first = min((float(starts[i]), int(ids[i])) for i in group)
        cur.execute(
            "INSERT INTO visits(media_id, vector, start, first_tracklet) VALUES (?, ?, ?, ?)",
            (int(media_id), np.ascontiguousarray(vector, np.float32).tobytes(), start, first),
        )
        visit_id = int(cur.lastrowid or 0)
        cur.executemany(
            "INSERT INTO visit_tracklets(tracklet_id, visit_id) VALUES (?, ?)",
            [(tracklet_id, visit_id) for tracklet_id in members],
        )


class _Added(Protocol):
    """What :func:`link_new_media` reads of a tracklet being added (a ``NewTracklet``)."""

    @property
    def times(self) -> np.ndarray: ...
    @property
    def boxes(self) -> np.ndarray: ...


class _AddedMedia(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def width(self) -> int: ...


def link_new_media(
    cur: sqlite3.Cursor,
    media_id: int,
    media: _AddedMedia,
    tracklet_ids: Sequence[int],
    tracklets: Sequence[_Added],
    vectors: Sequence[np.ndarray],
    min_link: float,
) -> None:
    """Link a file being added into visits and store them, in the transaction that adds it (``cur``)."""
    if not tracklets:
        return
    spans = [
        span_of(
            i, float(np.asarray(t.times).reshape(-1)[0]), float(np.asarray(t.times).reshape(-1)[-1]), t.boxes
        )
        for i, t in zip(tracklet_ids, tracklets, strict=True)
    ]
    stacked = np.stack([np.asarray(v, np.float32).reshape(-1) for v in vectors])
    groups = group_media(media.kind, spans, stacked, int(media.width), min_link, LinkRule())
    insert_visits(cur, media_id, groups, tracklet_ids, stacked, [s.start for s in spans])


def linked_visits(
    media: MediaRecord,
    tracklets: Sequence[tuple[TrackletRecord, np.ndarray]],
    min_link: float,
    rule: LinkRule = LinkRule(),
) -> list[Visit]:
    """One media file's stored tracklets (each with its vector) linked now into :class:`Visit` s.

    For visits not read from a library's tables (another rule, an in-memory gallery): each is
    numbered by minus its first tracklet's id, unique within the gallery.
    """
    if not tracklets:
        return []
    records = [t for t, _ in tracklets]
    vectors = np.stack([np.asarray(v, np.float32).reshape(-1) for _, v in tracklets])
    spans = [span_of(r.id, r.start, r.end, r.boxes) for r in records]
    visits = []
    for group in group_media(media.kind, spans, vectors, int(media.width), min_link, rule):
        members = vectors[group]
        visits.append(
            Visit(
                -min(records[i].id for i in group),
                media,
                tuple(records[i] for i in group),
                members,
                visit_vector(members),
            )
        )
    return visits


def link_records(
    records: Sequence[TrackletRecord],
    vectors: dict[int, np.ndarray],
    media: MediaRecord,
    min_link: float,
    rule: LinkRule = LinkRule(),
) -> list[list[TrackletRecord]]:
    """:func:`link` over stored records (``vectors``: tracklet id -> unit vector), as lists of records."""
    spans = [span_of(r.id, r.start, r.end, r.boxes) for r in records]
    stacked = np.stack([vectors[r.id] for r in records]) if records else np.zeros((0, 1), np.float32)
    return [[records[i] for i in group] for group in link(spans, stacked, int(media.width), min_link, rule)]
