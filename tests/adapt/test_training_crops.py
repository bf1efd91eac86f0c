"""Crops re-read from a library's media are the crops the indexer embedded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from reidkit.adapt.crops import library_crops, photometric_views
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


def test_photometric_views_change_colours_not_shape() -> None:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (120, 50, 3), dtype=np.uint8)
    views = [photometric_views(crop, rng) for _ in range(5)]
    assert all(v.dtype == np.uint8 and v.ndim == 3 for v in views)
    assert all(v.shape[0] >= 108 and v.shape[1] >= 40 for v in views)
    assert any(abs(float(v.mean()) - float(crop.mean())) > 3 for v in views)
