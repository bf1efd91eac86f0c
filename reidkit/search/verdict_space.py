"""Where a search's verdicts are judged: the library's stored vectors, or the same vectors through the
head of the model ``reidkit adapt`` made for this library.

Adapting a model to a library's footage makes the library compare its own people better, but a photo
from a camera the library never shows is ranked worse by it (docs/adapt.md: on the dev footage, moment
mAP falls while the verdicts' precision and recall rise). So a search ranks with the stored vectors,
and scores and judges the moments it found in the adapted space: the query, each moment's visit and
the cohort of impostors are mapped by the head, and the adapted model's calibration applies
(:func:`reidkit.zoo.calibration.calibration_for` of its name). The head maps a tracklet's stored
(pooled) vector, not each crop before pooling as re-embedding does: one matrix product on vectors
the search reads anyway, for a library of any size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from reidkit.core.gallery import Gallery
from reidkit.core.head import VerdictHead
from reidkit.index.visits import visit_vector
from reidkit.search.moments import Moment
from reidkit.search.verdict import Verdict, VerdictRule, decide
from reidkit.zoo.calibration import ScoreCalibration, calibration_for

_MAPPED_COHORT: dict[str, tuple[tuple[int, str], np.ndarray, np.ndarray]] = {}


@dataclass(frozen=True)
class VerdictSpace:
    library: Gallery
    head: VerdictHead | None  # None: the stored vectors as they are

    @staticmethod
    def of(library: Gallery) -> VerdictSpace:
        return VerdictSpace(library, library.verdict_head)

    @property
    def calibration(self) -> ScoreCalibration:
        """The calibration that judges scores in this space: the adapted model's, or the library
        model's (from the file the library recorded)."""
        if self.head is None:
            return calibration_for(self.library.model, self.library.model_file)
        return calibration_for(self.head.model)  # adapted models are listed with their sidecar

    def mapped(self, vectors: np.ndarray) -> np.ndarray:
        """(N, D) stored vectors, as this space compares them."""
        return vectors if self.head is None else self.head.map(vectors)

    def query(self, vector: np.ndarray) -> np.ndarray:
        """(D,) the query, as this space scores it."""
        return self.mapped(np.asarray(vector, np.float32).reshape(1, -1))[0]

    def vectors_of(self, tracklet_ids: Sequence[int]) -> np.ndarray:
        return self.mapped(self.library.vectors_of(tracklet_ids))

    def cohort_vectors(self) -> np.ndarray:
        raw = self.library.cohort_vectors()
        if self.head is None:
            return raw
        # The library caches its cohort; the mapped one (a (C, D) x (D, D) product) is kept beside it.
        key = (id(raw), self.head.sha256)
        cached = _MAPPED_COHORT.get("last")
        if cached is None or cached[0] != key or cached[1] is not raw:
            cached = (key, raw, self.head.map(raw))
            _MAPPED_COHORT["last"] = cached
        return cached[2]

    def moment_vectors(self, moments: Sequence[Moment]) -> np.ndarray:
        """(M, D): each moment's visit vector in this space (the mean direction of its tracklets'
        vectors), from one read of their vectors."""
        ids = sorted({t for m in moments for t in m.tracklet_ids})
        row_of = {t: i for i, t in enumerate(ids)}
        vectors = self.vectors_of(ids)
        return np.stack([visit_vector(vectors[[row_of[t] for t in m.tracklet_ids]]) for m in moments])

    def scored(self, moments: Sequence[Moment], query: np.ndarray) -> list[Moment]:
        """``moments`` with each score the cosine of this space's ``query`` (:meth:`query`) to the
        moment's visit; as they are when the space is the stored vectors'."""
        if self.head is None or not moments:
            return list(moments)
        scores = self.moment_vectors(moments) @ query
        return [replace(m, score=float(s)) for m, s in zip(moments, scores, strict=True)]

    def verdict(self, query: np.ndarray, rule: VerdictRule) -> Verdict:
        """The verdict (:func:`reidkit.search.verdict.decide`) for this space's ``query``: its scores
        against this space's cohort, under this space's calibration."""
        verdict = decide(self.cohort_vectors() @ query, self.calibration, rule)
        if self.head is None:
            return verdict
        return replace(
            verdict,
            source=f"{verdict.source}; scores by {self.head.model}, adapted to this library",
            scored_by=self.head.model,
        )
