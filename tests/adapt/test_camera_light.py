"""The cameras' light found in a library's vectors without labels, projected out, and applied by adapt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reidkit.adapt import AdaptConfig, adapt_library
from reidkit.adapt.camera_light import MIN_VIDEOS, camera_bias
from reidkit.core.head import apply_head
from reidkit.core.vectors import l2_normalise
from reidkit.index.library import Library
from tests.adapt.helpers import tiny_reid_onnx, tracklet, vector_library

DIM = 16
STAND_OUT = AdaptConfig().camera_bias


def footage(
    light: float, videos: int = 8, per_video: int = 6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, video of each, person of each, the light's direction): each person walks through two
    videos, one under each of two lights, which move everyone by ``light`` along one direction."""
    rng = np.random.default_rng(seed)
    direction = l2_normalise(rng.normal(size=(1, DIM)))[0]
    people = l2_normalise(rng.normal(size=(videos * per_video // 2, DIM)))
    rows, cams, who = [], [], []
    for v in range(videos):
        sign = 1.0 if v % 2 else -1.0  # two lights, alternating videos
        block = v // 2 if v % 2 == 0 else (v // 2 + 1) % (videos // 2)  # the people of this video
        for k in range(per_video):
            person = block * per_video + k
            rows.append(people[person] + sign * light * direction + rng.normal(0, 0.15, DIM))
            cams.append(v)
            who.append(person)
    return l2_normalise(np.array(rows)), np.array(cams), np.array(who), direction


def cross_light_rank1(vectors: np.ndarray, cams: np.ndarray, who: np.ndarray) -> float:
    """Share of tracklets whose nearest tracklet from another video is the same person."""
    scores = vectors @ vectors.T
    scores[cams[:, None] == cams[None, :]] = -np.inf
    return float(np.mean(who[np.argmax(scores, axis=1)] == who))


def test_a_light_shared_by_the_cameras_is_found_and_removing_it_helps() -> None:
    vectors, cams, who, direction = footage(light=0.8)
    bias = camera_bias(vectors, cams, STAND_OUT)
    assert len(bias.directions) == 1
    assert abs(float(bias.directions[0] @ direction)) > 0.95  # the light, not a person
    debiased = apply_head(bias.head, vectors)
    np.testing.assert_allclose(np.linalg.norm(debiased, axis=1), 1.0, atol=1e-5)
    assert np.abs(debiased @ bias.directions[0]).max() < 1e-4
    assert cross_light_rank1(debiased, cams, who) > cross_light_rank1(vectors, cams, who) + 0.2
    assert "1 direction(s) removed" in bias.summary()


def test_footage_under_one_light_keeps_every_direction() -> None:
    vectors, cams, _, _ = footage(light=0.0)
    bias = camera_bias(vectors, cams, STAND_OUT)
    assert not bias and len(bias.f_ratios) == 7  # every direction of the 8 videos' means was weighed
    np.testing.assert_allclose(apply_head(bias.head, vectors), vectors, atol=1e-6)


def test_videos_of_one_person_each_are_not_mistaken_for_cameras() -> None:
    # Every video's mean is its person: every direction separates the videos, none stands out.
    rng = np.random.default_rng(3)
    people = l2_normalise(rng.normal(size=(8, DIM)))
    vectors = l2_normalise(np.repeat(people, 5, axis=0) + rng.normal(0, 0.1, (40, DIM)))
    cams = np.repeat(np.arange(8), 5)
    assert not camera_bias(vectors, cams, STAND_OUT)


def test_too_few_videos_or_switched_off_finds_nothing() -> None:
    vectors, cams, _, _ = footage(light=0.8)
    few = cams < MIN_VIDEOS - 1
    assert not camera_bias(vectors[few], cams[few], STAND_OUT)
    assert not camera_bias(vectors, cams, 0.0)
    # Videos of a single tracklet do not count as cameras: with them only, there is nothing to weigh.
    single = np.concatenate([np.flatnonzero(cams == v)[:1] for v in range(8)])
    assert not camera_bias(vectors[single], cams[single], STAND_OUT)
    with_singles = np.concatenate([vectors, vectors[single]])
    counted = camera_bias(with_singles, np.concatenate([cams, 100 + np.arange(8)]), STAND_OUT)
    assert counted.videos == 8 and len(counted.directions) == 1


def lit_library(tmp_path: Path) -> Path:
    """The footage above as a library: eight videos, six people in each, two at a time on screen."""
    base = tiny_reid_onnx(tmp_path / "base.onnx", DIM)
    vectors, cams, _, _ = footage(light=0.8)
    rng = np.random.default_rng(1)
    media = {}
    for v in range(cams.max() + 1):
        rows = vectors[cams == v]
        media[f"v{v}.mp4"] = [
            tracklet(
                i + 1,
                range(30 * (i // 2), 30 * (i // 2) + 20),
                ((10.0, 20, 60, 200) if i % 2 else (200.0, 20, 250, 200)),
                row + rng.normal(0, 0.05, (3, DIM)),
            )
            for i, row in enumerate(rows)
        ]
    vector_library(tmp_path / "lib", base, media, DIM).close()
    return tmp_path / "lib"


@pytest.fixture(autouse=True)
def adapted_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "adapted"
    monkeypatch.setenv("REIDKIT_ADAPTED_DIR", str(folder))
    return folder


CONFIG = AdaptConfig(
    epochs=2, epochs_per_round=2, crops_per_tracklet=0, min_tracklets=10, min_impostor_pairs=50
)


def test_adapt_ranks_without_the_light_and_judges_with_the_head(tmp_path: Path) -> None:
    from reidkit.embed.factory import build_embedder
    from reidkit.search.engine import embedder_for
    from reidkit.zoo.sidecar import read_sidecar

    root = lit_library(tmp_path)
    with Library.open(root) as lib:
        base_model, before = lib.model, {t.id: lib.crop_vectors(t.id) for t in lib.tracklets()}
    report = adapt_library(root, config=CONFIG)  # the default: apply="verdicts"
    assert report.camera_bias["directions_removed"] == 1
    assert report.debiased_name is not None and report.debiased_path is not None
    assert report.ranking_model == report.debiased_name != base_model
    with Library.open(root) as lib:
        # Ranking: the stored vectors are the base ones with the light removed, by the debiased model.
        assert lib.model == report.debiased_name
        head = lib.verdict_head
        assert head is not None and head.model == report.model_name
        card = read_sidecar(Path(report.debiased_path))["adaptation"]
        assert card["camera_bias"]["directions_removed"] == 1 and len(card["camera_bias"]["f_ratios"]) == 7
        for t in lib.tracklets():
            expected = apply_head({"w": _projection(report.debiased_path)}, before[t.id])
            np.testing.assert_allclose(lib.crop_vectors(t.id), expected, atol=1e-5)
        # A query photo goes through the same model file as the library (resolved by its name).
        embedder = embedder_for(lib)
        assert embedder.name == report.debiased_name
    crops = [np.random.default_rng(i).integers(0, 255, (32, 16, 3), dtype=np.uint8) for i in range(3)]
    base = build_embedder(tmp_path / "base.onnx").embed(crops)
    debiased = build_embedder(Path(report.debiased_path)).embed(crops)
    np.testing.assert_allclose(
        debiased, apply_head({"w": _projection(report.debiased_path)}, base), atol=1e-4
    )
    # The adapted model is base -> without the light -> head: what the verdicts are judged in.
    adapted = build_embedder(Path(report.model_path)).embed(crops)
    np.testing.assert_allclose(adapted, head.map(debiased), atol=1e-4)


def test_apply_all_re_embeds_with_the_whole_chain(tmp_path: Path) -> None:
    root = lit_library(tmp_path)
    report = adapt_library(root, config=CONFIG, apply="all")
    assert report.ranking_model == report.model_name
    with Library.open(root) as lib:
        assert lib.model == report.model_name and lib.verdict_head is None


def test_switched_off_the_library_keeps_its_vectors(tmp_path: Path) -> None:
    root = lit_library(tmp_path)
    with Library.open(root) as lib:
        base_model = lib.model
    report = adapt_library(root, config=AdaptConfig(**{**CONFIG.__dict__, "camera_bias": 0.0}))
    assert report.debiased_name is None and report.ranking_model == base_model
    with Library.open(root) as lib:
        assert lib.model == base_model and lib.verdict_head is not None


def _projection(model_file: str) -> np.ndarray:
    """The debiased model's one head (``w = -U^T U``), read from its file."""
    import onnx
    from onnx import numpy_helper

    (weights,) = [
        numpy_helper.to_array(i) for i in onnx.load(model_file).graph.initializer if i.name == "adapt0h0_w"
    ]
    return np.asarray(weights)


def test_the_cli_says_the_light_was_removed_and_what_ranks_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    import reidkit.adapt
    from reidkit.cli import main

    small = functools.partial(AdaptConfig, crops_per_tracklet=0, min_tracklets=10, min_impostor_pairs=50)
    monkeypatch.setattr(reidkit.adapt, "AdaptConfig", small)
    root = lit_library(tmp_path)
    assert main(["adapt", "--library", str(root), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "the cameras' light: 1 direction(s) removed" in out
    with Library.open(root) as lib:
        assert f"library: ranking by {lib.model} (re-embedded without the cameras' light)" in out
        assert lib.verdict_head is not None and f"scores and verdicts by {lib.verdict_head.model}" in out


def test_a_library_adapted_once_adapts_again_on_its_own_model(tmp_path: Path) -> None:
    from reidkit.embed.factory import build_embedder

    root = lit_library(tmp_path)
    first = adapt_library(root, config=CONFIG)
    again = adapt_library(root, config=CONFIG)  # its model is the debiased one now: composed on it
    assert again.base_model == first.debiased_name
    assert again.debiased_name is None  # the light is gone from its vectors already
    with Library.open(root) as lib:
        head = lib.verdict_head
        assert lib.model == first.debiased_name and head is not None and head.model == again.model_name
    crops = [np.random.default_rng(i).integers(0, 255, (32, 16, 3), dtype=np.uint8) for i in range(3)]
    debiased = build_embedder(Path(str(first.debiased_path))).embed(crops)
    np.testing.assert_allclose(
        build_embedder(Path(again.model_path)).embed(crops), head.map(debiased), atol=1e-4
    )


def test_light_only_re_embeds_without_training_and_without_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = lit_library(tmp_path)
    with Library.open(root) as lib:
        base_model, before = lib.model, {t.id: lib.crop_vectors(t.id) for t in lib.tracklets()}
    script = (
        "import sys, json; from reidkit.adapt import AdaptConfig, remove_camera_light; "
        f"r = remove_camera_light({str(root)!r}, config=AdaptConfig(min_tracklets=10, min_impostor_pairs=50)); "
        "print(json.dumps([r.model_name, r.model_path, 'torch' in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    name, path, imported_torch = json.loads(done.stdout.strip().splitlines()[-1])
    assert not imported_torch
    with Library.open(root) as lib:
        assert lib.model == name != base_model and lib.verdict_head is None
        for t in lib.tracklets():
            expected = apply_head({"w": _projection(path)}, before[t.id])
            np.testing.assert_allclose(lib.crop_vectors(t.id), expected, atol=1e-5)


def test_light_only_leaves_footage_under_one_light_as_it_is(tmp_path: Path) -> None:
    from reidkit.adapt import remove_camera_light

    base = tiny_reid_onnx(tmp_path / "base.onnx", DIM)
    vectors, cams, _, _ = footage(light=0.0)
    media = {
        f"v{v}.mp4": [
            tracklet(i + 1, range(30 * i, 30 * i + 20), (10.0, 20, 60, 200), row[None])
            for i, row in enumerate(vectors[cams == v])
        ]
        for v in range(8)
    }
    vector_library(tmp_path / "lib", base, media, DIM).close()
    with Library.open(tmp_path / "lib") as lib:
        model, sha = lib.model, lib.model_sha256
    report = remove_camera_light(tmp_path / "lib", config=CONFIG)
    assert report.model_name is None and report.camera_bias["directions_removed"] == 0
    with Library.open(tmp_path / "lib") as lib:
        assert (lib.model, lib.model_sha256) == (model, sha)


def test_the_cli_light_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reidkit.cli import main

    root = lit_library(tmp_path)  # 48 tracklets, 1,008 pairs from two videos: enough for the defaults
    assert main(["adapt", "--library", str(root), "--light-only", "--apply", "all"]) == 2
    assert "--light-only trains nothing" in capsys.readouterr().err
    out_file = tmp_path / "mine.onnx"
    assert main(["adapt", "--library", str(root), "--light-only", "--output", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "1 direction(s) removed" in out and str(out_file) in out
    with Library.open(root) as lib:
        assert Path(lib.model_file) == out_file.resolve()
