"""Decoder math on fabricated head outputs: no model file needed."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reidkit.core.types import Detector
from reidkit.detect import YoloxDetector, decode_yolox, nms, yolox_grid
from reidkit.detect import yolox as yolox_module

INPUT = 416
ANCHORS = 52 * 52 + 26 * 26 + 13 * 13  # 3549


def _cell(stride: int, gx: int, gy: int) -> int:
    offset = {8: 0, 16: 52 * 52, 32: 52 * 52 + 26 * 26}[stride]
    return offset + gy * (INPUT // stride) + gx


def _raw(*cells: tuple[int, list[float]]) -> np.ndarray:
    raw = np.zeros((ANCHORS, 85), np.float32)
    for index, values in cells:
        raw[index, : len(values)] = values
    return raw


# stride 16, cell (gx=5, gy=3): centre ((0.5+5)*16, (0.25+3)*16) = (88, 52), size (4*16, 8*16) = (64, 128)
PERSON_CELL = (_cell(16, 5, 3), [0.5, 0.25, np.log(4), np.log(8), 0.9, 0.8])
PERSON_BOX = [88 - 32, 52 - 64, 88 + 32, 52 + 64]


def test_grid_layout() -> None:
    grid, strides = yolox_grid(INPUT, INPUT)
    assert grid.shape == (ANCHORS, 2) and strides.shape == (ANCHORS, 1)
    index = _cell(16, 5, 3)
    assert grid[index].tolist() == [5, 3] and strides[index, 0] == 16
    assert grid[-1].tolist() == [12, 12] and strides[-1, 0] == 32


def test_known_cell_decodes_to_expected_box() -> None:
    grid, strides = yolox_grid(INPUT, INPUT)
    not_person = (_cell(8, 10, 10), [0, 0, 0, 0, 0.9, 0.0, 0.95])  # class 1 only
    weak = (_cell(32, 1, 1), [0, 0, 0, 0, 0.5, 0.5])  # 0.25 < conf
    boxes, scores = decode_yolox(_raw(PERSON_CELL, not_person, weak), grid, strides, conf=0.35)
    np.testing.assert_allclose(boxes, [PERSON_BOX], atol=1e-4)
    assert scores.tolist() == pytest.approx([0.72])


class _FakeSession:
    """Stands in for onnxruntime: fixed IO shapes, returns one fabricated output."""

    def __init__(self, output: np.ndarray):
        self.output = output
        self.fed: list[np.ndarray] = []

    def get_inputs(self) -> list[Any]:
        return [type("Input", (), {"name": "images", "shape": [1, 3, INPUT, INPUT]})()]

    def get_outputs(self) -> list[Any]:
        return [type("Output", (), {"name": "output", "shape": [1, ANCHORS, 85]})()]

    def run(self, _names: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.fed.append(feeds["images"])
        return [self.output[None]]


def _detector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: np.ndarray, **kw: Any) -> YoloxDetector:
    session = _FakeSession(raw)
    monkeypatch.setattr(yolox_module, "create_session", lambda *_a, **_k: session)
    model = tmp_path / "fake_yolox.onnx"
    model.write_bytes(b"not used")
    return YoloxDetector(model, **kw)


def test_boxes_map_back_to_the_original_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A duplicate of the person, slightly shifted and weaker, must be removed by NMS.
    duplicate = (_cell(16, 5, 3) + 1, [-0.6, 0.25, np.log(4), np.log(8), 0.9, 0.7])
    detector = _detector(tmp_path, monkeypatch, _raw(PERSON_CELL, duplicate), min_size=0)
    assert isinstance(detector, Detector)
    image = np.zeros((600, 832, 3), np.uint8)  # letterbox scale 0.5, padded at the bottom
    detections = detector.detect(image)
    expected = np.array(PERSON_BOX, np.float32) / 0.5
    expected[1] = 0.0  # clipped to the image
    assert len(detections) == 1
    assert detections.boxes.dtype == np.float32 and detections.scores.dtype == np.float32
    assert detections.boxes[0].tolist() == pytest.approx(expected.tolist())
    assert detections.scores[0] == pytest.approx(0.72)
    # Input fed as the registry spec says: BGR 0-255, pad 114 below the resized image.
    fed = detector.session.fed[-1]  # type: ignore[attr-defined]
    assert (
        fed.shape == (1, 3, INPUT, INPUT) and fed[0, :, 300:, :].min() == 114 and fed[0, :, :300].max() == 0
    )


def test_min_size_and_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    detector = _detector(tmp_path, monkeypatch, _raw(PERSON_CELL), min_size=300)
    assert len(detector.detect(np.zeros((416, 416, 3), np.uint8))) == 0  # 128 px tall < 300
    detector.min_size = 0
    batch = detector.detect_batch([np.zeros((416, 416, 3), np.uint8), np.zeros((208, 208, 3), np.uint8)])
    assert [len(d) for d in batch] == [1, 1]
    assert batch[1].boxes[0, 2] == pytest.approx((88 + 32) / 2)


def test_nms_keeps_best_of_overlapping() -> None:
    boxes = np.array([[0, 0, 10, 20], [1, 0, 11, 20], [50, 50, 60, 70]], np.float32)
    scores = np.array([0.5, 0.9, 0.7], np.float32)
    assert nms(boxes, scores, 0.45).tolist() == [1, 2]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []
