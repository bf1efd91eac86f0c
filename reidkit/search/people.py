"""Who is in this footage: a library's visits clustered into people, across videos and photos.

A *visit* is one person's linked tracklets within one video (:mod:`reidkit.index.visits`, stored when
the file was indexed: the same visits a search returns as moments); each person found in a still image
is a visit of its own. :func:`people` groups the visits into people by **average-linkage agglomerative
clustering** of their vectors (the mean of the member tracklets' vectors, as search scores a visit):

* two visits are alike by how far their cosine clears the higher of their two *search verdict*
  thresholds (:func:`reidkit.search.verdict.decide`: each visit is a query against the library's other
  visits, so the bar follows this footage's impostor scores for that visit, never below the model's
  calibration); two clusters merge while the mean of that margin over all their cross pairs of visits
  is >= 0. ``PeopleRule.min_similarity`` replaces this with a fixed cosine (a model's calibrated
  ``link_threshold`` alone merges different people for models calibrated on other footage:
  bench/crosscam/README.md);
* **cannot-link**: two visits of one video that are on screen together (overlapping by more than
  ``MomentRule.max_overlap`` seconds), or two people in one photo, are two people, and so is any merge
  that would put them in one cluster: one person is not in two places at once.

People are ordered by first appearance (media in the order they were indexed, then time), and their
``id`` is that rank, so the same library always gives the same people and ids.

Cost: one batched read of the stored visits and their tracklets, one verdict per visit (a sort of its N - 1 cosines) and an N x N matrix over
the N visits (8 bytes a pair: 72 MB for 3,000 visits). Each merge updates one row and rescans only the rows whose best partner it touched, so
clustering is O(N^2) time in practice. The result is recomputed when the library changes and cached in
memory per library content (root, model, tracklet and media counts, last media id).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reidkit.core.gallery import Gallery, MediaRecord, TrackletHit, TrackletRecord
from reidkit.index.visits import visit_vector
from reidkit.search.engine import open_library
from reidkit.search.moments import Moment, MomentRule, make_moment
from reidkit.search.verdict import VerdictRule, decide
from reidkit.zoo.calibration import calibration_for

if TYPE_CHECKING:
    from reidkit.zoo.calibration import ScoreCalibration

CACHE_SIZE = 4  # libraries whose people are kept in memory


@dataclass(frozen=True)
class PeopleRule:
    # Mean cosine between two clusters' visits to merge them; None: the per-visit verdicts (below).
    min_similarity: float | None = None
    # Without min_similarity, two visits are alike by how far their cosine clears the higher of their
    # two search verdicts' thresholds (:func:`reidkit.search.verdict.decide`, each visit as a query
    # against the library's other visits), and clusters merge while that margin's mean is >= 0.
    verdict: VerdictRule = field(default_factory=VerdictRule)
    # How tracklets link into visits, and the overlap tolerated between two people on screen together.
    moments: MomentRule = field(default_factory=MomentRule)


@dataclass(frozen=True)
class Person:
    """One person of the library: their visits as moments, first appearance first."""

    id: int
    moments: list[Moment]  # each scored by its cosine to the person's pooled vector
    vector: np.ndarray = field(repr=False)  # the pooled vector of the person's visits

    @property
    def best(self) -> Moment:
        """The visit most like the person as a whole: their thumbnail and the query for their search."""
        return max(self.moments, key=lambda m: m.score)

    @property
    def thumbnail(self) -> str:
        return self.best.thumbnail

    @property
    def best_tracklet(self) -> int:
        return self.best.best_tracklet

    @property
    def visits(self) -> int:
        return len(self.moments)

    @property
    def videos(self) -> int:
        return len({m.media for m in self.moments if m.kind == "video"})

    @property
    def images(self) -> int:
        return len({m.media for m in self.moments if m.kind == "image"})

    @property
    def seconds(self) -> float:
        """Total time on screen over the person's video visits."""
        return float(sum(m.end - m.start for m in self.moments if m.kind == "video"))

    def to_dict(self) -> dict[str, Any]:
        moments = []
        for moment in self.moments:
            entry = moment.to_dict()
            # A person's moments answer no query: the search verdict does not apply to them.
            del entry["likely"], entry["probability"]
            moments.append(entry)
        return {
            "id": self.id,
            "visits": self.visits,
            "videos": self.videos,
            "images": self.images,
            "seconds": round(self.seconds, 3),
            "thumbnail": self.thumbnail,
            "best_tracklet": self.best_tracklet,
            "moments": moments,
        }


_cache: OrderedDict[tuple[Any, ...], list[Person]] = OrderedDict()


def people(library: str | Path | Gallery, rule: PeopleRule = PeopleRule()) -> list[Person]:
    """The people in ``library`` (a folder or a Library), by first appearance (see the module docstring)."""
    library = open_library(library)
    media = library.media_list()
    key = (
        str(Path(library.root).resolve()),
        library.model,
        len(library),
        len(media),
        media[-1].id if media else 0,
        rule,
    )
    if key not in _cache:
        if len(_cache) >= CACHE_SIZE:
            _cache.popitem(last=False)
        _cache[key] = _cluster_people(library, media, rule)
    return _cache[key]


