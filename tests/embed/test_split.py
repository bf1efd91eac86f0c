"""Cutting a tracklet that jumped from one person to another."""

import numpy as np

from reidkit.core.types import Crop, Tracklet
from reidkit.embed.pooling import TrackletEmbedding, pool_vectors
from reidkit.embed.split import appearance_cut, split_on_appearance

DIM = 16


def _person(index: int) -> np.ndarray:
    """Different people are orthogonal directions (cosine 0; real ones are ~0.1-0.4 apart)."""
    return np.eye(DIM, dtype=np.float32)[index]


def _noisy(vector: np.ndarray, seed: int, noise: float = 0.15) -> np.ndarray:
    return pool_vectors((vector + noise * np.random.default_rng(seed).normal(size=DIM))[None])


def _tracklet(people_at: list[np.ndarray], jump_at: int | None = None) -> tuple[Tracklet, TrackletEmbedding]:
    """20 observations (frames 0, 2, ..., 38), a crop every 5th; the box jumps 150 px at ``jump_at``."""
    frames = np.arange(0, 40, 2)
    x = np.arange(len(frames), dtype=np.float32) * 4 + 100
    if jump_at is not None:
        x[frames >= jump_at] += 150
    boxes = np.stack([x, np.full_like(x, 50), x + 60, np.full_like(x, 230)], axis=1)
    tracklet = Tracklet(7, frames, frames / 10.0, boxes, np.full(len(frames), 0.8, np.float32))
    crop_rows = list(range(0, len(frames), 5))  # observations 0, 5, 10, 15
    crops = [
        Crop(
            np.zeros((8, 4, 3), np.uint8),
            int(frames[i]),
            frames[i] / 10,
            boxes[i],
            0.8,
            quality=1.0 - 0.1 * k,
        )
        for k, i in enumerate(crop_rows)
    ]
    vectors = np.stack([_noisy(people_at[k], seed=k) for k in range(len(crops))])
    # best first, as embed_tracklets orders them: here quality falls with time
    return tracklet, TrackletEmbedding(pool_vectors(vectors), vectors, crops)


def test_one_person_is_not_cut() -> None:
    a = _person(1)
    tracklet, embedding = _tracklet([a, a, a, a])
    assert appearance_cut(embedding.crop_vectors, 0.4) is None
    assert split_on_appearance(tracklet, embedding, 0.4) == [(tracklet, embedding)]


def test_a_jump_to_another_person_is_cut_where_the_box_jumps() -> None:
    a, b = _person(1), _person(2)
    # crops at frames 0, 10 (person a), 20, 30 (person b); the box jumps at frame 16
    tracklet, embedding = _tracklet([a, a, b, b], jump_at=16)
    assert appearance_cut(embedding.crop_vectors, 0.4) == 2
    pieces = split_on_appearance(tracklet, embedding, 0.4)
    assert len(pieces) == 2
    (first, first_emb), (second, second_emb) = pieces
    assert first.frames.tolist() == list(range(0, 16, 2)) and second.frames.tolist() == list(range(16, 40, 2))
    assert [c.frame for c in first_emb.crops] == [0, 10] and [c.frame for c in second_emb.crops] == [20, 30]
    assert first_emb.vector @ a > 0.8 and second_emb.vector @ b > 0.8
    assert first.boxes.shape == (8, 4) and len(second.scores) == len(second.frames)


def test_two_jumps_give_three_pieces_and_a_single_crop_stays_whole() -> None:
    a, b, c = _person(1), _person(2), _person(3)
    tracklet, embedding = _tracklet([a, b, b, c])
    pieces = split_on_appearance(tracklet, embedding, 0.4)
    assert [[crop.frame for crop in e.crops] for _, e in pieces] == [[0], [10, 20], [30]]
    # every observation is kept, in order, once
    assert np.concatenate([t.frames for t, _ in pieces]).tolist() == tracklet.frames.tolist()
