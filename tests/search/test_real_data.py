"""Real footage from ../shared: each of six people is found by a crop cut from one frame, and the
Market-1501 cross-camera query finds its person in the raw camera-1 frame.

The video and the frames are indexed once per session (stride 4 on the 10 fps video keeps it fast).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.index.indexer import index_media
from tests.conftest import shared_path

pytestmark = [pytest.mark.shared, pytest.mark.slow]

VIDEO = ("data", "videos", "one-by-one-person-detection.mp4")
STRIDE = 4
# The six people enter one at a time. Per person: a frame to cut the query from, and frames where they
# certainly stand in the room (looked up by eye on a contact sheet of every 50th frame).
PEOPLE = {
    "grey cardigan, blonde": (150, (100, 150)),
    "black jacket": (300, (250, 400)),
    "black top, blonde": (600, (550, 650)),
    "black t-shirt": (800, (800, 850)),
    "grey cardigan, dark hair": (1050, (950, 1150)),
    "grey shirt": (1300, (1250, 1300)),
}


@pytest.fixture(scope="session")
def video_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video = shared_path(*VIDEO)
    shared_path("models", "yolox_nano_416x416.onnx")
    root = tmp_path_factory.mktemp("video-lib")
    index_media([video], root, stride=STRIDE)
    return root


@pytest.fixture(scope="session")
def query_crops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each person's query: the largest person the detector finds in that person's frame."""
    from reidkit.detect import build_detector
    from reidkit.media import open_media

    wanted = {frame: name for name, (frame, _) in PEOPLE.items()}
    detector = build_detector("yolox-nano")
    out = tmp_path_factory.mktemp("queries")
    crops: dict[str, Path] = {}
    for frame in open_media(shared_path(*VIDEO)).frames():
        if frame.index in wanted:
            boxes = detector.detect(frame.image).boxes
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            x1, y1, x2, y2 = (round(float(v)) for v in boxes[int(np.argmax(areas))])
            path = out / f"{frame.index}.jpg"
            cv2.imwrite(str(path), frame.image[max(0, y1) : y2, max(0, x1) : x2])
            crops[wanted[frame.index]] = path
        if len(crops) == len(wanted):
            break
    return crops


def _overlaps(moment, span: tuple[int, int]) -> bool:  # type: ignore[no-untyped-def]
    return moment.start_frame <= span[1] and moment.end_frame >= span[0]


@pytest.mark.parametrize("person", list(PEOPLE))
def test_each_person_is_found_and_others_rank_below(
    person: str, video_library: Path, query_crops: dict[str, Path]
) -> None:
    from reidkit.search import find_person

    result = find_person(query_crops[person], video_library, top=20)
    top = result.moments[0]
    on_screen = PEOPLE[person][1]
    # The best moment covers the person's time in the room (to within one processed frame) ...
    assert top.start_frame <= on_screen[0] + STRIDE and top.end_frame >= on_screen[1] - STRIDE, (person, top)
    # ... and is theirs alone: nobody else's time is merged into it, and their moments score lower.
    for other, (_, span) in PEOPLE.items():
        if other == person:
            continue
        assert not _overlaps(top, span), (person, other, top)
        rivals = [m for m in result.moments if _overlaps(m, span)]
        assert all(m.score < top.score for m in rivals), (person, other)


def test_grey_cardigans_are_two_people(video_library: Path, query_crops: dict[str, Path]) -> None:
    from reidkit.search import find_person

    first, second = PEOPLE["grey cardigan, blonde"][1], PEOPLE["grey cardigan, dark hair"][1]
    for query in ("grey cardigan, blonde", "grey cardigan, dark hair"):
        result = find_person(query_crops[query], video_library, top=20)
        assert not any(_overlaps(m, first) and _overlaps(m, second) for m in result.moments)


def _true_box(frame: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """Where a Market-1501 crop (resized to 128x64) was cut from: multi-scale template matching."""
    small = cv2.resize(frame, None, fx=0.5, fy=0.5)
    best = (-1.0, (0, 0), 0, 0)
    for height in range(100, 400, 8):
        width = round(height * crop.shape[1] / crop.shape[0])
        scores = cv2.matchTemplate(small, cv2.resize(crop, (width, height)), cv2.TM_CCOEFF_NORMED)
        _, value, _, (x, y) = cv2.minMaxLoc(scores)
        if value > best[0]:
            best = (value, (x, y), width, height)
    value, (x, y), width, height = best
    assert value > 0.8, "template matching did not find the crop"
    return 2.0 * np.array([x, y, x + width, y + height], np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_market_cross_camera_query_finds_the_camera_1_frame(tmp_path_factory: pytest.TempPathFactory) -> None:
    frames = shared_path("data", "market-frames", "frames")
    query = shared_path("data", "market-frames", "query", "0001_c6s1_009601_00.jpg")
    same_frame_crop = shared_path("data", "market-frames", "query", "0001_c1s1_001051_00.jpg")
    from reidkit.search import find_person

    root = tmp_path_factory.mktemp("market-lib")
    index_media([frames], root)
    result = find_person(query, root, top=30)
    truth = _true_box(cv2.imread(str(frames / "c1s1_001051.jpg")), cv2.imread(str(same_frame_crop)))
    # She is in many of the 16 frames, so the camera-1 frame need not rank first: it must be among
    # the moments the search's verdict calls "likely the same person", with her box.
    likely = [m for m in result.moments if m.likely]
    found = [m for m in likely if Path(m.media).stem == "c1s1_001051"]
    assert found, [(Path(m.media).name, round(m.score, 3)) for m in result.moments]
    assert max(_iou(np.asarray(m.box), truth) for m in found) > 0.5
