"""The library's own same- and different-person pairs, kept with every file added."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidkit.index.footage import FootageScores, ScoreStats, media_footage_scores
from reidkit.index.library import FOOTAGE_KEY, Library, NewMedia, NewTracklet


class Observed:
    def __init__(self, frames, boxes):
        self.frames = np.asarray(frames, np.int64)
        self.boxes = np.asarray(boxes, np.float32)


LEFT, RIGHT = [0, 0, 50, 100], [200, 0, 250, 100]


def test_two_people_apart_on_screen_are_a_different_person_pair() -> None:
    a = Observed(range(10), [LEFT] * 10)
    b = Observed(range(5, 15), [RIGHT] * 10)
    same_spot = Observed(range(10), [[10, 0, 60, 100]] * 10)  # meets a: maybe one person tracked twice
    later = Observed(range(20, 30), [RIGHT] * 10)  # never on screen with a
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = [0.6, 0.8, 0, 0]
    scores = media_footage_scores([a, b, same_spot, later], vectors, [np.zeros((1, 4))] * 4)
    assert scores.negatives.count == 2  # a-b and b-same_spot; a-same_spot meet, later meets nobody
    assert scores.negatives.mean == pytest.approx((0.6 + 0.0) / 2)


def test_crops_of_one_tracklet_are_same_person_pairs() -> None:
    crops = np.array([[1, 0], [1, 1], [0, 1]], np.float32)
    scores = media_footage_scores([Observed([0], [LEFT])], np.array([[1, 0]], np.float32), [crops])
    assert scores.positives.count == 3
    assert scores.positives.mean == pytest.approx((2 * np.sqrt(0.5) + 0.0) / 3)


def test_stats_merge_like_one_stream() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(0.3, 0.1, 100)
    whole, parts = ScoreStats(), ScoreStats()
    whole.add(values)
    for chunk in np.array_split(values, 7):
        part = ScoreStats()
        part.add(chunk)
        parts.merge(part)
    assert (parts.count, parts.maximum) == (whole.count, whole.maximum)
    assert parts.mean == pytest.approx(values.mean()) and parts.std == pytest.approx(values.std(ddof=1))
    assert FootageScores.from_json(FootageScores(whole, parts).to_json()).negatives == whole


def _tracklet(track_id: int, frames, box, vector) -> NewTracklet:
    frames = np.asarray(frames)
    v = np.asarray(vector, np.float32)
    return NewTracklet(
        track_id=track_id, frames=frames, times=frames / 10.0, boxes=np.tile(np.float32(box), (len(frames), 1)),
        vector=v, crop_vectors=np.stack([v, v]), best_frame=int(frames[0]), best_box=np.float32(box),
        thumbnail_jpeg=b"\xff\xd8\xff\xd9", quality=1.0,
    )  # fmt: skip


def test_the_library_keeps_its_footage_scores_across_files_and_reopening(tmp_path: Path) -> None:
    lib = Library.create_or_open(tmp_path / "lib", model="m", dim=2)
    for n in range(2):
        media = NewMedia(path=f"v{n}.mp4", sha256=f"{n:064d}", kind="video", fps=10.0, frame_count=30)
        lib.add_media(media, [_tracklet(1, range(10), LEFT, [1, 0]), _tracklet(2, range(10), RIGHT, [0, 1])])
    assert lib.footage_scores().negatives.count == 2 and lib.footage_scores().positives.count == 4
    lib.close()
    reopened = Library.open(tmp_path / "lib")
    assert reopened.footage_scores().summary() == {
        "different_people_pairs": 2, "different_people_mean": 0.0, "different_people_std": 0.0,
        "same_person_pairs": 4, "same_person_mean": 1.0,
    }  # fmt: skip
    reopened.close()


def test_a_library_from_before_footage_scores_measures_them_once(tmp_path: Path) -> None:
    lib = Library.create_or_open(tmp_path / "lib", model="m", dim=2)
    media = NewMedia(path="v.mp4", sha256="0" * 64, kind="video", fps=10.0, frame_count=30)
    lib.add_media(media, [_tracklet(1, range(10), LEFT, [1, 0]), _tracklet(2, range(10), RIGHT, [0.6, 0.8])])
    with lib._transaction() as cur:
        cur.execute("DELETE FROM meta WHERE key = ?", (FOOTAGE_KEY,))
    lib.close()
    old = Library.create_or_open(tmp_path / "lib", model="m", dim=2)
    assert old.footage_scores().negatives.mean == pytest.approx(0.6)
    media = NewMedia(path="w.mp4", sha256="1" * 64, kind="video", fps=10.0, frame_count=30)
    old.add_media(media, [_tracklet(1, range(10), LEFT, [1, 0])])
    assert old.footage_scores().negatives.count == 1  # the old file's pair, counted once
    old.close()
