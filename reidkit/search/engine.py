"""One photo in, the moments that person appears out.

result = find_person("me.jpg", "lib/")
for m in result.moments: print(m.media, m.start, m.end, m.score)
print(result.to_json())
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from reidkit.core.errors import LibraryError
from reidkit.core.gallery import Gallery, TrackletHit, Visit, VisitHead
from reidkit.core.log import get_logger
from reidkit.core.types import Detector, Embedder, model_file_of
from reidkit.core.vectors import l2_normalise
from reidkit.embed.factory import build_embedder
from reidkit.index.visits import visit_vector
from reidkit.search.moments import Moment, MomentRule, make_moment, merge_concurrent
from reidkit.search.one_person import judge
from reidkit.search.query import load_query
from reidkit.search.verdict import Verdict, VerdictRule
from reidkit.search.verdict_space import VerdictSpace
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
    more_likely: bool = False  # a moment beyond those returned (``top``) is likely the same person too

    @property
    def found(self) -> bool:
        """True when some moment is likely the same person; False means "not found"."""
        return any(m.likely for m in self.moments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "model": self.model,
            "found": self.found,
            "more_likely": self.more_likely,
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
    """How "likely" is decided for ``query`` (the library model's vector) in ``library``
    (:mod:`reidkit.search.verdict`), in the library's verdict space (:mod:`.verdict_space`)."""
    space = VerdictSpace.of(library)
    return space.verdict(space.query(query), rule)


class FoundMoments(NamedTuple):
    moments: list[Moment]  # at most ``top``, best first, each with its verdict
    verdict: Verdict
    more_likely: bool  # the next moment after those returned is likely too: ``top`` cut the answer short


def find_moments(
    library: Gallery,
    query: np.ndarray,
    *,
    top: int = 20,
    min_score: float | None = None,
    rule: MomentRule = MomentRule(),
    verdict_rule: VerdictRule = VerdictRule(),
) -> FoundMoments:
    """:func:`search_vector`'s moments, each with its verdict (``likely``, ``probability``: only the best
    moment's person, :mod:`reidkit.search.one_person`), and the rule.

    One moment more than ``top`` is found and judged with them, so that the answer can say when more
    moments than those shown are likely ("20+ moments"), instead of a count that is only ``top``'s.
    Where the library has a verdict head (``reidkit adapt``), the moments keep the stored vectors'
    order, and their scores (which ``min_score`` then bounds) and verdicts are the adapted space's."""
    space = VerdictSpace.of(library)
    judged_query = space.query(query)
    verdict = space.verdict(judged_query, verdict_rule)
    if space.head is None:
        moments = search_vector(library, query, top=top + 1, min_score=min_score, rule=rule)
    else:
        found = space.scored(search_vector(library, query, top=top + 1, rule=rule), judged_query)
        moments = [m for m in found if min_score is None or m.score >= min_score]
    judged = judge(library, moments, verdict, verdict_rule, rule.max_overlap)
    return FoundMoments(judged[:top], verdict, len(judged) > top and judged[top].likely)


def find_moments_in(
    library: Gallery,
    query: np.ndarray,
    media_id: int,
    *,
    top: int = 20,
    rule: MomentRule = MomentRule(),
    verdict_rule: VerdictRule = VerdictRule(),
) -> list[Moment]:
    """Every moment of one media file for ``query``, each with its verdict: a watchlist's question
    (is this person in the file just indexed?), answered whatever the file's rank in the library.

    The file's moments are judged together with the library's best ``top`` moments, as a search would
    judge them (only the best moment's person is likely), so a person seen in many files is still found
    in the newest one, and a look-alike in it is still told apart from the person."""
    space = VerdictSpace.of(library)
    judged_query = space.query(query)
    verdict = space.verdict(judged_query, verdict_rule)
    own_ranking = _Ranking(library, np.asarray(query, np.float32).reshape(-1), rule)
    own_ranking.add(library.tracklet_ids(media_id))
    own = own_ranking.moments()
    if not own:
        return []
    others = [m for m in search_vector(library, query, top=top, rule=rule) if m.media != own[0].media]
    pool = space.scored(others + own, judged_query)  # in the same order: the file's moments last
    return judge(library, pool, verdict, verdict_rule, rule.max_overlap)[len(others) :]


def search_vector(
    library: Gallery,
    query: np.ndarray,
    *,
    top: int = 20,
    min_score: float | None = None,
    rule: MomentRule = MomentRule(),
) -> list[Moment]:
    """The best ``top`` moments for a unit query vector, best first, scores >= ``min_score``.

    A few batched reads, whatever the library's size: the index's nearest tracklets, the heads of the
    visits that hold them (:meth:`~reidkit.core.gallery.Gallery.visit_heads_of`: vector, start, no
    members), then the full visits of only the moments shown and the likely ones that may merge; twice
    with query expansion, the second pass reading only what the first did not. The moments carry no
    verdict: :func:`search` adds it."""
    k = min(len(library), max(MIN_HITS, HITS_PER_MOMENT * top))
    query = np.asarray(query, np.float32).reshape(-1)
    ranking = _Ranking(library, query, rule)
    ranking.add([i for i, _ in library.nearest(query, k)])
    if rule.expand_query <= 0:
        return ranking.moments(limit=top, min_score=min_score)
    best = ranking.ranked(limit=rule.expand_query)
    if not best:
        return []
    # A moment's tracklets are all the members of its visits: its vector is the mean of theirs.
    best_vectors = [
        visit_vector(
            np.concatenate(
                [
                    v.tracklet_vectors
                    for v in sorted(ranking.visits(group), key=lambda v: min(t.id for t in v.tracklets))
                ]
            )
        )
        for group in best
    ]
    expanded = l2_normalise(np.stack([query, np.mean(best_vectors, axis=0)]).mean(axis=0))
    # The expanded query's hits join the photo's; every score stays the photo's cosine.
    ranking.add([i for i, _ in library.nearest(expanded, k)])
    return ranking.moments(rank_by=expanded, limit=top, min_score=min_score)


class _Ranking:
    """The visits one search found, ranked into moments: heads for all, members read only when needed.

    A visit scores by the cosine between the query and its vector (the mean of its tracklets' vectors);
    all its members, hit or not, extend its moment. Visits of one video that both score at least the
    model's threshold and share a spot merge (:func:`~reidkit.search.moments.merge_concurrent`): only
    theirs and the shown moments' members are read.
    """

    def __init__(self, library: Gallery, query: np.ndarray, rule: MomentRule):
        self.library = library
        self.query = query
        self.rule = rule
        self.threshold = calibration_for(library.model, library.model_file).threshold
        self.root = Path(library.root).resolve()
        self.heads: dict[int, VisitHead] = {}
        self.asked: set[int] = set()  # tracklet ids whose visit heads were read
        self.loaded: dict[int, Visit] = {}  # full visits read so far, by id
        self.scores: dict[int, float] = {}  # the query's cosine per visit id

    def add(self, tracklet_ids: Sequence[int]) -> None:
        """Read the heads of the visits holding ``tracklet_ids`` (those not read yet)."""
        missing = [i for i in dict.fromkeys(tracklet_ids) if i not in self.asked]
        if not missing:
            return
        found = self.library.visit_heads_of(missing, self.rule.link)
        fresh = [h for h in found if h.id not in self.heads]
        if fresh:
            scores = np.stack([h.vector for h in fresh]) @ self.query
            self.scores.update((h.id, float(s)) for h, s in zip(fresh, scores, strict=True))
            self.heads.update((h.id, h) for h in fresh)
        self.asked.update(missing)

    def visits(self, heads: Sequence[VisitHead]) -> list[Visit]:
        """The full visits of ``heads`` (one batched read for those not read yet), in that order;
        a visit removed since its head was read is left out."""
        missing = [h.first_tracklet for h in heads if h.id not in self.loaded]
        if missing:
            for visit in self.library.visits_of(missing, self.rule.link):
                self.loaded[visit.id] = visit
                self.asked.update(t.id for t in visit.tracklets)  # a later hit on a member: known
        return [self.loaded[h.id] for h in heads if h.id in self.loaded]

    def ranked(
        self, rank_by: np.ndarray | None = None, limit: int | None = None, min_score: float | None = None
    ) -> list[list[VisitHead]]:
        """The moments to be, as groups of visit heads, best first: the first ``limit`` scoring >=
        ``min_score``. ``rank_by`` (an expanded query) orders them instead of the query's score."""
        heads = list(self.heads.values())
        if not heads:
            return []
        orders = dict(self.scores)
        if rank_by is not None:
            ranked = np.stack([h.vector for h in heads]) @ np.asarray(rank_by, np.float32).reshape(-1)
            orders = {h.id: float(o) for h, o in zip(heads, ranked, strict=True)}
        # Only visits of one video that both reach the threshold may merge: theirs are the only
        # members read here, and only videos with two of them are grouped at all.
        likely: dict[int, list[VisitHead]] = {}
        if self.rule.merge_concurrent:
            for head in heads:
                if head.media.kind != "image" and self.scores[head.id] >= self.threshold:
                    likely.setdefault(head.media.id, []).append(head)
        merging = {media_id for media_id, found in likely.items() if len(found) >= 2}
        self.visits([h for media_id in merging for h in likely[media_id]])  # in one read
        # (order, score, media path as stored, start, first member, the group's heads) per moment to be;
        # the first member orders ties as the visits were linked.
        candidates: list[tuple[float, float, str, float, int, list[VisitHead]]] = []
        to_merge: dict[int, list[VisitHead]] = {}
        for head in heads:
            if head.media.id in merging:
                to_merge.setdefault(head.media.id, []).append(head)
            else:
                score = self.scores[head.id]
                candidates.append(
                    (orders[head.id], score, head.media.path, head.start, head.first_tracklet, [head])
                )
        for media_heads in to_merge.values():
            # In the order they were linked (by first tracklet), which breaks merge_concurrent's ties.
            media_heads.sort(key=lambda h: (h.start, h.first_tracklet))
            scored = [
                (self.scores[h.id], self._members(h) if self.scores[h.id] >= self.threshold else [])
                for h in media_heads
            ]
            for group in merge_concurrent(scored, self.threshold, self.rule.max_overlap):
                members = [media_heads[i] for i in group]
                candidates.append(
                    (
                        max(orders[h.id] for h in members),
                        scored[group[0]][0],
                        members[0].media.path,
                        min(h.start for h in members),
                        min(h.first_tracklet for h in members),
                        members,
                    )
                )
        candidates.sort(key=lambda c: (-c[0], c[2], c[3], c[4]))
        if min_score is not None:
            candidates = [c for c in candidates if c[1] >= min_score]
        return [c[5] for c in candidates[:limit]]

    def moments(
        self, rank_by: np.ndarray | None = None, *, limit: int | None = None, min_score: float | None = None
    ) -> list[Moment]:
        """:meth:`ranked`'s groups as moments (their members read in one batch)."""
        groups = self.ranked(rank_by, limit, min_score)
        self.visits([h for group in groups for h in group])
        moments = []
        for group in groups:
            hits = [hit for head in group for hit in self._members(head)]
            if not hits:  # its visits were removed since the heads were read
                continue
            path = _resolved(group[0].media.path, os.getcwd())
            moments.append(make_moment(hits, self.root, score=self.scores[group[0].id], media_path=path))
        return moments

    def _members(self, head: VisitHead) -> list[TrackletHit]:
        visit = self.loaded.get(head.id)
        return [] if visit is None else _members(visit, self.query)


@lru_cache(maxsize=65536)
def _resolved(path: str, cwd: str) -> str:
    """``path`` resolved from ``cwd``, kept for the process: a resolve is a system call per folder and
    a search shows tens of files (a symlink re-pointed while the process runs is seen after a restart)."""
    return str((Path(cwd) / path).resolve())


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
    moments, verdict, more_likely = find_moments(
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
        more_likely=more_likely,
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
    lib.check_model_file(model_file_of(embedder))
    vector = embedder.embed([crop])[0]
    moments, verdict, more_likely = find_moments(
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
        more_likely=more_likely,
    )
