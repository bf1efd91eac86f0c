"""The per-query verdict: an absent person rarely gets a "likely", a present one does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidkit.search import find_moments
from reidkit.search.verdict import VerdictRule, best_of_n_quantile, bulk_stats, calibrated_floor, decide
from reidkit.zoo.calibration import ScoreCalibration
from tests.search.fakes import DIM, FakeLibrary, add_crowd, identity, mix

CALIBRATION = ScoreCalibration(threshold=0.4, slope=20.0, bias=-8.0, measured=True, link_threshold=0.6)
# A calibration whose floor sits below every score here, so the cohort alone decides.
LOW_FLOOR = ScoreCalibration(threshold=-0.9, slope=20.0, bias=18.0, measured=True, link_threshold=-0.8)


def test_best_of_n_quantile_is_the_false_alarm_rate_of_the_maximum() -> None:
    rng = np.random.default_rng(0)
    for n, false_alarm in ((10, 0.05), (300, 0.05), (300, 0.2)):
        z = best_of_n_quantile(n, false_alarm)
        maxima = rng.standard_normal((10000, n)).max(axis=1)
        assert np.mean(maxima > z) == pytest.approx(false_alarm, abs=0.012)
    assert best_of_n_quantile(1000, 0.05) > best_of_n_quantile(100, 0.05)  # more candidates, higher bar


def test_bulk_stats_ignore_the_few_true_matches_on_top() -> None:
    rng = np.random.default_rng(1)
    impostors = rng.normal(0.2, 0.08, 970)
    mean, std = bulk_stats(np.concatenate([impostors, np.full(30, 0.9)]))
    assert mean == pytest.approx(0.2, abs=0.01) and std == pytest.approx(0.08, abs=0.01)
    # A person in every frame of a camera can be a fifth of a small library: the estimate holds.
    crowded = np.concatenate([rng.normal(0.2, 0.08, 80), np.full(20, 0.7)])
    mean, std = bulk_stats(crowded)
    assert mean == pytest.approx(0.2, abs=0.04) and std == pytest.approx(0.08, abs=0.03)


def test_absent_people_rarely_reach_the_threshold() -> None:
    rng = np.random.default_rng(2)
    rule = VerdictRule(false_alarm=0.05)
    # Each absent query has its own impostor level and spread: a fixed threshold cannot serve them all.
    alarms = 0
    for _ in range(2000):
        cohort = rng.normal(rng.uniform(0.1, 0.5), rng.uniform(0.04, 0.1), 400)
        alarms += cohort.max() >= decide(cohort, LOW_FLOOR, rule=rule).threshold
    # Near the target: the spread estimated from 400 scores is itself noisy, which adds a point or two.
    assert alarms / 2000 == pytest.approx(0.05, abs=0.03)


def test_verdict_fields_agree_and_say_where_they_come_from() -> None:
    cohort = np.random.default_rng(3).normal(0.3, 0.05, 500)
    verdict = decide(cohort, LOW_FLOOR)
    assert verdict.from_footage and "500 tracklets" in verdict.source and verdict.candidates == 500
    assert verdict.threshold > 0.3 + 3 * 0.05  # the best of 500 impostors is ~3 spreads above their mean
    assert verdict.probability(verdict.threshold) == pytest.approx(0.5)
    for score in np.linspace(0, 1, 21):
        assert verdict.likely(score) == (verdict.probability(score) >= 0.5)
    # The model's calibration is a floor, even for a query whose impostors all score low: with 500
    # candidates the per-pair rate it must hold is below 1e-3, so the floor is the link threshold.
    low = decide(np.random.default_rng(4).normal(-0.2, 0.02, 500), CALIBRATION)
    assert low.threshold == 0.6 and "the model's calibration for 500 candidates" in low.source


def test_the_calibrated_floor_rises_with_the_candidates() -> None:
    assert calibrated_floor(CALIBRATION, 1, 0.01) == pytest.approx(0.4)  # 1e-2 per pair: threshold
    assert calibrated_floor(CALIBRATION, 10, 0.01) == pytest.approx(0.6)  # 1e-3 per pair: link
    assert calibrated_floor(CALIBRATION, 10_000, 0.01) == pytest.approx(0.6)  # not beyond what was measured
    middle = calibrated_floor(CALIBRATION, 10, 0.1)
    assert middle == pytest.approx(0.4) and calibrated_floor(CALIBRATION, 30, 0.1) == pytest.approx(
        0.4 + 0.2 * np.log10(3)
    )


def test_a_library_too_small_to_learn_from_uses_the_models_calibration() -> None:
    verdict = decide(np.array([0.1, 0.5, 0.2]), CALIBRATION)
    assert not verdict.from_footage and verdict.threshold == calibrated_floor(CALIBRATION, 3, 0.05)
    assert "the model's calibration only" in verdict.source and "3 tracklets" in verdict.source


@pytest.fixture
def crowd(tmp_path: Path) -> FakeLibrary:
    """60 people walking once each through 12 videos, and person 1 a second time."""
    lib = FakeLibrary(tmp_path / "lib")
    add_crowd(lib, lambda i: identity(100 + i), noise=0.1)
    lib.add_tracklet(lib.add_video("/again.mp4"), 0.0, 5.0, mix(identity(100), identity(7), 0.95), noise=0.1)
    return lib


def test_a_present_person_is_found_and_an_absent_one_is_not(crowd: FakeLibrary) -> None:
    assert DIM == 16  # random 16-d people: unrelated people score around 0 +- 0.25
    present, verdict, _ = find_moments(crowd, identity(100), top=10)
    assert verdict.from_footage
    assert [m.media for m in present if m.likely] == ["/v0.mp4", "/again.mp4"]
    absent = [find_moments(crowd, identity(1000 + i), top=10)[0] for i in range(20)]
    assert sum(any(m.likely for m in moments) for moments in absent) <= 2


def test_a_cohort_that_puts_the_threshold_out_of_reach_still_finds_a_copy_of_the_photo() -> None:
    # Copies of one frame in colour and greyscale: a third of the tracklets are the query's person, so
    # the normal model of its impostors puts the threshold above 1, where no score could reach it.
    cohort = np.concatenate([np.full(6, 0.98), np.full(6, -0.1), np.linspace(0.2, 0.6, 8)])
    mean, std = bulk_stats(cohort)
    assert mean + best_of_n_quantile(len(cohort), 0.05) * std >= 1.0
    verdict = decide(cohort, CALIBRATION)
    assert verdict.threshold == pytest.approx(0.95) and verdict.likely(0.981) and not verdict.likely(0.9)
    assert verdict.probability(verdict.threshold) == pytest.approx(0.5)
    assert "near-duplicates only" in verdict.source and "20 tracklets" in verdict.source
