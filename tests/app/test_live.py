"""A camera's live look: people boxed, a watched person named only above their own threshold."""

from __future__ import annotations

import cv2
import numpy as np

from reidkit.app.live import LiveBox, Watched, look, preview_jpeg
from reidkit.app.video import BOX_COLOUR
from tests.index.test_indexer import BACKGROUND, BLUE, RED, SIZE, BlobDetector, ColourEmbedder, draw, query


def scene() -> np.ndarray:
    frame = np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)
    draw(frame, 40, 60, RED)
    draw(frame, 200, 100, BLUE)
    return frame


def test_each_person_is_named_by_the_watched_person_they_clear_by_most() -> None:
    red, blue = query(RED), query(BLUE)
    watched = [Watched("Red", red, 0.9), Watched("Blue", blue, 0.9), Watched("Also red", red, 0.99)]
    boxes = sorted(look(scene(), BlobDetector(), ColourEmbedder(), watched), key=lambda b: b.box[0])
    assert [(b.person, b.score is not None and b.score > 0.99) for b in boxes] == [
        ("Red", True),
        ("Blue", True),
    ]
    strict = look(scene(), BlobDetector(), ColourEmbedder(), [Watched("Red", red, 1.01)])  # above any cosine
    assert [b.person for b in strict] == [None, None]
    nobody = look(scene(), BlobDetector(), None, [])  # no watchlist: boxes only, nothing embedded
    assert len(nobody) == 2 and all(b.person is None and b.score is None for b in nobody)


def test_the_preview_is_small_and_the_boxes_land_on_the_people() -> None:
    big = cv2.resize(scene(), (1920, 1440), interpolation=cv2.INTER_NEAREST)  # 6x the scene
    boxes = [
        LiveBox((240.0, 360.0, 420.0, 840.0), "Red", 0.97),
        LiveBox((1200.0, 600.0, 1380.0, 1080.0), None, None),
    ]
    shown = cv2.imdecode(np.frombuffer(preview_jpeg(big, boxes), np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape == (480, 640, 3)
    amber = np.abs(shown.astype(int) - BOX_COLOUR).max(axis=2) < 40
    assert amber[280, 85:135].mean() > 0.9  # the named box's bottom edge, at y 840 / 3
    assert amber[:, 400:].mean() < 0.001  # the other box is not amber
    assert shown[300, 399:402].max() > 150  # but drawn: its left edge at x 1200 / 3, light grey
    unchanged = scene()
    preview_jpeg(unchanged, boxes[:1])
    assert np.array_equal(unchanged, scene())  # drawn on a copy: the recorder's frame stays clean


def test_with_a_verdict_head_the_crops_are_judged_in_the_adapted_space_as_searches_are() -> None:
    from reidkit.core.head import VerdictHead

    red = query(RED)
    head = VerdictHead(
        "adapted", {"w": np.random.default_rng(0).normal(0, 0.5, (len(red), len(red))).astype(np.float32)}
    )
    watched = [Watched("Red", head.map(red[None])[0], 0.99)]  # as the app keeps it: in that space
    mapped = look(scene(), BlobDetector(), ColourEmbedder(), watched, head)
    assert sorted(b.person or "" for b in mapped) == ["", "Red"]
    unmapped = look(scene(), BlobDetector(), ColourEmbedder(), watched)  # crops left in the base space
    assert [b.person for b in unmapped] == [None, None]