@dataclass
class _Visit:
    order: int  # rank of its media in indexing order
    media: MediaRecord
    records: tuple[TrackletRecord, ...]
    tracklet_vectors: np.ndarray  # (n, D) the members' vectors
    vector: np.ndarray

    @property
    def start(self) -> tuple[int, float, int]:
        return (self.order, min(r.start for r in self.records), min(r.id for r in self.records))


def _cluster_people(library: Gallery, media_list: list[MediaRecord], rule: PeopleRule) -> list[Person]:
    calibration = calibration_for(library.model)
    order = {media.id: rank for rank, media in enumerate(media_list)}
    visits = [
        _Visit(order[v.media.id], v.media, v.tracklets, v.tracklet_vectors, v.vector)
        for v in library.visits(rule.moments.link)
    ]
    if not visits:
        return []
    visits.sort(key=lambda v: v.start)
    visit_vectors = np.stack([v.vector for v in visits]).astype(np.float64)
    similarity = visit_vectors @ visit_vectors.T
    if rule.min_similarity is None:
        similarity -= _verdict_thresholds(similarity, calibration, rule.verdict)
        threshold = 0.0
    else:
        threshold = rule.min_similarity
    labels = average_linkage(similarity, _on_screen_together(visits, rule.moments.max_overlap), threshold)
    root = Path(library.root).resolve()
    # Visits are in order of appearance, so the order of first members is the order of first appearance.
    _, first_members = np.unique(labels, return_index=True)
    return [
        _person(rank, [visits[i] for i in np.flatnonzero(labels == labels[first])], root)
        for rank, first in enumerate(sorted(first_members), 1)
    ]


def _person(person_id: int, visits: list[_Visit], root: Path) -> Person:
    vector = visit_vector(np.stack([v.vector for v in visits]))
    moments = [
        make_moment(
            [
                TrackletHit(r, visit.media, float(score))
                for r, score in zip(visit.records, visit.tracklet_vectors @ vector, strict=True)
            ],
            root,
            score=float(visit.vector @ vector),
        )
        for visit in visits
    ]
    return Person(person_id, moments, vector)


def _verdict_thresholds(
    similarity: np.ndarray, calibration: ScoreCalibration, rule: VerdictRule
) -> np.ndarray:
    """(N, N): the higher of the two visits' verdict thresholds, each against all other visits."""
    others = ~np.eye(len(similarity), dtype=bool)
    own = np.array(
        [decide(row[mask], calibration, rule).threshold for row, mask in zip(similarity, others, strict=True)]
    )
    return np.maximum(own[:, None], own[None, :])


def _on_screen_together(visits: list[_Visit], max_overlap: float) -> np.ndarray:
    """(N, N) bool: visits of one video overlapping by more than ``max_overlap`` s, or of one photo."""
    media = np.array([v.media.id for v in visits])
    image = np.array([v.media.kind == "image" for v in visits])
    starts = np.array([min(r.start for r in v.records) for v in visits])
    ends = np.array([max(r.end for r in v.records) for v in visits])
    overlap = np.minimum(ends[:, None], ends[None, :]) - np.maximum(starts[:, None], starts[None, :])
    together = (media[:, None] == media[None, :]) & ((overlap > max_overlap) | image[:, None])
    np.fill_diagonal(together, False)
    return together


def average_linkage(similarity: np.ndarray, cannot_link: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster labels (N,) from an (N, N) ``similarity`` by average linkage, stopping below ``threshold``.

    Two clusters merge when the mean similarity over their cross pairs is the highest of all allowed pairs
    and at least ``threshold``; pairs with a ``cannot_link`` member pair never merge. Ties go to the
    lowest indices, so the result is deterministic.
    """
    n = len(similarity)
    sums = np.array(similarity, np.float64)  # sum of similarities between the clusters' members
    sizes = np.ones(n)
    blocked = cannot_link.copy()
    np.fill_diagonal(blocked, True)
    active = np.ones(n, bool)
    labels = np.arange(n)

    def best_partners(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = sums[rows] / (sizes[rows, None] * sizes[None, :])
        mean[blocked[rows] | ~active[None, :]] = -np.inf
        partner = mean.argmax(axis=1)
        return partner, mean[np.arange(len(rows)), partner]

    partner, best = best_partners(np.arange(n))
    while True:
        candidates = np.where(active, best, -np.inf)
        i = int(candidates.argmax())
        if not candidates[i] >= threshold:
            break
        j = int(partner[i])
        keep, gone = min(i, j), max(i, j)
        sums[keep] += sums[gone]
        sums[:, keep] = sums[keep]
        sizes[keep] += sizes[gone]
        blocked[keep] |= blocked[gone]
        blocked[:, keep] = blocked[keep]
        active[gone] = False
        labels[labels == gone] = keep
        stale = np.flatnonzero(active & ((partner == keep) | (partner == gone)))
        stale = np.union1d(stale, [keep])
        partner[stale], best[stale] = best_partners(stale)
    return labels
