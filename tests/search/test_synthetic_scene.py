"""Moments from the tracklets of a synthetic scene with known identities (tests/synthetic.py).

Tracklets are cut from the scene's ground truth and embedded with a colour histogram, so the test needs
no model: what is tested is how hits become moments, on crops that look like the people.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from reidkit.search import MomentRule, search_vector
from tests.search.fakes import FakeLibrary
from tests.synthetic import Scene, query_image, reentry_scene


def histogram_vector(crop: np.ndarray) -> np.ndarray:
    """Hue-saturation histogram of the middle of a crop (mostly the person), centred and unit length."""
    h, w = crop.shape[:2]
    middle = crop[h // 5 : h - h // 10, w // 4 : w - w // 4]
    hsv = cv2.cvtColor(middle, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [12, 4], [0, 180, 0, 256]).ravel()
    hist = np.sqrt(hist / max(hist.sum(), 1.0)) - 1.0 / np.sqrt(hist.size)
    return (hist / np.linalg.norm(hist)).astype(np.float32)


def library_from_scene(scene: Scene, root: Path, split_first_visit: bool = False) -> FakeLibrary:
    """One tracklet per identity and interval of the ground truth (the first visit of identity 1 in two
    pieces when ``split_first_visit``, as a tracker losing them for a moment would give)."""
    lib = FakeLibrary(root, dim=48)
    media = lib.add_video(str(root / "scene.mp4"), duration=len(scene.frames) / scene.fps, fps=scene.fps)
    for identity, truth in sorted(scene.gt.items()):
        for first, last in truth.intervals:
            frames = [f for f in range(first, last + 1, 2) if f in truth.boxes]
            pieces = [frames]
            if split_first_visit and identity == 1 and first == 0:
                pieces = [frames[: len(frames) // 2 - 1], frames[len(frames) // 2 + 1 :]]
            for piece in pieces:
                boxes = np.stack([truth.boxes[f] for f in piece])
                vectors = np.stack([histogram_vector(_cut(scene.frames[f], truth.boxes[f])) for f in piece])
                lib.add_observed(media, np.array(piece), boxes, vectors)
    return lib


def _cut(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return image[max(0, y1) : y2, max(0, x1) : x2]


def test_reentry_gives_two_moments_or_one_by_the_gap_rule(tmp_path: Path) -> None:
    scene = reentry_scene(gap=40)  # identity 1 is away for 4 s; identity 2 is there all along
    lib = library_from_scene(scene, tmp_path / "lib", split_first_visit=True)
    query = histogram_vector(query_image(1))
    away = 4.0

    moments = search_vector(lib, query, top=10, rule=MomentRule(max_gap=away - 1.0))
    visits = [(first, last) for first, last in scene.gt[1].intervals]
    top_two = sorted(moments[:2], key=lambda m: m.start_frame)
    assert len(top_two[0].tracklet_ids) == 2  # the split first visit is one moment
    for moment, (first, last) in zip(top_two, visits, strict=True):
        assert abs(moment.start_frame - first) <= 2 and abs(moment.end_frame - last) <= 2
    others = [m for m in moments if m.start_frame == 0 and m.end_frame >= len(scene.frames) - 3]
    assert others and all(m.score < top_two[0].score and m.score < top_two[1].score for m in others)

    merged = search_vector(lib, query, top=10, rule=MomentRule(max_gap=away + 1.0))
    assert merged[0].start_frame == visits[0][0] and abs(merged[0].end_frame - visits[1][1]) <= 2
    assert len(merged[0].tracklet_ids) == 3
