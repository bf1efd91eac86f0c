"""Real models and data from ../shared (skipped when absent), plus model-file errors."""

import shutil
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.core.errors import ModelError
from reidkit.core.types import Detections, Detector
from reidkit.detect import DETECTORS, HogDetector, YoloxDetector, box_iou, build_detector
from reidkit.media import open_media, read_image
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def yolox() -> YoloxDetector:
    shared_path("models", "yolox_nano_416x416.onnx")
    return YoloxDetector("yolox-nano", threads=1)


def _locate_crop(frame: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """Where a Market-1501 crop was cut from: multi-scale template matching on a downscaled frame."""
    factor = 6
    small = cv2.resize(frame, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
    best = (-2.0, (0, 0), 0, 0)
    for height in range(16, 90, 3):
        for aspect in (0.35, 0.45, 0.55):
            width = max(6, round(height * aspect))
            template = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
            _, score, _, (x, y) = cv2.minMaxLoc(cv2.matchTemplate(small, template, cv2.TM_CCOEFF_NORMED))
            if score > best[0]:
                best = (score, (x, y), width, height)
    score, (x, y), width, height = best
    assert score > 0.8, "the crop was not found in its frame"
    return np.array([x, y, x + width, y + height], np.float32) * factor


def _video_frame(index: int) -> np.ndarray:
    source = open_media(shared_path("data", "videos", "one-by-one-person-detection.mp4"))
    frames = source.frames(stride=max(index, 1))
    return next(frames).image if index == 0 else next(islice(frames, 1, None)).image


def _plausible_people(detections: Detections, shape: tuple[int, ...]) -> None:
    boxes = detections.boxes
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= shape[1]) and np.all(boxes[:, 3] <= shape[0])
    assert np.all((boxes[:, 3] - boxes[:, 1]) > (boxes[:, 2] - boxes[:, 0]))  # people stand: taller than wide
    assert np.all((detections.scores >= 0.35) & (detections.scores <= 1))
    assert np.all(np.diff(detections.scores) <= 0)  # best first


def test_yolox_finds_the_query_person_in_market_frame(yolox: YoloxDetector) -> None:
    frame = read_image(shared_path("data", "market-frames", "frames", "c1s1_001051.jpg"))
    crop = read_image(shared_path("data", "market-frames", "query", "0001_c1s1_001051_00.jpg"))
    detections = yolox.detect(frame)
    assert len(detections) >= 2
    _plausible_people(detections, frame.shape)
    truth = _locate_crop(frame, crop)
    assert box_iou(truth, detections.boxes).max() > 0.5


def test_yolox_on_video_finds_a_person_only_when_one_is_visible(yolox: YoloxDetector) -> None:
    frames = {index: _video_frame(index) for index in (0, 100, 300)}
    assert len(yolox.detect(frames[0])) == 0  # the empty room
    for index in (100, 300):
        detections = yolox.detect(frames[index])
        assert len(detections) == 1, index
        _plausible_people(detections, frames[index].shape)
        assert detections.boxes[0, 3] - detections.boxes[0, 1] > 200  # a person near the camera


def test_light_person_detector_agrees_with_yolox(yolox: YoloxDetector) -> None:
    shared_path("models", "light_person_detector.onnx")
    light = build_detector("light-person-detector", threads=1)
    image = _video_frame(300)
    reference, found = yolox.detect(image), light.detect(image)
    assert len(found) >= 1
    assert box_iou(reference.boxes, found.boxes).max() > 0.7


def test_hog_fallback_finds_the_person() -> None:
    hog = build_detector("hog")
    assert isinstance(hog, HogDetector) and isinstance(hog, Detector)
    assert len(hog.detect(np.full((300, 400, 3), 128, np.uint8))) == 0
    detections = hog.detect(_video_frame(400))
    assert len(detections) >= 1
    assert np.all((detections.scores > 0) & (detections.scores < 1))
    person = np.array([[384, 3, 546, 372]], np.float32)  # where YOLOX puts this frame's person
    assert box_iou(person, detections.boxes).max() > 0.5


def test_registry_and_unknown_names(tmp_path: Path) -> None:
    assert {"yolox-nano", "light-person-detector", "hog"} <= set(DETECTORS.names())
    with pytest.raises(ModelError, match="unknown detector 'yolo-giant'"):
        build_detector("yolo-giant")
    weights = tmp_path / "detector.pt"
    weights.write_bytes(b"\x00")
    with pytest.raises(ModelError, match=r"no detector reads \.pt files") as info:
        build_detector(weights)
    assert str(weights) in str(info.value)


def _one_line_model_error(path: Path) -> str:
    with pytest.raises(ModelError) as info:
        build_detector(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_text_file_named_onnx(tmp_path: Path) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    assert "not a valid ONNX model" in _one_line_model_error(text)


def test_reid_model_passed_as_detector(tmp_path: Path) -> None:
    registered = shared_path("models", "osnet_x0_25_msmt17.onnx")
    assert "is a reid model, not a detector" in _one_line_model_error(registered)
    # Under a name the registry does not know, only the output shape can tell.
    renamed = tmp_path / "my_detector.onnx"
    shutil.copyfile(registered, renamed)
    assert "not a YOLOX-style detector" in _one_line_model_error(renamed)
