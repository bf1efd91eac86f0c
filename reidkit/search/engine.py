"""One photo in, the moments that person appears out.

result = find_person("me.jpg", "lib/")
for m in result.moments: print(m.media, m.start, m.end, m.score)
print(result.to_json())
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.core.errors import LibraryError
from reidkit.core.gallery import Gallery, TrackletHit, Visit
from reidkit.core.log import get_logger
from reidkit.core.types import Detector, Embedder
from reidkit.core.vectors import l2_normalise
from reidkit.embed.factory import build_embedder
from reidkit.index.visits import visit_vector
from reidkit.search.moments import Moment, MomentRule, make_moment, merge_concurrent
from reidkit.search.one_person import judge
from reidkit.search.query import load_query
from reidkit.search.verdict import Verdict, VerdictRule, decide
from reidkit.zoo.calibration import calibration_for

log = get_logger(__name__)

# Tracklets fetched per requested moment: a moment usually merges a few tracklets, and low-scoring
# fragments of the right person must still be there to extend its time range.
HITS_PER_MOMENT = 10
MIN_HITS = 200


@dataclass
class SearchResult:
    query: str  # the query photo's path
    model: str  # the ReID model that made the library's (and the query's) vectors
    moments: list[Moment]  # best first
    verdict: Verdict  # how "likely" was decided for this query: threshold and where it came from
    query_crop: np.ndarray | None = field(default=None, repr=False)  # BGR, for reports
    query_box: tuple[float, float, float, float] | None = None  # in query-photo pixels
    library_root: str = ""

    @property
    def found(self) -> bool:
        """True when some moment is likely the same person; False means "not found"."""
        return any(m.likely for m in self.moments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "model": self.model,
            "found": self.found,
            "verdict": self.verdict.to_dict(),
            "moments": [m.to_dict() for m in self.moments],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def open_library(library: str | Path | Gallery) -> Gallery:
    """A Library from a path (or a gallery itself); LibraryError when it holds nobody yet."""
    if isinstance(library, (str, Path)):
        from reidkit.index.library import Library

        library = Library.open(library)
    if len(library) == 0:
        raise LibraryError(
            "the library has no people indexed yet",
            path=library.root,
            hint=f"run `reidkit index VIDEOS_OR_IMAGES... --library {library.root}` first",
        )
    return library


@lru_cache(maxsize=4)
def embedder_for(library: Gallery, model: str | Path | None = None) -> Embedder:
    """The embedder of the model that made the library's vectors (query vectors must be comparable).

    ``model`` is the model file to use when the library's model is not a registry name (a library
    indexed with ``--model path/to/mine.onnx`` records only ``mine``).
    """
    from reidkit.core.errors import ModelError
    from reidkit.zoo.registry import MODELS

    if model is not None:
        return build_embedder(model)
    try:
        return build_embedder(library.model)
    except ModelError:
        if library.model in MODELS:
            raise  # a registered model whose file is missing: its own message says how to get it
        raise LibraryError(
            f"cannot load the model the library was built with, {library.model!r}",
            path=library.root,
            hint="pass --model with the .onnx file it was indexed with",
        ) from None


def verdict_for(library: Gallery, query: np.ndarray, rule: VerdictRule = VerdictRule()) -> Verdict:
    """How "likely" is decided for ``query`` in ``library`` (:mod:`reidkit.search.verdict`)."""
    cohort = library.cohort_vectors() @ np.asarray(query, np.float32).reshape(-1)
    return decide(cohort, calibration_for(library.model), rule)


def find_moments(
    library: Gallery,
    query: np.ndarray,
    *,
    top: int = 20,
    min_score: float | None = None,
    rule: MomentRule = MomentRule(),
    verdict_rule: VerdictRule = VerdictRule(),
) -> tuple[list[Moment], Verdict]:
    """:func:`search_vector`'s moments, each with its verdict (``likely``, ``probability``: only the best
    moment's person, :mod:`reidkit.search.one_person`), and the rule."""
    verdict = verdict_for(library, query, verdict_rule)
    moments = search_vector(library, query, top=top, min_score=min_score, rule=rule)
    return judge(library, moments, verdict, verdict_rule, rule.max_overlap), verdict


