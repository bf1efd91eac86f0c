from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from crosscam.compose import feather_mask
from crosscam.metrics import Moment
from crosscam.recall import visible_fraction
from crosscam.run import Bench, blind_metrics


def test_pasted_people_are_opaque_head_to_feet() -> None:
    mask = feather_mask(300, 100)[..., 0]
    centre = mask[:, 50]
    assert centre[8:-8].min() == 1.0  # the body column, head and feet included, is fully opaque
    assert mask[150, 0] < 0.05 and mask[150, -1] < 0.05  # the crop's own background fades at the sides


def test_visible_fraction_of_a_half_hidden_box() -> None:
    box = np.array([0, 0, 40, 80], np.float32)
    assert visible_fraction(box, []) == 1.0
    assert abs(visible_fraction(box, [np.array([20, 0, 60, 80], np.float32)]) - 0.5) < 0.05


def test_blind_control_averages_orders_and_stays_low() -> None:
    truth = {"p": [Moment("v.mp4", 0, 9)]}
    stretches = [Moment("v.mp4", 100 * i, 100 * i + 9) for i in range(1, 20)] + [Moment("v.mp4", 0, 9)]
    bench = Bench(Path("."), [], 10.0, {"p": Path("q.jpg")}, truth)
    metrics = blind_metrics(stretches, bench, seed=0, repeats=50)
    # One right stretch among 20 at a random rank: mean AP = mean(1/rank) ~ 0.18.
    assert 0.1 < metrics.mAP < 0.3
