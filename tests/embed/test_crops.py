"""CropSampler: quality scoring, border cuts, time spread, bounded memory; pooling."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.core.types import Crop, Frame, Tracks
from reidkit.embed import CropSampler, CropSamplerConfig, embed_tracklet, embed_tracklets, pool_vectors
from reidkit.embed.crops import CropQualityConfig, box_quality, cut_crop, overlapping, select_spread

W, H = 320, 240
CFG = CropQualityConfig()


def frame(index: int) -> Frame:
    image = np.full((H, W, 3), index % 256, np.uint8)
    return Frame(image=image, index=index, time=index / 10.0)


def tracks(*rows: tuple[int, list[float], float]) -> Tracks:
    ids = np.array([r[0] for r in rows], np.int64)
    boxes = np.array([r[1] for r in rows], np.float32).reshape(-1, 4)
    scores = np.array([r[2] for r in rows], np.float32)
    return Tracks(boxes, scores, ids)


def test_quality_prefers_tall_confident_uncut_upright_boxes() -> None:
    tall = box_quality(np.array([100, 50, 150, 200]), 0.9, W, H, CFG)
    short = box_quality(np.array([100, 50, 125, 110]), 0.9, W, H, CFG)
    unsure = box_quality(np.array([100, 50, 150, 200]), 0.4, W, H, CFG)
    cut = box_quality(np.array([100, 0, 150, 150]), 0.9, W, H, CFG)  # head cut by the top edge
    wide = box_quality(np.array([50, 50, 250, 200]), 0.9, W, H, CFG)  # two people merged
    assert tall > short > 0 and tall > unsure and tall > cut and tall > wide
    assert cut == pytest.approx(tall * CFG.border_factor)


@pytest.mark.parametrize(
    "box",
    [[10, 10, 10, 100], [50, 50, 40, 40], [0, 0, 3, 3], [np.nan, 0, 50, 100], [400, 300, 500, 450]],
)
def test_degenerate_boxes_are_skipped(box: list[float]) -> None:
    assert box_quality(np.array(box, np.float32), 0.9, W, H, CFG) == 0.0
    sampler = CropSampler()
    sampler.observe(frame(0), tracks((1, box, 0.9)))
    assert sampler.select(1) == []


def test_cut_crop_adds_margin_clips_and_shrinks() -> None:
    image = np.arange(H * W * 3, dtype=np.uint32).astype(np.uint8).reshape(H, W, 3)
    crop = cut_crop(image, np.array([100, 20, 140, 120]), margin=0.1, max_height=256)
    assert crop.shape == (120, 48, 3)
    assert cut_crop(image, np.array([-50, -50, 40, 600]), margin=0.0, max_height=100).shape[0] == 100
    assert cut_crop(image, np.array([400, 10, 500, 90])).size == 0
    big = np.zeros((1000, 600, 3), np.uint8)
    assert cut_crop(big, np.array([0, 0, 300, 900]), margin=0.0, max_height=256).shape == (256, 85, 3)


def test_sampler_keeps_the_best_crop_and_avoids_border_cuts() -> None:
    sampler = CropSampler(CropSamplerConfig(k=1, bins=1))
    sampler.observe(frame(0), tracks((7, [100, 0, 140, 120], 0.95)))  # cut by the top edge
    sampler.observe(frame(1), tracks((7, [100, 40, 140, 160], 0.9)))  # whole
    sampler.observe(frame(2), tracks((7, [100, 40, 130, 80], 0.9)))  # small
    chosen = sampler.select(7)
    assert [c.frame for c in chosen] == [1]
    assert chosen[0].image.shape[0] > 120  # includes the margin
    assert sampler.select(7) == []  # forgotten once selected


def test_sampler_spreads_over_time_with_bounded_memory() -> None:
    cfg = CropSamplerConfig(k=4, bins=8)
    sampler = CropSampler(cfg)
    # A long track whose best boxes all sit at its very beginning: the choice must still span its life.
    for i in range(1000):
        height = 150 if i < 20 else 100
        sampler.observe(frame(i), tracks((3, [100, 40, 140, 40 + height], 0.9)))
        assert len(sampler.candidates(3)) <= cfg.bins
    chosen = sampler.select(3)
    frames = sorted(c.frame for c in chosen)
    assert len(chosen) == 4
    assert frames[0] < 250 and frames[-1] >= 750
    assert sampler.crops_cut < 200  # most boxes never get cut


def test_sampler_handles_many_tracks_independently() -> None:
    sampler = CropSampler(CropSamplerConfig(k=2, bins=4))
    for i in range(10):
        sampler.observe(frame(i), tracks((1, [10, 10, 50, 110], 0.9), (2, [200, 20, 250, 150], 0.8)))
    assert sampler.track_ids() == [1, 2]
    one, two = sampler.select(1), sampler.select(2)
    assert len(one) == len(two) == 2
    assert all(c.box[0] == 10 for c in one) and all(c.box[0] == 200 for c in two)
    assert len(sampler) == 0


def crop(frame_index: int, quality: float, value: int = 0) -> Crop:
    return Crop(np.full((8, 4, 3), value, np.uint8), frame_index, frame_index / 10, np.zeros(4), 0.9, quality)


def test_select_spread_drops_poor_crops_and_orders_best_first() -> None:
    crops = [crop(0, 0.9), crop(10, 0.1), crop(20, 0.8), crop(30, 0.85)]
    chosen = select_spread(crops, k=3)
    assert [c.frame for c in chosen] == [0, 30, 20]


def test_pool_vectors_weighted_and_unit() -> None:
    v = np.eye(3, dtype=np.float32)
    pooled = pool_vectors(v[:2], np.array([3.0, 1.0]))
    assert np.linalg.norm(pooled) == pytest.approx(1.0)
    assert pooled[0] == pytest.approx(3 / np.sqrt(10))
    assert pool_vectors(v[:2], np.array([0.0, 0.0]))[0] == pytest.approx(1 / np.sqrt(2))
    cancelled = pool_vectors(np.stack([v[0], -v[0]]), np.array([1.0, 1.0]))
    assert np.linalg.norm(cancelled) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        pool_vectors(np.zeros((0, 3)))


class ColourEmbedder:
    """Mean colour as a 3-D 'appearance'; counts its calls."""

    name = "colour"
    dim = 3

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        self.calls += 1
        out = np.array([c.reshape(-1, 3).mean(0) + 1.0 for c in crops], np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_embed_tracklets_batches_and_pools() -> None:
    embedder = ColourEmbedder()
    groups = [[crop(0, 0.5, 10), crop(1, 0.9, 200)], [], [crop(5, 0.7, 50)]]
    out = embed_tracklets(embedder, groups)
    assert embedder.calls == 1 and out[1] is None
    first = out[0]
    assert first is not None and first.crop_vectors.shape == (2, 3)
    assert first.best.frame == 1 and first.quality == pytest.approx(0.9)  # best crop first
    assert np.linalg.norm(first.vector) == pytest.approx(1.0, abs=1e-6)
    single = embed_tracklet(embedder, [crop(5, 0.7, 50)])
    assert out[2] is not None and np.allclose(single.vector, out[2].vector)
    with pytest.raises(ValueError):
        embed_tracklet(embedder, [])


def test_short_tracks_get_fewer_crops() -> None:
    sampler = CropSampler(CropSamplerConfig(k=8, bins=16, observations_per_crop=8, min_k=2))
    for i in range(100):
        sampler.observe(frame(i), tracks((1, [10, 10, 50, 110], 0.9)))
        if i < 5:
            sampler.observe(frame(i), tracks((2, [200, 20, 250, 150], 0.8)))
        if i < 20:
            sampler.observe(frame(i), tracks((3, [100, 20, 150, 150], 0.8)))
    assert [len(sampler.select(t)) for t in (1, 2, 3)] == [8, 2, 3]


def test_overlapping_boxes() -> None:
    boxes = np.array(
        [
            [0, 0, 40, 100],  # 0: touches 1 at x = 40 but does not overlap it
            [40, 0, 80, 100],  # 1
            [300, 0, 340, 100],  # 2: overlapped by 3
            [320, 20, 360, 120],  # 3
            [300, 150, 340, 250],  # 4: under 2, heights do not overlap
        ],
        np.float32,
    )
    assert overlapping(boxes).tolist() == [False, False, True, True, False]
    assert overlapping(boxes[:1]).tolist() == [False]


def test_people_who_meet_others_get_a_few_more_crops() -> None:
    cfg = CropSamplerConfig(k=8, observations_per_crop=8, crowded_observations_per_crop=4, crowded_extra=2)
    sampler = CropSampler(cfg)
    for i in range(40):
        rows = [(1, [10, 10, 50, 110], 0.9), (3, [150 + 2 * i, 20, 200 + 2 * i, 150], 0.8)]
        if 10 <= i < 20:  # person 2 walks partly in front of person 3 for 10 frames
            rows.append((2, [190 + 2 * i, 20, 240 + 2 * i, 150], 0.8))
        sampler.observe(frame(i), tracks(*rows))
    # 1: 40 observations apart, 40 / 8; 3: 30 apart and 10 overlapped, 30 / 8 + min(2, 10 / 4);
    # 2: always overlapped, 10 / 8 -> min_k, or 0 / 8 + min(2, 10 / 4): no more than min_k.
    assert [len(sampler.select(t)) for t in (1, 3, 2)] == [5, 6, 2]
    assert sampler.budget(seen=400, crowded=0) == 8  # a long walk alone: k
    assert sampler.budget(seen=400, crowded=400) == 8  # a long walk in a group: never fewer
    assert sampler.budget(seen=60, crowded=10) == 9  # ceil(50 / 8) + 2
    assert sampler.budget(seen=400, crowded=10) == 10  # at most k + crowded_extra
    assert sampler.budget(seen=20, crowded=8) == 4  # ceil(12 / 8) + 2 against ceil(20 / 8)
    assert sampler.budget(seen=3, crowded=0) == cfg.min_k
    # Restates the tuned default config (CropSamplerConfig's crowded_extra): one crop more.
    assert CropSampler().budget(seen=20, crowded=8) == 3


def test_drop_idle_forgets_ended_tracks() -> None:
    sampler = CropSampler()
    sampler.observe(frame(0), tracks((1, [10, 10, 50, 110], 0.9), (2, [200, 20, 250, 150], 0.8)))
    sampler.observe(frame(5), tracks((2, [0, 0, 1, 1], 0.8)))  # degenerate, but the track was seen
    assert sampler.drop_idle(10, max_idle=5) == [1]
    assert sampler.track_ids() == [2]
