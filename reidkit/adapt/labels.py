"""Pseudo-identities from a library's own structure, with no labels (the supervision of ``adapt``).

What the footage says for certain, and what it suggests:

* **a tracklet is one person** (the indexer cuts tracklets whose crops stop agreeing);
* **two people on screen together are two people**: tracklets of one video that share frames with boxes
  that never meet (the rule of :mod:`reidkit.index.footage`) are *cannot-link* pairs, the hard
  negatives of training: same camera, same light, same moment;
* **people clusters** group one person's visits across videos (the clustering of
  :mod:`reidkit.search.people`: tracklets of one video linked into visits, visits clustered by average
  linkage over per-visit verdict margins, never joining two people on screen together). They are the
  only cross-camera positives, and they are a guess: :func:`pseudo_labels` re-draws them from the
  adapted vectors after every round, and adaptation stops when they stop changing
  (:func:`label_agreement`).

Everything here is numpy: pseudo-labels can be built and tested without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from reidkit.core.gallery import LinkRule
from reidkit.core.vectors import l2_normalise
from reidkit.index.footage import MIN_SHARED_FRAMES
from reidkit.index.visits import group_media, span_of
from reidkit.search.clustering import average_linkage, on_screen_together, own_thresholds, verdict_margins
from reidkit.search.verdict import VerdictRule

if TYPE_CHECKING:
    from reidkit.index.library import Library, MediaRecord, TrackletRecord
    from reidkit.zoo.calibration import ScoreCalibration


@dataclass(frozen=True)
class LibraryView:
    """A snapshot of what pseudo-labelling reads from a library: its media and tracklets, in order."""

    media: list[MediaRecord]
    tracklets: list[TrackletRecord]  # grouped by media, in media order

    @staticmethod
    def of(library: Library) -> LibraryView:
        media = library.media_list()
        return LibraryView(media, [r for m in media for r in library.tracklets(m.id)])

    @property
    def ids(self) -> np.ndarray:
        return np.array([r.id for r in self.tracklets], np.int64)

    @property
    def cameras(self) -> np.ndarray:
        """Per tracklet, the index of its media file: a video is a camera."""
        order = {m.id: i for i, m in enumerate(self.media)}
        return np.array([order[r.media_id] for r in self.tracklets], np.int64)


@dataclass(frozen=True)
class PseudoLabels:
    """Per tracklet (in :attr:`LibraryView.tracklets` order): its visit and its person, as dense ids."""

    visit: np.ndarray  # (N,) int64
    person: np.ndarray  # (N,) int64
    cannot_link: np.ndarray  # (P, 2) int64 rows into the tracklet order: two people on screen together
    camera: np.ndarray  # (N,) int64

    @property
    def n_people(self) -> int:
        return int(self.person.max()) + 1 if len(self.person) else 0

    def cross_camera_people(self) -> int:
        """People seen in more than one video: where the clusters give cross-camera positives."""
        pairs = {(int(p), int(c)) for p, c in zip(self.person, self.camera, strict=True)}
        per_person = np.bincount([p for p, _ in pairs], minlength=self.n_people)
        return int((per_person > 1).sum())


@dataclass(frozen=True)
class LabelRule:
    moments: LinkRule = field(default_factory=LinkRule)
    verdict: VerdictRule = field(default_factory=VerdictRule)


def apart_on_screen(a: TrackletRecord, b: TrackletRecord) -> bool:
    """Two tracklets sharing at least MIN_SHARED_FRAMES frames whose boxes never meet (two people)."""
    from reidkit.detect.boxes import paired_box_iou

    shared, ia, ib = np.intersect1d(a.frames, b.frames, assume_unique=True, return_indices=True)
    if len(shared) < MIN_SHARED_FRAMES:
        return False
    return bool(np.all(paired_box_iou(a.boxes[ia], b.boxes[ib]) == 0.0))


def cannot_link_pairs(view: LibraryView) -> np.ndarray:
    """(P, 2) rows into ``view.tracklets``: tracklets of one file on screen together, apart (two people).

    Only tracklets whose time spans overlap are compared, so the cost follows the people on screen
    together, not the square of a video's tracklets.
    """
    pairs: list[tuple[int, int]] = []
    by_media: dict[int, list[int]] = {}
    for row, record in enumerate(view.tracklets):
        by_media.setdefault(record.media_id, []).append(row)
    for rows in by_media.values():
        rows = sorted(rows, key=lambda r: view.tracklets[r].start_frame)
        for i, a in enumerate(rows):
            ra = view.tracklets[a]
            for b in rows[i + 1 :]:
                rb = view.tracklets[b]
                if rb.start_frame > ra.end_frame:
                    break
                if apart_on_screen(ra, rb):
                    pairs.append((min(a, b), max(a, b)))
    return np.array(sorted(pairs), np.int64).reshape(-1, 2)


def pseudo_labels(
    view: LibraryView,
    vectors: np.ndarray,
    calibration: ScoreCalibration,
    rule: LabelRule = LabelRule(),
    cannot_link: np.ndarray | None = None,
) -> PseudoLabels:
    """Visits and people of ``view``'s tracklets from their pooled unit ``vectors`` (N, D) (module doc).

    ``calibration`` is that of the vectors' model (for adapted vectors: the calibration carried over to
    them, :func:`reidkit.adapt.calibration.carry_over`): its even-odds cosine joins one video's tracklets
    into visits and it floors the per-visit verdicts that decide which visits are one person.
    """
    vectors = l2_normalise(np.asarray(vectors, np.float32))
    n = len(view.tracklets)
    cameras = view.cameras
    if cannot_link is None:
        cannot_link = cannot_link_pairs(view)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return PseudoLabels(empty, empty, cannot_link, cameras)
    row_of = {r.id: i for i, r in enumerate(view.tracklets)}
    media_of = {m.id: m for m in view.media}
    visit = np.full(n, -1, np.int64)
    groups: list[list[int]] = []
    for media in view.media:
        records = [r for r in view.tracklets if r.media_id == media.id]
        if not records:
            continue
        spans = [span_of(r.id, r.start, r.end, r.boxes) for r in records]
        rows_here = [row_of[r.id] for r in records]
        linked = group_media(
            media.kind, spans, vectors[rows_here], media.width, calibration.even_odds, rule.moments
        )
        for group in linked:
            rows = [rows_here[i] for i in group]
            visit[rows] = len(groups)
            groups.append(rows)
    visit_vectors = l2_normalise(np.stack([vectors[rows].mean(axis=0) for rows in groups]))
    similarity = visit_vectors.astype(np.float64) @ visit_vectors.T.astype(np.float64)
    others = ~np.eye(len(groups), dtype=bool)
    own = own_thresholds(
        (row[mask] for row, mask in zip(similarity, others, strict=True)), calibration, rule.verdict
    )
    margin = verdict_margins(similarity, own)
    together = _visits_together(view, groups, media_of, cannot_link, rule.moments.max_overlap)
    people = average_linkage(margin, together, 0.0)
    _, person_of_visit = np.unique(people, return_inverse=True)
    return PseudoLabels(visit, person_of_visit[visit].astype(np.int64), cannot_link, cameras)


def _visits_together(
    view: LibraryView,
    groups: Sequence[Sequence[int]],
    media_of: dict[int, MediaRecord],
    cannot_link: np.ndarray,
    max_overlap: float,
) -> np.ndarray:
    """(V, V) bool: visits that cannot be one person (as :mod:`reidkit.search.people` rules): visits of
    one video overlapping by more than ``max_overlap`` s, people of one photo, or holding a cannot-link pair."""
    records = view.tracklets
    media = [records[g[0]].media_id for g in groups]
    together = on_screen_together(
        media,
        [media_of[m].kind == "image" for m in media],
        [min(records[i].start for i in g) for g in groups],
        [max(records[i].end for i in g) for g in groups],
        max_overlap,
    )
    visit_of = np.empty(len(records), np.int64)
    for v, rows in enumerate(groups):
        visit_of[list(rows)] = v
    if len(cannot_link):
        a, b = visit_of[cannot_link[:, 0]], visit_of[cannot_link[:, 1]]
        together[a, b] = together[b, a] = True
        np.fill_diagonal(together, False)  # a pair inside one visit says nothing about two visits
    return together


def label_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """How far two labelings of the same items agree: the Jaccard index of their same-person pairs
    (pairs both call one person / pairs either does). 1.0 when the people did not change."""
    a, b = np.asarray(a), np.asarray(b)
    same_a = a[:, None] == a[None, :]
    same_b = b[:, None] == b[None, :]
    np.fill_diagonal(same_a, False)
    np.fill_diagonal(same_b, False)
    either = same_a | same_b
    if not either.any():
        return 1.0
    return float((same_a & same_b).sum() / either.sum())
