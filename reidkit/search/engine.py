"""One photo in, the moments that person appears out.

result = find_person("me.jpg", "lib/")
for m in result.moments: print(m.media, m.start, m.end, m.score)
print(result.to_json())
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
    """:func:`search_vector`'s moments, each with its verdict (``likely``, ``probability``), and the rule."""
    verdict = verdict_for(library, query, verdict_rule)
    moments = [
        replace(m, likely=verdict.likely(m.score), probability=verdict.probability(m.score))
        for m in search_vector(library, query, top=top, min_score=min_score, rule=rule)
    ]
    return moments, verdict


def search_vector(
    library: Gallery,
    query: np.ndarray,
    *,
    top: int = 20,
    min_score: float | None = None,
    rule: MomentRule = MomentRule(),
) -> list[Moment]:
    """The best ``top`` moments for a unit query vector, best first, scores >= ``min_score``.

    A few batched reads, whatever the library's size: the index's hits, then the stored visits that
    hold them (:meth:`~reidkit.core.gallery.Gallery.visits_of`), twice with query expansion. The
    moments carry no verdict: :func:`search` adds it."""
    k = min(len(library), max(MIN_HITS, HITS_PER_MOMENT * top))
    query = np.asarray(query, np.float32).reshape(-1)
    link = rule.link
    visits: dict[int, Visit] = {}
    visit_of: dict[int, int] = {}  # tracklet id -> visit id
    vectors: dict[int, np.ndarray] = {}  # tracklet id -> its stored vector

    def fetch(hits: Sequence[TrackletHit]) -> None:
        missing = [h.tracklet.id for h in hits if h.tracklet.id not in visit_of]
        for visit in library.visits_of(missing, link) if missing else []:
            visits[visit.id] = visit
            for record, vector in zip(visit.tracklets, visit.tracklet_vectors, strict=True):
                visit_of[record.id] = visit.id
                vectors[record.id] = vector

    hits = library.search(query, k)
    fetch(hits)
    moments = visit_moments(library, list(visits.values()), query, rule)
    if rule.expand_query > 0 and moments:
        best = [
            visit_vector(np.stack([vectors[t] for t in m.tracklet_ids])) for m in moments[: rule.expand_query]
        ]
        expanded = l2_normalise(np.stack([query, np.mean(best, axis=0)]).mean(axis=0))
        seen = {hit.tracklet.id for hit in hits}
        more = [hit for hit in library.search(expanded, k) if hit.tracklet.id not in seen]
        fetch(more)
        moments = visit_moments(library, list(visits.values()), query, rule, rank_by=expanded)
    if min_score is not None:
        moments = [m for m in moments if m.score >= min_score]
    return moments[:top]


def visit_moments(
    library: Gallery,
    visits: Sequence[Visit],
    query: np.ndarray,
    rule: MomentRule = MomentRule(),
    rank_by: np.ndarray | None = None,
) -> list[Moment]:
    """``visits`` as moments, best first (all their members, hit or not, extend the moment).

    A visit scores by the cosine between the query and its vector (the mean of its tracklets'
    vectors). ``rank_by`` (an expanded query) orders the moments instead of that score when given.
    """
    calibration = calibration_for(library.model)
    root = Path(library.root).resolve()
    query = np.asarray(query, np.float32).reshape(-1)
    by_media: dict[int, list[Visit]] = {}
    for visit in visits:
        by_media.setdefault(visit.media.id, []).append(visit)
    ranked: list[tuple[float, Moment]] = []
    for media_visits in by_media.values():
        media = media_visits[0].media
        # In the order they were linked (by first tracklet), which breaks merge_concurrent's ties.
        media_visits.sort(key=lambda v: (v.tracklets[0].start, v.tracklets[0].id))
        scored: list[tuple[float, list[TrackletHit]]] = []
        orders: list[float] = []
        for visit in media_visits:
            member_scores = visit.tracklet_vectors @ query
            members = [
                TrackletHit(r, media, float(s)) for r, s in zip(visit.tracklets, member_scores, strict=True)
            ]
            # The visit scores by its pooled appearance (mean of its tracklets' vectors): on
            # bench/crosscam this ranked better than the best member (+1.5 mAP over three models).
            scored.append((float(visit.vector @ query), members))
            orders.append(scored[-1][0] if rank_by is None else float(visit.vector @ rank_by))
        if media.kind == "image" or not rule.merge_concurrent:
            groups = [[i] for i in range(len(scored))]
        else:
            groups = merge_concurrent(scored, calibration.threshold, rule.max_overlap)
        for group in groups:
            members = [hit for i in group for hit in scored[i][1]]
            moment = make_moment(members, root, score=scored[group[0]][0])
            ranked.append((max(orders[i] for i in group), moment))
    ranked.sort(key=lambda r: (-r[0], r[1].media, r[1].start))
    return [moment for _, moment in ranked]


def find_tracklet(
    library: str | Path | Gallery,
    tracklet_id: int,
    top: int = 20,
    *,
    min_score: float | None = None,
    rule: MomentRule = MomentRule(),
) -> SearchResult:
    """Search with a person already in the library (one of its tracklets) as the query."""
    from reidkit.media import read_image

    lib = open_library(library)
    try:
        record = lib.tracklet(tracklet_id)
    except KeyError:
        raise LibraryError(f"no tracklet {tracklet_id} in the library", path=lib.root) from None
    vector = lib.vectors_of([tracklet_id])[0]
    moments, verdict = find_moments(lib, vector, top=top, min_score=min_score, rule=rule)
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
    moments, verdict = find_moments(lib, vector, top=top, min_score=min_score, rule=rule)
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
