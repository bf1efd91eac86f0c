"""The verdict on a search: which moments are "likely the same person", and how sure that is.

A fixed cosine threshold controls the *per-pair* false-positive rate on the data it was measured on.
A user acts on the *per-query* answer instead: an absent person must not get a "likely" among the
hundreds of candidates of their library, on footage unlike the calibration data. So the threshold of
one search is worked out for that query in that library:

1. **The query's impostors.** Almost every tracklet of a library is somebody else, so the cosines of the
   query to the library's tracklets (its *cohort*) are a sample of what impostors score for this query
   on this footage, with no labels. The cohort's mean and spread are estimated from its bulk (median
   and 90th percentile, :func:`bulk_stats`), which the few true matches do not reach, like the Z-norm
   of speaker verification.
2. **The best impostor among N.** With N candidates, an absent person's best score is the maximum of N
   impostor scores. The threshold is where that maximum stays below with probability ``1 - false_alarm``
   under a normal model of the impostors: ``mean + z * std`` with ``z = Phi^-1((1 - false_alarm)^(1/N))``.
3. **The model's calibration is the floor.** Whatever the cohort says, the threshold is at least the
   model's cosine at the per-pair false-positive rate ``false_alarm / N`` (:func:`calibrated_floor`,
   from the two points its calibration measured). A library too small to sample impostors from (fewer
   than ``min_cohort`` tracklets) has that floor alone, and :attr:`Verdict.source` says so.

The library's own same- and different-person pairs (:class:`~reidkit.index.footage.FootageScores`) are
measured and reported, but they do not set the threshold: two people on screen together in one camera
score far closer than a photo from elsewhere scores against a stranger, and on the dev footage a
threshold drawn from them cost half the recall (docs/search.md).

``probability`` is P(same person | score) for one moment: a logistic in the margin over the threshold in
units of the query's impostor spread (of the model's calibration without footage), 0.5 at the threshold:
``likely`` and ``probability >= 0.5`` always agree.
Its slope, ``false_alarm`` and ``min_cohort`` were chosen on bench/crosscam's dev footage
(``bench/crosscam/verdicts.py``; docs/search.md has the table).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from reidkit.zoo.calibration import ScoreCalibration

BULK = 0.9  # the cohort's quantile the impostors' spread is read from (true matches sit above it)
# An upper spread this many times the lower half's means the 90th percentile is among true matches.
MAX_SPREAD_RATIO = 2.0

# The largest cosine similarity: a threshold at or above it can never be reached.
MAX_COSINE = 1.0
# Where the footage's impostors put the threshold out of reach, the bar drops only this far: a cosine
# this high means the same picture (a re-encoded or greyscale copy), not a look-alike. The model's
# calibration alone would be lower, and such spread-out footage has impostors far above it.
NEAR_DUPLICATE = 0.95

# The per-pair false-positive rates at which a model's calibration measured ``threshold`` and
# ``link_threshold`` (reidkit.evaluate.calibrate).
CALIBRATED_RATES = (1e-2, 1e-3)


@dataclass(frozen=True)
class VerdictRule:
    """How a search's threshold is chosen (see the module doc)."""

    false_alarm: float = 0.05  # target chance that an absent person gets any "likely"
    min_cohort: int = 10  # tracklets needed to sample the query's impostors from the library
    probability_slope: float = 1.0  # logistic slope per impostor std of margin (fitted on dev footage)
    # The query is one person: only the best moment's person is likely (reidkit.search.one_person).
    # False judges every moment by the threshold alone (for comparison).
    one_person: bool = True


@dataclass(frozen=True)
class Verdict:
    """The decision rule of one search: ``likely(score)`` and ``probability(score)``."""

    threshold: float  # cosine at or above which a moment is "likely the same person"
    source: str  # where the threshold came from, in words
    candidates: int  # the library's tracklets: the impostors an absent person is compared with
    false_alarm: float  # the per-query false-alarm rate the threshold aims at
    from_footage: bool  # False: the model's calibration alone (no footage to learn from yet)
    logit_per_cosine: float  # the probability's logistic slope, per unit of cosine
    impostor_mean: float | None = None  # the query's impostor scores, when learnt from the footage
    impostor_std: float | None = None
    # The adapted model the scores were judged with (the library's verdict head), None: the library's.
    scored_by: str | None = None

    def likely(self, score: float) -> bool:
        return score >= self.threshold

    def probability(self, score: float) -> float:
        z = self.logit_per_cosine * (score - self.threshold)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 4)
        return out


def best_of_n_quantile(n: int, false_alarm: float) -> float:
    """z such that the largest of ``n`` standard normal draws exceeds it with probability ``false_alarm``."""
    from scipy.stats import norm

    per_draw = -math.expm1(math.log1p(-false_alarm) / max(1, n))  # 1 - (1 - fa)^(1/n), accurate when small
    return float(norm.isf(per_draw))


