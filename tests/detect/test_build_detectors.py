"""Detectors for several threads at once (``build_detectors``), one session per detector, and the
detector built on first use (``DeferredDetector``)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reidkit.detect.yolox
from reidkit.core.errors import ModelError
from reidkit.core.types import Detections
from reidkit.detect import DeferredDetector, YoloxDetector, build_detectors, detector_options
from tests.conftest import shared_path
from tests.detect.test_detect_input_side import _write_model


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every onnxruntime session the YOLOX detector creates."""
    made: list[Any] = []
    create = reidkit.detect.yolox.create_session

    def spy(model: Any, threads: int | None = None) -> Any:
        made.append(create(model, threads))
        return made[-1]

    monkeypatch.setattr(reidkit.detect.yolox, "create_session", spy)
    return made


def frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """Noise with a bright square here and there: images the tiny model scores unevenly."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        image = rng.integers(0, 120, (240, 320, 3), dtype=np.uint8)
        y, x = rng.integers(0, 180), rng.integers(0, 260)
        image[y : y + 60, x : x + 60] = 255
        out.append(image)
    return out


def same(a: list[Detections], b: list[Detections]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.boxes, y.boxes) and np.array_equal(x.scores, y.scores)
        for x, y in zip(a, b, strict=True)
    )


def detect_in_threads(detectors: list[Any], images: list[np.ndarray]) -> list[Detections]:
    """Each thread detects every len(detectors)-th image with its own entry of ``detectors``, all at once."""
    out: list[Detections] = [Detections.empty()] * len(images)
    start = threading.Barrier(len(detectors))

    def work(i: int) -> None:
        start.wait()
        for j in range(i, len(images), len(detectors)):
            out[j] = detectors[i].detect(images[j])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(detectors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_an_onnx_detector_is_loaded_once_and_shared_by_every_thread(
    tmp_path: Path, sessions: list[Any]
) -> None:
    model = _write_model(tmp_path / "tiny.onnx", fully_convolutional=True)
    options = detector_options(model, conf=0.05, threads=1, input_side=160)
    detectors = build_detectors(model, options, 3)
    assert len(detectors) == 3 and all(d is detectors[0] for d in detectors)
    assert len(sessions) == 1
    images = frames(24)
    one_at_a_time = [detectors[0].detect(image) for image in images]
    assert sum(len(d) for d in one_at_a_time) > 0  # the comparison is not between empty results
    assert same(detect_in_threads(detectors, images), one_at_a_time)


def test_a_detector_that_is_not_thread_safe_is_built_once_per_thread() -> None:
    detectors = build_detectors("hog", detector_options("hog"), 2)
    assert len(detectors) == 2 and detectors[0] is not detectors[1]
    with pytest.raises(ValueError, match="count"):
        build_detectors("hog", detector_options("hog"), 0)


def test_a_detector_builds_only_the_session_it_runs(tmp_path: Path, sessions: list[Any]) -> None:
    model = _write_model(tmp_path / "tiny.onnx", fully_convolutional=True)
    freed = YoloxDetector(model, input_side=160)
    assert freed.input_side == 160 and len(sessions) == 1 and freed.session is sessions[0]
    fixed = YoloxDetector(model, input_side=None)
    assert fixed.input_side is None and len(sessions) == 2 and fixed.session is sessions[1]


def test_a_broken_model_file_gives_one_error_and_no_fallback_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not a model at all" * 10)
    with caplog.at_level(logging.WARNING), pytest.raises(ModelError, match="not a valid ONNX model"):
        YoloxDetector(junk)
    assert "cannot be freed" not in caplog.text


def test_an_unregistered_file_takes_its_input_size_from_the_graph(tmp_path: Path) -> None:
    detector = YoloxDetector(_write_model(tmp_path / "tiny.onnx", fully_convolutional=True))
    assert (detector.input_spec.height, detector.input_spec.width) == (64, 64)
    assert detector.num_classes == 1 and detector.name == "tiny"


class CountingDetector:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.calls += 1
        return Detections.empty()


def test_a_deferred_detector_is_built_on_its_first_detect_only() -> None:
    built: list[CountingDetector] = []

    def build() -> CountingDetector:
        built.append(CountingDetector())
        return built[-1]

    deferred = DeferredDetector(build, "counting")
    assert deferred.name == "counting" and not deferred.is_built and not built
    image = np.zeros((8, 8, 3), np.uint8)
    deferred.detect(image)
    deferred.detect(image)
    assert len(built) == 1 and built[0].calls == 2 and deferred.built is built[0]


@pytest.mark.shared
def test_yolox_nano_shared_by_two_threads_finds_what_it_finds_one_frame_at_a_time() -> None:
    from reidkit.media import open_media

    shared_path("models", "yolox_nano_416x416.onnx")
    video = open_media(shared_path("data", "videos", "people-detection.264"))
    images = [f.image for f, _ in zip(video.frames(stride=25), range(16), strict=False)]
    detectors = build_detectors("yolox-nano", detector_options("yolox-nano", threads=1, conf=0.1), 2)
    assert detectors[0] is detectors[1]
    one_at_a_time = [detectors[0].detect(image) for image in images]
    assert sum(len(d) for d in one_at_a_time) >= 8  # people in the room: the comparison is not empty
    assert same(detect_in_threads(detectors, images), one_at_a_time)
