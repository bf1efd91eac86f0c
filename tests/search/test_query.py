"""Choosing the query person: crops as they are, the largest person of a scene, --box, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.core.errors import MediaError
from reidkit.search.query import load_query, parse_box, select_person
from tests.search.fakes import FakeDetector


def scene_image() -> np.ndarray:
    return np.full((432, 768, 3), 90, np.uint8)


def test_scene_takes_the_largest_person() -> None:
    crop, box = select_person(scene_image(), FakeDetector([[10, 10, 50, 100], [300, 50, 420, 400]]))
    assert box.tolist() == [300, 50, 420, 400]
    assert crop.shape == (350, 120, 3)


def test_box_picks_someone_else_and_is_clipped() -> None:
    crop, box = select_person(scene_image(), FakeDetector([[300, 50, 420, 400]]), box=(700, 10, 900, 300))
    assert box.tolist() == [700, 10, 768, 300]
    assert crop.shape == (290, 68, 3)
    with pytest.raises(MediaError, match="outside"):
        select_person(scene_image(), None, box=(900, 10, 1000, 300))


def test_crop_is_used_as_is() -> None:
    crop_image = np.zeros((128, 64, 3), np.uint8)
    for detector in (FakeDetector([]), FakeDetector([[2, 3, 60, 125]])):
        crop, box = select_person(crop_image, detector)
        assert crop.shape == (128, 64, 3) and box.tolist() == [0, 0, 64, 128]


def test_tall_scene_with_a_small_person_is_cut() -> None:
    _crop, box = select_person(np.zeros((600, 300, 3), np.uint8), FakeDetector([[10, 10, 60, 120]]))
    assert box.tolist() == [10, 10, 60, 120]


def test_no_person_is_a_one_line_error() -> None:
    with pytest.raises(MediaError) as err:
        select_person(scene_image(), FakeDetector([]), name="photo.jpg")
    message = str(err.value)
    assert "no person found in photo.jpg" in message and "--box x1,y1,x2,y2" in message
    assert "\n" not in message


def test_a_person_too_small_to_recognise_is_a_one_line_error() -> None:
    tiny = np.zeros((4, 3, 3), np.uint8)  # a 3x4-pixel "photo": its vector would match nobody
    with pytest.raises(MediaError, match=r"only 3x4 pixels: too small to recognise") as err:
        select_person(tiny, FakeDetector([]), name="tiny.png")
    assert "tiny.png" in str(err.value) and "24 pixels tall" in str(err.value)
    with pytest.raises(MediaError, match="only 10x20 pixels"):  # a scene whose person is tiny
        select_person(scene_image(), FakeDetector([[5, 5, 15, 25]]), name="scene.jpg")
    crop, _ = select_person(np.zeros((24, 8, 3), np.uint8), FakeDetector([]))
    assert crop.shape[:2] == (24, 8)  # the smallest allowed


def test_parse_box() -> None:
    assert parse_box("1,2,3.5,4") == (1.0, 2.0, 3.5, 4.0)
    with pytest.raises(ValueError, match="x1,y1,x2,y2"):
        parse_box("1,2,3")


@pytest.mark.parametrize("mode", ["gray", "rgba", "gray16", "bgr16"])
def test_any_image_mode_loads(tmp_path: Path, mode: str) -> None:
    base = np.random.default_rng(0).integers(0, 255, (128, 64, 3), dtype=np.uint8)
    image = {
        "gray": cv2.cvtColor(base, cv2.COLOR_BGR2GRAY),
        "rgba": cv2.cvtColor(base, cv2.COLOR_BGR2BGRA),
        "gray16": cv2.cvtColor(base, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257,
        "bgr16": base.astype(np.uint16) * 257,
    }[mode]
    path = tmp_path / f"{mode}.png"
    cv2.imwrite(str(path), image)
    crop, box = load_query(path, FakeDetector([]))
    assert crop.dtype == np.uint8 and crop.shape == (128, 64, 3)
    assert box.tolist() == [0, 0, 64, 128]


def test_bad_file_is_a_media_error(tmp_path: Path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(MediaError, match=r"photo\.jpg"):
        load_query(bad, FakeDetector([]))