def bulk_stats(scores: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the impostors among ``scores``, a normal fitted to their bulk.

    The query's true matches sit in the upper tail, usually a few of many, so the spread is read off
    the median and the 90th percentile. When the matches are many (a person in every frame of a camera
    is a fifth of a small library) the 90th percentile lies among them; that shows as a spread far wider
    than the lower half's (median to lower quartile), and then the lower half's is used.
    """
    from scipy.stats import norm

    scores = np.asarray(scores, np.float64)
    median = float(np.median(scores))
    upper = (float(np.quantile(scores, BULK)) - median) / float(norm.ppf(BULK))
    lower = (median - float(np.quantile(scores, 0.25))) / float(norm.ppf(0.75))
    std = upper if upper <= MAX_SPREAD_RATIO * lower else lower
    return median, max(std, 1e-4)


def calibrated_floor(calibration: ScoreCalibration, candidates: int, false_alarm: float) -> float:
    """The model's cosine at the per-pair false-positive rate ``false_alarm / candidates``.

    The calibration measured two points of the different-people tail: ``threshold`` at 1e-2 and
    ``link_threshold`` at 1e-3. Between them the cosine is interpolated in log rate; outside, the
    nearer point stands (the calibration says nothing further out).
    """
    per_pair = false_alarm / max(1, candidates)
    share = (math.log10(CALIBRATED_RATES[0]) - math.log10(per_pair)) / (
        math.log10(CALIBRATED_RATES[0]) - math.log10(CALIBRATED_RATES[1])
    )
    share = min(1.0, max(0.0, share))
    low, high = calibration.threshold, max(calibration.threshold, calibration.link_threshold)
    return low + share * (high - low)


def decide(
    cohort_scores: np.ndarray, calibration: ScoreCalibration, rule: VerdictRule = VerdictRule()
) -> Verdict:
    """The verdict of a search whose query scored ``cohort_scores`` against the library's tracklets."""
    n = len(cohort_scores)
    floor = calibrated_floor(calibration, n, rule.false_alarm)
    if n < rule.min_cohort:
        why = f"{n} tracklets are too few to learn this footage's scores"
        return _calibration_only(floor, why, n, calibration, rule)
    mean, std = bulk_stats(cohort_scores)
    from_cohort = mean + best_of_n_quantile(n, rule.false_alarm) * std
    if not math.isfinite(from_cohort) or from_cohort >= MAX_COSINE:
        return _out_of_reach(from_cohort, floor, n, mean, std, rule)
    if from_cohort >= floor:
        source = f"this query's impostors among the library's {n} tracklets"
    else:
        source = f"the model's calibration for {n} candidates (above this query's impostors)"
    return Verdict(
        threshold=float(max(floor, from_cohort)),
        source=source,
        candidates=n,
        false_alarm=rule.false_alarm,
        from_footage=True,
        logit_per_cosine=rule.probability_slope / std,
        impostor_mean=float(mean),
        impostor_std=float(std),
    )


def _calibration_only(
    floor: float, why: str, candidates: int, calibration: ScoreCalibration, rule: VerdictRule
) -> Verdict:
    """The verdict of a search whose footage cannot set the threshold (``why``): the model's floor alone."""
    return Verdict(
        threshold=floor,
        source=f"the model's calibration only: {why}",
        candidates=candidates,
        false_alarm=rule.false_alarm,
        from_footage=False,
        logit_per_cosine=calibration.slope,
    )


def _out_of_reach(
    from_cohort: float, floor: float, candidates: int, mean: float, std: float, rule: VerdictRule
) -> Verdict:
    """The verdict where this query's impostors put the threshold at a cosine of 1 or more (or nowhere).

    No score could reach it, so "not found" would be the answer whatever the footage holds, even for a
    copy of the photo. Their spread is too wide for the normal model (a library of one person's copies,
    or footage the model cannot tell people apart in), so only a near-duplicate counts as likely.
    """
    return Verdict(
        threshold=max(floor, NEAR_DUPLICATE),
        source=(
            f"near-duplicates only: this query's impostors among the library's {candidates} tracklets "
            f"spread too wide (median {mean:.3f}, std {std:.3f}) to set a threshold below 1 "
            f"(theirs: {from_cohort:.3f})"
        ),
        candidates=candidates,
        false_alarm=rule.false_alarm,
        from_footage=True,
        logit_per_cosine=rule.probability_slope / max(std, 1e-6),  # copies alone: no spread
        impostor_mean=float(mean),
        impostor_std=float(std),
    )