def search_vector(
    library: Gallery,
    query: np.ndarray,
    *,
    top: int = 20,
    min_score: float | None = None,
    rule: MomentRule = MomentRule(),
) -> list[Moment]:
    """The best ``top`` moments for a unit query vector, best first, scores >= ``min_score``.

    A few batched reads, whatever the library's size: the index's nearest tracklets, then the stored
    visits that hold them (:meth:`~reidkit.core.gallery.Gallery.visits_of`), twice with query
    expansion. The moments carry no verdict: :func:`search` adds it."""
    k = min(len(library), max(MIN_HITS, HITS_PER_MOMENT * top))
    query = np.asarray(query, np.float32).reshape(-1)
    link = rule.link
    visits: dict[int, Visit] = {}
    visit_of: dict[int, Visit] = {}  # tracklet id -> its visit, for the fetched visits

    def fetch(tracklet_ids: Sequence[int]) -> None:
        missing = [i for i in tracklet_ids if i not in visit_of]
        for visit in library.visits_of(missing, link) if missing else []:
            visits[visit.id] = visit
            visit_of.update(dict.fromkeys((t.id for t in visit.tracklets), visit))

    found = [i for i, _ in library.nearest(query, k)]
    fetch(found)
    if rule.expand_query <= 0:
        return visit_moments(library, list(visits.values()), query, rule, limit=top, min_score=min_score)
    best = visit_moments(library, list(visits.values()), query, rule, limit=rule.expand_query)
    if not best:
        return []
    # A moment's tracklets are all the members of its visits: its vector is the mean of theirs.
    best_vectors = [
        visit_vector(
            np.concatenate(
                [v.tracklet_vectors for v in {visit_of[t].id: visit_of[t] for t in m.tracklet_ids}.values()]
            )
        )
        for m in best
    ]
    expanded = l2_normalise(np.stack([query, np.mean(best_vectors, axis=0)]).mean(axis=0))
    # The expanded query's hits join the photo's; every score stays the photo's cosine.
    fetch([i for i, _ in library.nearest(expanded, k)])
    return visit_moments(
        library, list(visits.values()), query, rule, rank_by=expanded, limit=top, min_score=min_score
    )


def visit_moments(
    library: Gallery,
    visits: Sequence[Visit],
    query: np.ndarray,
    rule: MomentRule = MomentRule(),
    rank_by: np.ndarray | None = None,
    *,
    limit: int | None = None,
    min_score: float | None = None,
) -> list[Moment]:
    """``visits`` as moments, best first: the first ``limit`` scoring >= ``min_score`` (all: None).

    A visit scores by the cosine between the query and its vector (the mean of its tracklets'
    vectors); all its members, hit or not, extend its moment. ``rank_by`` (an expanded query) orders
    the moments instead of that score when given. Moments are made only for what is returned.
    """
    calibration = calibration_for(library.model)
    root = Path(library.root).resolve()
    query = np.asarray(query, np.float32).reshape(-1)
    by_media: dict[int, list[Visit]] = {}
    for visit in visits:
        by_media.setdefault(visit.media.id, []).append(visit)
    # (order, score, media path as stored, start, the group's visits) per moment to be
    candidates: list[tuple[float, float, str, float, list[Visit]]] = []
    for media_visits in by_media.values():
        media = media_visits[0].media
        # In the order they were linked (by first tracklet), which breaks merge_concurrent's ties.
        media_visits.sort(key=lambda v: (v.tracklets[0].start, v.tracklets[0].id))
        vectors = np.stack([v.vector for v in media_visits])
        # The visit scores by its pooled appearance (mean of its tracklets' vectors): on
        # bench/crosscam this ranked better than the best member (+1.5 mAP over three models).
        scores = [float(s) for s in vectors @ query]
        orders = scores if rank_by is None else [float(s) for s in vectors @ rank_by]
        if media.kind == "image" or not rule.merge_concurrent:
            groups = [[i] for i in range(len(media_visits))]
        else:
            # Only visits at or above the threshold may merge: only theirs are read.
            scored = [
                (score, _members(visit, query) if score >= calibration.threshold else [])
                for visit, score in zip(media_visits, scores, strict=True)
            ]
            groups = merge_concurrent(scored, calibration.threshold, rule.max_overlap)
        for group in groups:
            members = [media_visits[i] for i in group]
            start = min(v.start for v in members)
            candidates.append((max(orders[i] for i in group), scores[group[0]], media.path, start, members))
    candidates.sort(key=lambda c: (-c[0], c[2], c[3]))
    if min_score is not None:
        candidates = [c for c in candidates if c[1] >= min_score]
    # Paths are resolved for the moments returned only (a resolve is a system call per folder).
    return [
        make_moment([hit for v in group for hit in _members(v, query)], root, score=score)
        for _, score, _, _, group in candidates[:limit]
    ]


