"""Pseudo-identities from synthetic tracklets: visits, people clusters, people on screen together."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reidkit.adapt.labels import LibraryView, cannot_link_pairs, label_agreement, pseudo_labels
from reidkit.zoo.calibration import ScoreCalibration
from tests.adapt.helpers import tiny_reid_onnx, tracklet, vector_library

CAL = ScoreCalibration(threshold=0.5, slope=10.0, bias=-5.0, measured=True, link_threshold=0.7)
LEFT, RIGHT = (10.0, 50.0, 50.0, 200.0), (200.0, 50.0, 240.0, 200.0)


def looks(axis: int, n: int = 3, seed: int = 0, dim: int = 8) -> np.ndarray:
    rng = np.random.default_rng([axis, seed])
    out = rng.normal(0, 0.05, (n, dim))
    out[:, axis] += 1.0
    return out


def build(tmp_path: Path, twin: bool = False):
    """Video a: A walks left (two tracklets, a short gap) while B walks right; video b: A again, and C.
    With ``twin`` B looks exactly like A."""
    model = tiny_reid_onnx(tmp_path / "tiny.onnx")
    b_look = looks(0, seed=9) if twin else looks(1)
    lib = vector_library(
        tmp_path / "lib",
        model,
        {
            "a.mp4": [
                tracklet(1, range(0, 20), LEFT, looks(0)),
                tracklet(2, range(0, 30), RIGHT, b_look),
                tracklet(3, range(24, 40), LEFT, looks(0, seed=1)),
            ],
            "b.mp4": [
                tracklet(1, range(0, 30), LEFT, looks(0, seed=2)),
                tracklet(2, range(50, 80), RIGHT, looks(2)),
            ],
        },
    )
    view = LibraryView.of(lib)
    vectors = np.stack([lib.crop_vectors(r.id).mean(axis=0) for r in view.tracklets])
    lib.close()
    return view, vectors


def test_people_on_screen_together_are_cannot_link_pairs(tmp_path: Path) -> None:
    view, _ = build(tmp_path)
    pairs = cannot_link_pairs(view)
    # In video a the tracklets 0 and 1 share frames 0-19 with boxes that never meet, and 1 and 2 share
    # 24-29; tracklets 0 and 2 never share a frame; video b's two tracklets never meet in time.
    assert pairs.tolist() == [[0, 1], [1, 2]]


def test_visits_and_people(tmp_path: Path) -> None:
    view, vectors = build(tmp_path)
    labels = pseudo_labels(view, vectors, CAL)
    assert labels.visit[0] == labels.visit[2]  # A's two tracklets in video a: one visit
    assert len(set(labels.visit.tolist())) == 4
    assert labels.person[0] == labels.person[2] == labels.person[3]  # A in both videos: one person
    assert len({labels.person[0], labels.person[1], labels.person[4]}) == 3  # A, B, C
    assert labels.n_people == 3
    assert labels.cross_camera_people() == 1
    assert labels.camera.tolist() == [0, 0, 0, 1, 1]


def test_people_on_screen_together_never_merge_even_when_alike(tmp_path: Path) -> None:
    view, vectors = build(tmp_path, twin=True)
    labels = pseudo_labels(view, vectors, CAL)
    assert labels.person[1] != labels.person[0]
    assert labels.person[1] != labels.person[2]


def test_label_agreement() -> None:
    assert label_agreement(np.array([0, 0, 1, 2]), np.array([5, 5, 7, 9])) == 1.0  # renamed only
    assert label_agreement(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3])) == 0.0  # all split
    assert label_agreement(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1])) == 1 / 4
    assert label_agreement(np.arange(4), np.arange(4)) == 1.0
