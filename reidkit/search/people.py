"""Who is in this footage: a library's visits clustered into people, across videos and photos.

A *visit* is one person's linked tracklets within one video (:mod:`reidkit.index.visits`, stored when
the file was indexed: the same visits a search returns as moments); each person found in a still image
is a visit of its own. :func:`people` groups the visits into people by **average-linkage agglomerative
clustering** of their vectors (the mean of the member tracklets' vectors, as search scores a visit), by
the rule of :mod:`reidkit.search.clustering`:

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
from typing import Any

import numpy as np

from reidkit.core.gallery import Gallery, MediaRecord, TrackletHit, TrackletRecord
from reidkit.index.visits import visit_vector
from reidkit.search.clustering import average_linkage, on_screen_together, own_thresholds, verdict_margins
from reidkit.search.engine import open_library
from reidkit.search.moments import Moment, MomentRule, make_moment
from reidkit.search.verdict import VerdictRule
from reidkit.search.verdict_space import VerdictSpace

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
    head = library.verdict_head
    key = (
        str(Path(library.root).resolve()),
        library.model,
        None if head is None else head.sha256,
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
    # Visits are compared where the library judges its verdicts (its adapted model's space after
    # `reidkit adapt`, reidkit.search.verdict_space); a person's vector stays the stored vectors'.
    space = VerdictSpace.of(library)
    calibration = space.calibration
    order = {media.id: rank for rank, media in enumerate(media_list)}
    visits = [
        _Visit(order[v.media.id], v.media, v.tracklets, v.tracklet_vectors, v.vector)
        for v in library.visits(rule.moments.link)
    ]
    if not visits:
        return []
    visits.sort(key=lambda v: v.start)
    if space.head is None:
        visit_vectors = np.stack([v.vector for v in visits]).astype(np.float64)
    else:  # every member mapped in one product, then pooled per visit as the stored vectors were
        mapped = np.split(
            space.mapped(np.concatenate([v.tracklet_vectors for v in visits])),
            np.cumsum([len(v.tracklet_vectors) for v in visits])[:-1],
        )
        visit_vectors = np.stack([visit_vector(m) for m in mapped]).astype(np.float64)
    similarity = visit_vectors @ visit_vectors.T
    if rule.min_similarity is None:
        # Each visit's own verdict: a query against all the library's other visits.
        others = ~np.eye(len(visits), dtype=bool)
        own = own_thresholds(
            (row[mask] for row, mask in zip(similarity, others, strict=True)), calibration, rule.verdict
        )
        similarity = verdict_margins(similarity, own)
        threshold = 0.0
    else:
        threshold = rule.min_similarity
    together = on_screen_together(
        [v.media.id for v in visits],
        [v.media.kind == "image" for v in visits],
        [min(r.start for r in v.records) for v in visits],
        [max(r.end for r in v.records) for v in visits],
        rule.moments.max_overlap,
    )
    labels = average_linkage(similarity, together, threshold)
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
