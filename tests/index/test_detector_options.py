"""Every registered detector is built with the same options by ``reidkit index`` and ``reidkit track``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
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
    """The (name, options) of every detector built through ``reidkit.detect.build_detector`` (also
    the ones ``build_detectors`` builds)."""
    import reidkit.detect
    import reidkit.detect.registry

    calls: list[tuple[str, DetectorOptions]] = []

    def spy(name: str | Path, options: DetectorOptions | None = None, **overrides: Any) -> NoOneDetector:
        assert options is not None and not overrides  # the commands pass one resolved definition
        calls.append((str(name), options))
        return NoOneDetector()

    monkeypatch.setattr(reidkit.detect, "build_detector", spy)
    monkeypatch.setattr(reidkit.detect.registry, "build_detector", spy)
    return calls


@pytest.mark.parametrize("name", DETECTORS.names())
def test_index_and_track_build_a_detector_with_the_same_options(
    name: str, built: list[tuple[str, DetectorOptions]]
) -> None:
    analyser = build_analyser(name, ShirtTrousersEmbedder(), options=IndexOptions())  # reidkit index
    analyser.detector.detect(np.zeros((48, 64, 3), np.uint8))  # the still-image detector: built on use
    build_tracking_detector(name, TrackerConfig.for_detector(name))  # reidkit track
    *index_calls, (track_name, track_options) = built
    assert index_calls and {n for n, _ in index_calls} == {track_name} == {name}
    # Video frames are detected on one thread per detector, images on all: threads aside, the same.
    assert {replace(o, threads=None) for _, o in index_calls} == {track_options}
    assert track_options.conf == TrackerConfig().track_low  # low-score boxes reach the tracker
    assert track_options == index_detector_options(name, IndexOptions())


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