def _members(visit: Visit, query: np.ndarray) -> list[TrackletHit]:
    """A visit's tracklets, each scored by its own vector's cosine to ``query``."""
    scores = visit.tracklet_vectors @ query
    return [TrackletHit(r, visit.media, float(s)) for r, s in zip(visit.tracklets, scores, strict=True)]


def find_tracklet(
    library: str | Path | Gallery,
    tracklet_id: int,
    top: int = 20,
    *,
    min_score: float | None = None,
    rule: MomentRule = MomentRule(),
    verdict_rule: VerdictRule = VerdictRule(),
) -> SearchResult:
    """Search with a person already in the library (one of its tracklets) as the query."""
    from reidkit.media import read_image

    lib = open_library(library)
    try:
        record = lib.tracklet(tracklet_id)
    except KeyError:
        raise LibraryError(f"no tracklet {tracklet_id} in the library", path=lib.root) from None
    vector = lib.vectors_of([tracklet_id])[0]
    moments, verdict = find_moments(
        lib, vector, top=top, min_score=min_score, rule=rule, verdict_rule=verdict_rule
    )
    thumbnail = Path(lib.root) / record.thumbnail
    return SearchResult(
        query=str(thumbnail.resolve()),
        model=lib.model,
        moments=moments,
        verdict=verdict,
        query_crop=read_image(thumbnail) if thumbnail.is_file() else None,
        query_box=tuple(float(v) for v in np.asarray(record.best_box).reshape(4)),  # type: ignore[arg-type]
        library_root=str(Path(lib.root).resolve()),
    )


def find_person(
    photo: str | Path,
    library: str | Path | Gallery,
    top: int = 20,
    box: Sequence[float] | None = None,
    *,
    min_score: float | None = None,
    detector: Detector | None = None,
    embedder: Embedder | None = None,
    model: str | Path | None = None,
    rule: MomentRule = MomentRule(),
    verdict_rule: VerdictRule = VerdictRule(),
) -> SearchResult:
    """Find every moment the person in ``photo`` appears in the indexed ``library``.

    ``box`` (x1, y1, x2, y2 in photo pixels) picks the person when the photo shows several; otherwise a
    person crop is used as is and a scene's largest detected person is the query. ``model`` (a name or
    .onnx path) is needed only when the library was indexed with an unregistered model file.
    """
    lib = open_library(library)
    crop, query_box = load_query(photo, detector, box)
    embedder = embedder or embedder_for(lib, model)
    if embedder.name != lib.model:
        raise LibraryError(
            f"the library was built with {lib.model!r}, not {embedder.name!r}",
            path=lib.root,
            hint=f"search it with {lib.model!r} or re-index with the other model",
        )
    lib.check_model_file(getattr(embedder, "path", None))
    vector = embedder.embed([crop])[0]
    moments, verdict = find_moments(
        lib, vector, top=top, min_score=min_score, rule=rule, verdict_rule=verdict_rule
    )
    log.info("search %s: %d moments", photo, len(moments))
    return SearchResult(
        query=str(Path(photo).resolve()),
        model=lib.model,
        moments=moments,
        verdict=verdict,
        query_crop=crop,
        query_box=tuple(float(v) for v in query_box),  # type: ignore[arg-type]
        library_root=str(Path(lib.root).resolve()),
    )
