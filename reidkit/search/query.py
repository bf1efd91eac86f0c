"""The query photo: find the person to search for in whatever picture the user gives.

Three kinds of photo are common:

* a tight person crop (a ReID dataset image, a cut-out): used as it is;
* a scene (a phone photo, a video frame): the largest detected person is the query;
* a scene with several people where the user means someone else: ``box=(x1, y1, x2, y2)`` picks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reidkit.core.errors import MediaError
from reidkit.core.types import Detector

# Person crops are tall: Market-1501 crops are 2:1, CUHK03 and detector boxes mostly 1.6-3.5:1.
CROP_ASPECT = (1.3, 4.5)
# Crops from a detector or a dataset are small; a photo much larger than this is a scene.
CROP_MAX_HEIGHT = 800
# A detection covering this much of a crop-shaped image means the image is that person already
# (detectors often box only part of a tight crop, so the bar is low).
COVERS_MOST = 0.3
# The smallest person a query may show (height, width in pixels): the model sees 256x128, and a
# thumbnail of a few pixels gives a vector that matches nobody, reported as a plain "not found".
MIN_QUERY_SIZE = (24, 8)


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x1,y1,x2,y2"`` -> a box; ValueError with the expected form otherwise (also for inf and nan)."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        x1, y1, x2, y2 = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"expected --box x1,y1,x2,y2 (four numbers), got {text!r}") from None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"--box needs four finite numbers (pixels), got {text!r}")
    return x1, y1, x2, y2


def looks_like_person_crop(image: np.ndarray) -> bool:
    height, width = image.shape[:2]
    aspect = height / max(width, 1)
    return CROP_ASPECT[0] <= aspect <= CROP_ASPECT[1] and height <= CROP_MAX_HEIGHT


def select_person(
    image: np.ndarray,
    detector: Detector | None,
    box: Sequence[float] | None = None,
    *,
    name: str = "the photo",
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the query person in ``image`` (HxWx3 BGR). Returns ``(crop, box)``, box in image pixels.

    MediaError when nobody is found, or when the person is too small to recognise."""
    crop, chosen = _select(image, detector, box, name)
    if crop.shape[0] < MIN_QUERY_SIZE[0] or crop.shape[1] < MIN_QUERY_SIZE[1]:
        raise MediaError(
            f"the person in {name} is only {crop.shape[1]}x{crop.shape[0]} pixels: too small to recognise",
            hint=f"use a photo where they are at least {MIN_QUERY_SIZE[0]} pixels tall (64 or more is better)",
        )
    return crop, chosen


def _select(
    image: np.ndarray, detector: Detector | None, box: Sequence[float] | None, name: str
) -> tuple[np.ndarray, np.ndarray]:
    height, width = image.shape[:2]
    full = np.array([0, 0, width, height], np.float32)
    if box is not None:
        return _cut(image, np.asarray(box, np.float32), name)
    crop_like = looks_like_person_crop(image)
    if detector is None:
        detector = _default_detector()
    detections = detector.detect(image)
    if len(detections) == 0:
        if crop_like:
            return image, full  # detectors often miss people in tight crops
        raise MediaError(
            f"no person found in {name}", hint="pass --box x1,y1,x2,y2 or a tighter crop of the person"
        )
    boxes = np.asarray(detections.boxes, np.float32).reshape(-1, 4)
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    largest = int(np.argmax(areas))
    if crop_like and areas[largest] >= COVERS_MOST * width * height:
        return image, full
    return _cut(image, boxes[largest], name)


def _cut(image: np.ndarray, box: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    clipped = np.array(
        [max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)], np.float32
    )
    ix1, iy1, ix2, iy2 = (round(float(v)) for v in clipped)
    if ix2 - ix1 < 4 or iy2 - iy1 < 4:
        raise MediaError(
            f"box {x1:g},{y1:g},{x2:g},{y2:g} is empty or outside {name} ({width}x{height})",
            hint="pass --box x1,y1,x2,y2 inside the image",
        )
    return np.ascontiguousarray(image[iy1:iy2, ix1:ix2]), clipped


def _default_detector() -> Detector:
    from reidkit.detect import build_detector
    from reidkit.zoo.registry import DEFAULT_DETECTOR

    return build_detector(DEFAULT_DETECTOR)


def load_query(
    path: str | Path, detector: Detector | None = None, box: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read the query photo (any image mode) and return ``(person crop BGR, box in photo pixels)``.

    Raises MediaError for unreadable files and when no person can be found.
    """
    from reidkit.media import read_image

    path = Path(path)
    image = read_image(path)
    return select_person(image, detector, box, name=str(path))
