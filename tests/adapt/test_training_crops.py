"""Crops re-read from a library's media are the crops the indexer embedded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from reidkit.adapt.adapt import AdaptConfig, training_views
from reidkit.adapt.crops import crop_counts, library_crops, photometric_views
from reidkit.adapt.labels import LibraryView
from reidkit.embed.factory import build_embedder
from reidkit.index.indexer import index_media
from reidkit.index.library import Library
from tests.adapt.helpers import tiny_reid_onnx
from tests.index.fakes import BackgroundDetector
from tests.synthetic import make_scene, write_video


def test_library_crops_match_the_indexed_crops(tmp_path: Path) -> None:
    model = tiny_reid_onnx(tmp_path / "tiny.onnx")
    clip = write_video(make_scene(2, 40, seed=3), tmp_path / "two.mp4")
    background = make_scene(people=[], n_frames=1, seed=3).frames[0]
    index_media([clip], tmp_path / "lib", detector=BackgroundDetector(background), model=str(model))
    embedder = build_embedder(model)
    db = sqlite3.connect(tmp_path / "lib" / "library.sqlite")
    stored = {
        (int(t), int(f)): np.frombuffer(v, np.float32)
        for t, f, v in db.execute("SELECT tracklet_id, frame, vector FROM crop_vectors")
    }
    with Library.open(tmp_path / "lib") as lib:
        batches = list(library_crops(lib, per_tracklet=50))
        records = {t.id: t for t in lib.tracklets()}
    assert len(batches) == 1
    batch = batches[0]
    assert set(batch.tracklet_ids.tolist()) == set(records)
    for tracklet_id, frame in zip(batch.tracklet_ids.tolist(), batch.frames.tolist(), strict=True):
        assert frame in records[tracklet_id].frames
    vectors = embedder.embed(batch.images)
    same = [
        float(vectors[i] @ stored[(t, f)])
        for i, (t, f) in enumerate(zip(batch.tracklet_ids.tolist(), batch.frames.tolist(), strict=True))
        if (t, f) in stored
    ]
    assert same and min(same) > 0.999  # the same pixels: the same frame, box, margin and size
    fewer = next(iter(library_crops(Library.open(tmp_path / "lib"), per_tracklet=2)))
    assert np.bincount(fewer.tracklet_ids).max() <= 2
    capped = list(library_crops(Library.open(tmp_path / "lib"), per_tracklet=50, budget=len(records)))
    assert sum(len(b.images) for b in capped) <= len(records)  # one crop each, at most
    assert np.bincount(capped[0].tracklet_ids).max() == 1
    with Library.open(tmp_path / "lib") as lib:
        view = LibraryView.of(lib)
        stored = {r.id: lib.crop_vectors(r.id) for r in view.tracklets}
        config = AdaptConfig(crops_per_tracklet=50, max_crops=3, flip=True)
        vectors, _, _ = training_views(lib, view, stored, embedder, config)
    assert len(vectors) == sum(map(len, stored.values())) + 2 * 3  # the stored ones + 3 crops, mirrored


def test_a_crop_budget_reads_fewer_per_tracklet_and_then_fewer_tracklets() -> None:
    assert crop_counts(100, 8, None).tolist() == [8] * 100
    assert crop_counts(100, 8, 8000).tolist() == [8] * 100  # within budget: untouched
    spread = crop_counts(1000, 8, 2500)
    assert spread.sum() == 2500 and set(spread.tolist()) == {2, 3}
    assert abs(int(spread[:500].sum()) - int(spread[500:].sum())) <= 2  # extras spread, not bunched
    few = crop_counts(5000, 8, 1000)
    assert few.sum() == 1000 and set(few.tolist()) == {0, 1}


def test_photometric_views_change_colours_not_shape() -> None:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (120, 50, 3), dtype=np.uint8)
    views = [photometric_views(crop, rng) for _ in range(5)]
    assert all(v.dtype == np.uint8 and v.ndim == 3 for v in views)
    assert all(v.shape[0] >= 108 and v.shape[1] >= 40 for v in views)
    assert any(abs(float(v.mean()) - float(crop.mean())) > 3 for v in views)
