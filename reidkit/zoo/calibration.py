"""Turning a cosine score into a "likely the same person" decision.

Raw cosine similarities mean different things for different models (one model's 0.5 is another's 0.7),
so every decision that reads a score goes through :func:`calibration_for`. A model's sidecar
(``reidkit calibrate --write``, :mod:`reidkit.evaluate.calibrate`) or its registry entry
(``ModelSpec.calibration``) carries measured values:

* ``threshold``: the cosine at which a pair is called "likely the same person" (measured at FPR=1e-2);
* ``logit_slope`` / ``logit_bias``: a logistic fit ``p = 1 / (1 + exp(-(slope * score + bias)))``;
* ``link_threshold``: the stricter cosine (measured at FPR=1e-3); with ``threshold`` it is the second
  point of the different-people tail a search's verdict floor is read from.

Two tracklets of one video are joined into one visit (:mod:`reidkit.index.visits`) at
:attr:`ScoreCalibration.even_odds`, where the logistic says one person and two people are equally
likely: the time and place rules of a link have already ruled out almost everyone else.

It is a property of the model, so it lives in ``zoo``: the indexer reads it (to cut tracklets that
hold two people, :mod:`reidkit.embed.split`) as well as search. It is the *prior* of a search's
verdict, which then learns the library's own footage (:mod:`reidkit.search.verdict`).

Until a model is measured, a conservative default stands in and :attr:`ScoreCalibration.measured` is
False, so user interfaces can say the verdict is a rough guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Rough defaults for unmeasured models. On the shared indoor video with person-reidentification-retail-0287,
# a query cut from one frame scores 0.9 against the same person's tracklet and 0.37-0.54 against the five
# other people; tracklets of two different men in black score 0.72 against each other.
DEFAULT_THRESHOLD = 0.6
DEFAULT_SLOPE = 12.0
DEFAULT_LINK_MARGIN = 0.1  # unmeasured models link tracklets at threshold + this


@dataclass(frozen=True)
class ScoreCalibration:
    threshold: float
    slope: float
    bias: float
    measured: bool
    link_threshold: float = DEFAULT_THRESHOLD + DEFAULT_LINK_MARGIN

    def probability(self, score: float) -> float:
        """Estimated probability that a match with this cosine score is the query person."""
        z = self.slope * score + self.bias
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def likely(self, score: float) -> bool:
        return score >= self.threshold

    @property
    def even_odds(self) -> float:
        """The cosine at which the logistic's probability is 0.5: one person as likely as two."""
        return -self.bias / self.slope if self.slope > 0 else self.threshold


def calibration_for(model: str, model_file: str | Path | None = None) -> ScoreCalibration:
    """The calibration of ``model`` (a registry name or a model file), loaded from ``model_file`` when
    known (a library records the file its vectors were made with: a model of one's own has no registry
    name to find it by).

    In order: the ``calibration`` of the model file's sidecar (``reidkit calibrate --write``), the
    registry entry's, or the default for unmeasured models.
    """
    values = (
        (_file_calibration(Path(model_file)) if model_file else {})
        or _sidecar_calibration(model)
        or _registry_calibration(model)
    )
    threshold = float(values.get("threshold", DEFAULT_THRESHOLD))
    slope = float(values.get("logit_slope", DEFAULT_SLOPE))
    # Without a fitted bias, centre the logistic on the threshold: p = 0.5 exactly at the threshold.
    bias = float(values.get("logit_bias", -slope * threshold))
    link = float(values.get("link_threshold", threshold + DEFAULT_LINK_MARGIN))
    return ScoreCalibration(threshold, slope, bias, measured="threshold" in values, link_threshold=link)


def _registry_calibration(model: str) -> dict[str, float]:
    from reidkit.zoo.registry import MODELS

    spec = MODELS.find(model)
    return dict(spec.calibration) if spec is not None else {}


def _sidecar_calibration(model: str) -> dict[str, float]:
    from reidkit.core.errors import ModelError
    from reidkit.zoo.registry import resolve_model

    try:
        path, _ = resolve_model(model, download=False)
    except ModelError:  # not a file and not registered, or not found here: no sidecar to read
        return {}
    return _file_calibration(path)


def _file_calibration(path: Path) -> dict[str, float]:
    from reidkit.zoo.sidecar import sidecar_path

    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return {}
    # Every search asks; a sidecar is parsed once per version of the file.
    return dict(_sidecar_numbers(str(path), sidecar.stat().st_mtime_ns))


@lru_cache(maxsize=16)
def _sidecar_numbers(model_path: str, mtime_ns: int) -> tuple[tuple[str, float], ...]:
    """The sidecar's calibration as a hashable tuple (``mtime_ns`` keys the cache to the file's version)."""
    from reidkit.zoo.sidecar import read_sidecar

    return tuple(((read_sidecar(model_path) or {}).get("calibration") or {}).items())
