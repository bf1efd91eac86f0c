"""The detector fed at the frame's aspect ratio (``input_side``): input shapes, graph freeing, fallback."""

import logging
from pathlib import Path

import numpy as np
import pytest

from reidkit.detect import YoloxDetector, box_iou, yolox_grid
from reidkit.media import open_media
from tests.conftest import shared_path

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

NATIVE = 64  # tiny synthetic models: 64x64 input, one class


def _anchors(height: int, width: int) -> int:
    return len(yolox_grid(height, width)[0])


def _write_model(path: Path, fully_convolutional: bool) -> Path:
    """A YOLOX-shaped graph: (1,3,64,64) -> (1, anchors, 6).

    Fully convolutional: one 1x1 conv per stride over an average-pooled input, flattened with -1 reshapes,
    so any input size works. Otherwise the output is expanded to a constant shape (a graph with a fixed
    size baked in), which must make the detector keep its fixed input.
    """
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, NATIVE, NATIVE])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, _anchors(NATIVE, NATIVE), 6])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [6, 3, 1, 1], np.full(18, 1e-3, np.float32).tolist())
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [1, 6, -1])
    nodes, inits = [], [weight, shape]
    if fully_convolutional:
        parts = []
        for stride in (8, 16, 32):
            nodes += [
                helper.make_node(
                    "AveragePool",
                    ["images"],
                    [f"p{stride}"],
                    kernel_shape=[stride, stride],
                    strides=[stride, stride],
                ),
                helper.make_node("Conv", [f"p{stride}", "w"], [f"c{stride}"]),
                helper.make_node("Reshape", [f"c{stride}", "shape"], [f"r{stride}"]),
            ]
            parts.append(f"r{stride}")
        nodes += [
            helper.make_node("Concat", parts, ["cat"], axis=2),
            helper.make_node("Transpose", ["cat"], ["output"], perm=[0, 2, 1]),
        ]
    else:
        fixed = helper.make_tensor("fixed", TensorProto.INT64, [3], [1, _anchors(NATIVE, NATIVE), 6])
        inits += [fixed, helper.make_tensor("one", TensorProto.INT64, [3], [1, 1, 1])]
        nodes += [
            helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=1),
            helper.make_node("Reshape", ["mean", "one"], ["flat"]),
            helper.make_node("Expand", ["flat", "fixed"], ["expanded"]),
            helper.make_node("Transpose", ["expanded"], ["t"], perm=[0, 1, 2]),
            helper.make_node("Identity", ["t"], ["output"]),
        ]
    graph = helper.make_graph(nodes, "tiny_yolox", [images], [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_input_shape_keeps_aspect_within_native_and_cap(tmp_path: Path) -> None:
    detector = YoloxDetector(_write_model(tmp_path / "conv.onnx", True), input_side=160)
    assert detector.input_side == 160
    assert detector.input_shape(432, 768) == (96, 160)  # 90 rounded up to a multiple of 32
    assert detector.input_shape(1080, 1920) == (96, 160)
    assert detector.input_shape(40, 20) == (64, 32)  # small images are enlarged to the native side only
    assert detector.input_shape(100, 100) == (128, 128)  # between native and cap: kept as is, rounded up
    # Frames of two shapes in one batch: each is fed at its own shape.
    detections = detector.detect_batch([np.zeros((432, 768, 3), np.uint8), np.zeros((50, 40, 3), np.uint8)])
    assert len(detections) == 2


def test_fixed_input_when_asked(tmp_path: Path) -> None:
    detector = YoloxDetector(_write_model(tmp_path / "conv.onnx", True), input_side=None)
    assert detector.input_side is None and detector.input_shape(432, 768) == (NATIVE, NATIVE)


def test_graph_with_a_baked_in_size_falls_back_to_its_fixed_input(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        detector = YoloxDetector(_write_model(tmp_path / "fixed.onnx", False), input_side=160)
    assert detector.input_side is None
    assert "input size cannot be freed" in caplog.text
    assert detector.input_shape(432, 768) == (NATIVE, NATIVE)
    assert len(detector.detect_batch([np.zeros((432, 768, 3), np.uint8)])) == 1


@pytest.mark.shared
def test_aspect_input_finds_the_same_people_as_the_square_input() -> None:
    shared_path("models", "yolox_nano_416x416.onnx")
    video = open_media(shared_path("data", "videos", "one-by-one-person-detection.mp4"))
    square = YoloxDetector("yolox-nano", threads=1, input_side=None)
    aspect = YoloxDetector("yolox-nano", threads=1)  # the default: 640 px at the frame's aspect
    assert aspect.input_side == 640 and aspect.input_shape(432, 768) == (384, 640)
    compared = 0
    for frame in video.frames(stride=100):
        a, b = square.detect(frame.image), aspect.detect(frame.image)
        # Every confident person of the square input is found again, in the same place.
        confident = a.boxes[a.scores >= 0.6]
        if len(confident):
            assert len(b), f"frame {frame.index}: nobody found at 640"
            assert box_iou(confident, b.boxes).max(axis=1).min() > 0.7
            compared += len(confident)
    assert compared >= 5
