"""``reidkit track`` end to end: a synthetic video with a test-only detector, and real footage."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from reidkit.cli import main
from reidkit.core.types import Detections
from reidkit.detect import DETECTOR_DEFAULTS, DETECTORS, DetectorOptions
from reidkit.detect.boxes import finish
from reidkit.track import read_mot, validate_mot_file
from reidkit.track.metrics import score_tracking
from tests.conftest import shared_path
from tests.synthetic import make_scene, write_video


class FigureDetector:
    """Finds the drawn figures of a synthetic scene by difference to its empty background.

    Neither YOLOX nor HOG sees the stick-like figures as people, so the CLI test plugs this in through
    the detector registry, as a user would plug in their own detector.
    """

    name = "figures"

    def __init__(self, background: np.ndarray, conf: float = 0.5, **_: Any):
        self.background = background.astype(np.int16)
        self.conf = conf

    def detect(self, image: np.ndarray) -> Detections:
        diff = np.abs(image.astype(np.int16) - self.background).max(axis=2) > 40
        mask = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        x, y, w, h = (stats[1:, :4].astype(np.float32)).T
        boxes = np.stack([x, y, x + w, y + h], axis=1)
        return finish(boxes, np.full(n - 1, 0.9, np.float32), image.shape, iou_threshold=0.7, min_size=20)


@pytest.fixture
def scene_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any]:
    scene = make_scene(n_people=2, n_frames=60, seed=2)  # two people, never overlapping
    video = write_video(scene, tmp_path / "walk.mp4")
    # The empty room as the video shows it (the codec shifts saturated colours): its first frame.
    assert not len(scene.boxes_at(0)[0])
    ok, background = cv2.VideoCapture(str(video)).read()
    assert ok
    seen: dict[str, Any] = {}

    def build(options: DetectorOptions) -> FigureDetector:
        seen.update(dataclasses.asdict(options))
        return FigureDetector(background, conf=options.conf)

    monkeypatch.setitem(DETECTORS._items, "test-figures", build)
    monkeypatch.setitem(DETECTOR_DEFAULTS, "test-figures", DetectorOptions(conf=0.5))
    scene.detector_kwargs = seen
    return video, scene


@pytest.mark.parametrize("stride", [1, 2])
def test_track_cli_synthetic(scene_video: tuple[Path, Any], tmp_path: Path, stride: int) -> None:
    video, scene = scene_video
    out = tmp_path / "out" / "tracks.txt"
    args = ["track", str(video), "--out", str(out), "--detector", "test-figures", "--stride", str(stride)]
    assert main([*args, "-q"]) == 0
    assert validate_mot_file(out) > 0
    assert scene.detector_kwargs["conf"] == pytest.approx(0.1)  # low-score boxes reach the tracker
    rows = read_mot(out)
    assert set(np.unique((rows[:, 0] - 1) % stride)) == {0}  # only processed frames are reported
    gt = scene.mot_gt(min_visibility=0.5)
    gt = gt[(gt[:, 0] - 1) % stride == 0]
    scores = score_tracking(gt, rows)
    assert scores.idf1 > 0.8, scores
    assert scores.n_hyp_ids == 2


def test_track_cli_max_frames(scene_video: tuple[Path, Any], tmp_path: Path) -> None:
    video, _ = scene_video
    out = tmp_path / "tracks.txt"
    assert (
        main(["track", str(video), "-o", str(out), "--detector", "test-figures", "--max-frames", "20"]) == 0
    )
    rows = read_mot(out)
    assert len(rows) and rows[:, 0].max() <= 20


def test_track_cli_errors(
    scene_video: tuple[Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    video, _ = scene_video
    assert main(["track", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "t.txt")]) == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    # The output is checked before any frame is processed.
    assert main(["track", str(video), "-o", str(blocker / "t.txt"), "--detector", "test-figures"]) == 2
    assert "pass another --out path" in capsys.readouterr().err


def test_track_cli_real_video(tmp_path: Path) -> None:
    video = shared_path("data", "videos", "one-by-one-person-detection.mp4")
    shared_path("models", "yolox_nano_416x416.onnx")
    out = tmp_path / "tracks.txt"
    assert main(["track", str(video), "-o", str(out), "--max-frames", "100", "-q"]) == 0
    assert validate_mot_file(out) > 0
    rows = read_mot(out)
    assert rows[:, 0].max() <= 100
    assert len(np.unique(rows[:, 1])) >= 1
    # The first person walks in at about frame 65 and stays: one track, most of those frames.
    assert (rows[:, 1] == rows[0, 1]).sum() >= 20
