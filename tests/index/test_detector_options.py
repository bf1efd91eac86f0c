"""Every registered detector is built with the same options by ``reidkit index`` and ``reidkit track``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reidkit.core.types import Detections
from reidkit.detect import DETECTORS, DetectorOptions, detector_options
from reidkit.index.indexer import IndexOptions, build_analyser, index_detector_options
from reidkit.track import TrackerConfig
from reidkit.track.video import build_tracking_detector
from tests.index.fakes import ShirtTrousersEmbedder


class NoOneDetector:
    name = "no-one"

    def detect(self, image: Any) -> Detections:
        return Detections.empty()


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, DetectorOptions]]:
    """The (name, options) of every detector built through ``reidkit.detect.build_detector``."""
    import reidkit.detect

    calls: list[tuple[str, DetectorOptions]] = []

    def spy(name: str | Path, options: DetectorOptions | None = None, **overrides: Any) -> NoOneDetector:
        assert options is not None and not overrides  # the commands pass one resolved definition
        calls.append((str(name), options))
        return NoOneDetector()

    monkeypatch.setattr(reidkit.detect, "build_detector", spy)
    return calls


@pytest.mark.parametrize("name", DETECTORS.names())
def test_index_and_track_build_a_detector_with_the_same_options(
    name: str, built: list[tuple[str, DetectorOptions]]
) -> None:
    build_analyser(name, ShirtTrousersEmbedder(), options=IndexOptions())  # reidkit index
    build_tracking_detector(name, TrackerConfig.for_detector(name))  # reidkit track
    (index_name, index_options), (track_name, track_options) = built
    assert index_name == track_name == name
    assert index_options == track_options
    assert index_options.conf == TrackerConfig().track_low  # low-score boxes reach the tracker
    assert index_options == index_detector_options(name, IndexOptions())


@pytest.mark.parametrize("name", DETECTORS.names())
def test_index_options_override_the_registered_defaults(name: str) -> None:
    options = IndexOptions(detect_conf=0.25, detect_input_side=960)
    got = index_detector_options(name, options, threads=2)
    assert got == detector_options(name, conf=0.25, input_side=960, threads=2)
    assert got.nms_iou == detector_options(name).nms_iou  # the rest stays the detector's own


def test_registered_defaults_differ_where_the_detectors_do() -> None:
    assert detector_options("yolox-nano").input_side == 640
    assert detector_options("light-person-detector").input_side is None  # its fixed 192x192 input
    assert detector_options("models/custom.onnx") == detector_options("yolox-nano")  # YOLOX decoder
