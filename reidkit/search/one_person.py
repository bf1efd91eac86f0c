"""A query shows one person: which of a search's moments are "likely the same person".

A score threshold (:mod:`reidkit.search.verdict`) judges each moment on its own, so a look-alike who
clears it is "likely" next to the person, and a back view of the person that scores below it is not.
But the photo shows one person, and the library can tell its own people apart better than a photo from
another camera can (the footage's people are compared with each other in the same light). So
(:func:`judge`):

1. the best-scoring moment is likely when it clears the verdict's threshold; otherwise nothing is
   ("not found");
2. the search's moments are grouped into people by the library's own rule
   (:mod:`reidkit.search.clustering`, as ``reidkit people`` groups visits: each moment's own verdict
   threshold against the library's cohort, average linkage, never two people on screen together);
   the moments grouped with the best one are that person: likely, whatever their own score;
3. every other moment is somebody else: not likely, however high it scores.

``probability``: the best moment's P(same person | score) for its group; ``P(score) x (1 - P(best))``
for any other moment, which can be the person only if the best one is not (so it stays below 0.5).

Cost: one batched read of the moments' tracklet vectors, M x C cosines against the library's cohort of
C tracklet vectors and an M x M clustering, for the M moments returned: it does not grow with the
library. Measured on bench/crosscam's dev footage against the score threshold alone
(``bench/crosscam/verdicts.py --score-only``; docs/search.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from reidkit.search.clustering import average_linkage, on_screen_together, own_thresholds, verdict_margins
from reidkit.search.moments import Moment
from reidkit.search.verdict import Verdict, VerdictRule
from reidkit.search.verdict_space import VerdictSpace

if TYPE_CHECKING:
    from reidkit.core.gallery import Gallery

BELOW_HALF = float(np.nextafter(0.5, 0.0))


def judge(
    library: Gallery,
    moments: Sequence[Moment],
    verdict: Verdict,
    rule: VerdictRule = VerdictRule(),
    max_overlap: float = 0.0,
) -> list[Moment]:
    """``moments`` with ``likely`` and ``probability`` set, in the same order (see the module doc).

    ``max_overlap`` is the overlap in seconds two moments of one video may have and still be one person
    (:class:`~reidkit.search.moments.MomentRule`'s)."""
    if not moments:
        return []
    scores = np.array([m.score for m in moments])
    best = int(scores.argmax())
    if not verdict.likely(float(scores[best])) or not rule.one_person:
        return [
            replace(m, likely=verdict.likely(m.score), probability=verdict.probability(m.score))
            for m in moments
        ]
    same = same_person_as(library, moments, best, rule, max_overlap)
    found = verdict.probability(float(scores[best]))
    return [
        replace(m, likely=True, probability=found)
        if same[i]
        else replace(
            m, likely=False, probability=min(BELOW_HALF, verdict.probability(m.score) * (1.0 - found))
        )
        for i, m in enumerate(moments)
    ]


def same_person_as(
    library: Gallery, moments: Sequence[Moment], best: int, rule: VerdictRule, max_overlap: float
) -> np.ndarray:
    """(M,) bool: the moments the library's own people rule groups with ``moments[best]``, in the
    library's verdict space (:mod:`reidkit.search.verdict_space`), where their scores were made."""
    space = VerdictSpace.of(library)
    vectors = space.moment_vectors(moments).astype(np.float64)
    cohort = space.cohort_vectors().astype(np.float64)
    own = own_thresholds(vectors @ cohort.T, space.calibration, rule)
    media_ids: dict[str, int] = {}
    together = on_screen_together(
        [media_ids.setdefault(m.media, len(media_ids)) for m in moments],
        [m.kind == "image" for m in moments],
        [m.start for m in moments],
        [m.end for m in moments],
        max_overlap,
    )
    labels = average_linkage(verdict_margins(vectors @ vectors.T, own), together, 0.0)
    return np.asarray(labels == labels[best])


def verdict_words(moment: Moment, verdict: Verdict) -> str:
    """What a moment's verdict means, in words: why it is (or is not) likely the same person."""
    above = verdict.likely(moment.score)
    if moment.likely:
        return "likely the same person" if above else "likely: the same person as the best match"
    return "another person than the best match" if above else "below threshold"
