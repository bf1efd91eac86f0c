"""Score calibration lives with the models (:mod:`reidkit.zoo.calibration`); re-exported for search."""

from reidkit.zoo.calibration import (
    DEFAULT_LINK_MARGIN,
    DEFAULT_SLOPE,
    DEFAULT_THRESHOLD,
    ScoreCalibration,
    calibration_for,
)

__all__ = ["DEFAULT_LINK_MARGIN", "DEFAULT_SLOPE", "DEFAULT_THRESHOLD", "ScoreCalibration", "calibration_for"]
