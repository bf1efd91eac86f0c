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


def test_indexing_cuts_a_track_that_jumps_from_one_person_to_another(tmp_path) -> None:
    """Pins the product decision: indexing (default options, a calibrated model) splits tracklets.

    The fake tracker follows red along the top, then jumps to blue below at frame 20, as a tracker
    can when two people cross; the library must hold the two people apart.
    """
    from reidkit.core.types import Tracks
    from reidkit.index.indexer import index_media
    from reidkit.index.library import Library
    from tests.index.test_indexer import BLUE, RED, BlobDetector, ColourEmbedder, query, write_scene

    class JumpingTracker:
        buffer = 30  # source frames a lost track is kept (the Tracker protocol)

        def reset(self) -> None: ...

        def update(self, detections, frame_index: int) -> Tracks:
            boxes = np.asarray(detections.boxes, np.float32).reshape(-1, 4)
            rows = np.argsort(boxes[:, 1])  # top (red) first
            if len(rows) == 0 or (frame_index >= 20 and len(rows) < 2):
                return Tracks.empty()
            row = int(rows[0] if frame_index < 20 else rows[-1])
            return Tracks(boxes[row : row + 1], np.full(1, 0.9, np.float32), np.ones(1, np.int64))

    class CalibratedColourEmbedder(ColourEmbedder):
        name = "reidkit-retail-0287-cuhk03"  # a model with a measured "same person" threshold

    report = index_media(
        write_scene(tmp_path / "walk.mp4"),
        tmp_path / "lib",
        detector=BlobDetector(),
        model=CalibratedColourEmbedder(),
        tracker_factory=JumpingTracker,
    )
    assert report.files[0].tracklets_split == 1
    library = Library.open(tmp_path / "lib")
    tracklets = library.tracklets()
    assert len(tracklets) == 2
    first, second = sorted(tracklets, key=lambda t: t.start_frame)
    assert first.end_frame < 20 <= second.start_frame
    ids, vectors = library.tracklet_vectors()
    by_id = dict(zip(ids.tolist(), vectors, strict=True))
    assert float(by_id[first.id] @ query(RED)) > 0.9 and float(by_id[second.id] @ query(BLUE)) > 0.9
