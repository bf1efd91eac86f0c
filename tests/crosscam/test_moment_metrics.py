from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from crosscam.metrics import (
    Moment,
    coverage,
    evaluate_moments,
    identity_blind_results,
    moment_ap,
    temporal_iou,
)

TRUTH = [Moment("a.mp4", 0, 99), Moment("b.mp4", 50, 149), Moment("a.mp4", 300, 399)]


def test_temporal_iou_inclusive_ranges() -> None:
    assert temporal_iou(0, 9, 0, 9) == 1.0
    assert temporal_iou(0, 9, 10, 19) == 0.0
    assert temporal_iou(0, 9, 5, 14) == pytest.approx(5 / 15)


def test_perfect_ranking_scores_one() -> None:
    assert moment_ap(TRUTH, TRUTH) == (1.0, True)


def test_shuffled_with_a_false_positive_first() -> None:
    wrong = Moment("a.mp4", 150, 250)
    ap, first = moment_ap([wrong, TRUTH[2], TRUTH[0], TRUTH[1]], TRUTH)
    assert not first
    assert ap == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)


def test_duplicates_are_false_positives() -> None:
    ap, first = moment_ap([TRUTH[0], TRUTH[0], TRUTH[1]], TRUTH)
    assert first
    assert ap == pytest.approx((1 + 2 / 3) / 3)


def test_wrong_video_is_a_miss_and_paths_compare_by_name() -> None:
    assert moment_ap([Moment("b.mp4", 0, 99)], TRUTH[:1]) == (0.0, False)
    assert moment_ap([Moment("/some/dir/a.mp4", 0, 99)], TRUTH[:1]) == (1.0, True)


def test_iou_threshold_edges() -> None:
    gt = [Moment("a.mp4", 0, 99)]
    assert moment_ap([Moment("a.mp4", 0, 49)], gt)[0] == 1.0  # IoU exactly 0.5
    assert moment_ap([Moment("a.mp4", 0, 48)], gt)[0] == 0.0  # 49/100 just below
    assert moment_ap([Moment("a.mp4", 0, 199)], gt)[0] == 1.0  # 100/200
    assert moment_ap([Moment("a.mp4", 0, 200)], gt)[0] == 0.0  # 100/201


def test_one_moment_matches_the_interval_it_overlaps_most() -> None:
    # The first moment overlaps both intervals (IoU 0.54 and 1.0); taking the first would leave the
    # second moment (IoU 0.8 with interval 0 only) without a match.
    gt = [Moment("a.mp4", 0, 99), Moment("a.mp4", 30, 129)]
    hits = [Moment("a.mp4", 30, 129), Moment("a.mp4", 0, 79)]
    assert moment_ap(hits, gt)[0] == 1.0


def test_evaluate_counts_missing_queries_as_empty() -> None:
    metrics = evaluate_moments({"p1": TRUTH}, {"p1": TRUTH, "p2": [Moment("c.mp4", 0, 9)]})
    assert metrics.mAP == pytest.approx(0.5)
    assert metrics.rank1 == pytest.approx(0.5)
    assert metrics.per_query == {"p1": 1.0, "p2": 0.0}


def test_identity_blind_control_is_seeded_and_scores_low() -> None:
    # 2 true intervals among 100 stretches: a random order should find them late.
    everything = [Moment("a.mp4", 100 * i, 100 * i + 50) for i in range(100)]
    truth = {"q": [everything[3], everything[70]]}
    first = identity_blind_results(everything, ["q"], seed=1)
    assert first == identity_blind_results(everything, ["q"], seed=1)
    assert sorted(first["q"], key=lambda m: m.start_frame) == everything
    assert evaluate_moments(first, truth).mAP < 0.2


def test_coverage_is_the_fraction_of_intervals_any_stretch_matches() -> None:
    stretches = [Moment("x/a.mp4", 0, 60), Moment("b.mp4", 0, 10)]
    assert coverage(stretches, {"p": TRUTH}) == pytest.approx(1 / 3)
    assert coverage([], {"p": TRUTH}) == 0.0
