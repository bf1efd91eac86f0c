"""Adapted models: composed ONNX (parity), sidecar and model card, loading through the registry by name,
``reidkit models``, and ``adapt_library`` end to end on a synthetic library."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from reidkit.adapt import AdaptConfig, adapt_library
from reidkit.adapt.export import check_composed, compose_onnx
from reidkit.cli import main
from reidkit.core.head import apply_head, apply_heads
from reidkit.core.vectors import l2_normalise
from reidkit.embed.factory import build_embedder
from reidkit.index.library import Library
from reidkit.zoo.calibration import calibration_for
from reidkit.zoo.registry import MODELS
from tests.adapt.helpers import TINY_INPUT, tiny_reid_onnx, tracklet, vector_library

DIM = 8


@pytest.fixture(autouse=True)
def adapted_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "adapted"
    monkeypatch.setenv("REIDKIT_ADAPTED_DIR", str(folder))
    return folder


def crops(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 255, (int(rng.integers(20, 60)), int(rng.integers(10, 30)), 3), dtype=np.uint8)
        for _ in range(n)
    ]


@pytest.mark.parametrize("head_kind", ["linear", "mlp", "projection then mlp"])
def test_composed_model_is_base_plus_heads(tmp_path: Path, head_kind: str) -> None:
    base = tiny_reid_onnx(tmp_path / "base.onnx", DIM)
    rng = np.random.default_rng(1)
    mlp = {
        "w1": rng.normal(0, 0.3, (DIM, 5)).astype(np.float32),
        "b1": rng.normal(0, 0.1, 5).astype(np.float32),
        "w2": rng.normal(0, 0.3, (5, DIM)).astype(np.float32),
    }
    direction = l2_normalise(rng.normal(size=(1, DIM)))
    heads = {
        "linear": [{"w": rng.normal(0, 0.3, (DIM, DIM)).astype(np.float32)}],
        "mlp": [mlp],
        "projection then mlp": [{"w": -(direction.T @ direction)}, mlp],
    }[head_kind]
    out = tmp_path / "adapted.onnx"
    compose_onnx(base, heads, out)
    assert len(_heads_of(str(out))) == len(heads)
    parity = check_composed(base, out, heads, crops(6), TINY_INPUT)
    assert parity.cosine_min > 0.9999
    base_vectors = build_embedder(base).embed(crops(6, 2))
    adapted = build_embedder(out)  # its sidecar is not written yet: fed by its input shape
    assert adapted.dim == DIM
    # The head changes the vectors (a test of a head that did nothing could not fail).
    assert float(np.min(np.sum(apply_heads(heads, base_vectors) * base_vectors, axis=1))) < 0.99


def synthetic_library(tmp_path: Path) -> Path:
    """Six people in three videos, each seen in two videos, two at a time on screen (apart)."""
    base = tiny_reid_onnx(tmp_path / "base.onnx", DIM)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, DIM))
    camera_shift = rng.normal(0, 0.6, size=(3, DIM))  # what each camera does to everyone

    def look(person: int, camera: int) -> np.ndarray:
        return centres[person] + camera_shift[camera] + rng.normal(0, 0.3, (4, DIM))

    media = {}
    for camera in range(3):
        people = [(camera + k) % 6 for k in (0, 2, 4)] + [(camera + k) % 6 for k in (1, 3, 5)]
        media[f"v{camera}.mp4"] = [
            tracklet(
                i + 1,
                range(30 * (i // 2), 30 * (i // 2) + 20),
                ((10.0, 20, 60, 200) if i % 2 else (200.0, 20, 250, 200)),
                look(p, camera),
            )
            for i, p in enumerate(people)
        ]
    vector_library(tmp_path / "lib", base, media, DIM).close()
    return tmp_path / "lib"


def test_adapt_library_end_to_end(tmp_path: Path, adapted_dir: Path) -> None:
    root = synthetic_library(tmp_path)
    with Library.open(root) as lib:
        before = {t.id: lib.crop_vectors(t.id) for t in lib.tracklets()}
        base_sha = lib.model_sha256
    config = AdaptConfig(
        epochs=4, epochs_per_round=2, crops_per_tracklet=0, min_tracklets=10, min_impostor_pairs=50
    )
    report = adapt_library(root, config=config, apply="all")  # the media are gone: stored crops only
    assert report.reembedded and report.tracklets == 18
    assert 1 <= len([r for r in report.rounds if r.losses]) <= 2
    # The library now belongs to the adapted model: name, file and content hash.
    with Library.open(root) as lib:
        assert lib.model == report.model_name
        assert Path(lib.model_file or "") == Path(report.model_path).resolve()
        assert lib.model_sha256 != base_sha
        changed = [float(np.abs(lib.crop_vectors(i) - v).max()) for i, v in before.items()]
        assert max(changed) > 1e-3
    # Through the registry, by name: embedder, calibration (the carried-over one in its sidecar).
    embedder = build_embedder(report.model_name)
    assert embedder.name == report.model_name and embedder.dim == DIM
    assert report.model_name in MODELS
    calibration = calibration_for(report.model_name)
    assert calibration.measured and calibration.threshold == pytest.approx(report.calibration["threshold"])
    # The stored vectors are what the adapted model gives: library and query vectors stay comparable.
    base = build_embedder(tmp_path / "base.onnx")
    pictures = crops(4, 5)
    from reidkit.zoo.sidecar import read_sidecar

    sidecar = read_sidecar(report.model_path)
    assert sidecar is not None
    card = sidecar["adaptation"]
    assert card["base_model"] == "base" and card["library"] == str(root.resolve())
    assert card["tracklets"] == 18 and card["rounds"]
    np.testing.assert_allclose(
        embedder.embed(pictures),
        apply_heads(_heads_of(report.model_path), base.embed(pictures)),
        atol=1e-5,
    )
    # Search works on the re-embedded library with the adapted model, found by the library's name for it.
    from reidkit.search.engine import embedder_for

    assert embedder_for(Library.open(root)).name == report.model_name


def _heads_of(path: str) -> list[dict[str, np.ndarray]]:
    """The heads a composed model file applies, in order, read from its initialisers."""
    import onnx
    from onnx import numpy_helper

    heads: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for init in onnx.load(path).graph.initializer:
        found = re.fullmatch(r"adapt(\d+)h(\d+)_(\w+)", init.name)  # composition, head, weight
        if found:
            heads.setdefault((int(found[1]), int(found[2])), {})[found[3]] = numpy_helper.to_array(init)
    return [heads[k] for k in sorted(heads)]


def test_models_command_lists_adapted_models_with_their_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = synthetic_library(tmp_path)
    report = adapt_library(
        root,
        config=AdaptConfig(epochs=2, crops_per_tracklet=0, min_tracklets=10, min_impostor_pairs=50),
        apply="none",
    )
    with Library.open(root) as lib:
        assert lib.model == "base" and lib.verdict_head is None  # --apply none leaves the library alone
    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if report.model_name in x)
    assert line.startswith("adapted") and str(root.resolve()) in line and "from base" in line


def test_adapt_refuses_a_tiny_library(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tiny_reid_onnx(tmp_path / "base.onnx", DIM)
    vector_library(
        tmp_path / "lib", base, {"v.mp4": [tracklet(1, range(5), (0, 0, 10, 30), np.ones((2, DIM)))]}, DIM
    ).close()
    assert main(["adapt", "--library", str(tmp_path / "lib")]) == 2
    assert "adaptation needs at least" in capsys.readouterr().err


def test_adapt_refuses_a_library_of_one_video(tmp_path: Path) -> None:
    """No pairs of tracklets from two videos: no impostors to carry the calibration over on."""
    from reidkit.core.errors import LibraryError

    base = tiny_reid_onnx(tmp_path / "base.onnx", DIM)
    rng = np.random.default_rng(0)
    one_video = [
        tracklet(i + 1, range(3 * i, 3 * i + 3), (0, 0, 10, 30), rng.normal(size=(2, DIM))) for i in range(25)
    ]
    vector_library(tmp_path / "lib", base, {"v.mp4": one_video}, DIM).close()
    with pytest.raises(LibraryError, match="pairs of tracklets from different videos"):
        adapt_library(tmp_path / "lib", config=AdaptConfig(crops_per_tracklet=0))
    with Library.open(tmp_path / "lib") as lib:
        assert lib.model == "base"


def test_adapt_by_default_judges_verdicts_with_the_adapted_model_and_ranks_as_before(tmp_path: Path) -> None:
    from reidkit.search.engine import find_moments

    root = synthetic_library(tmp_path)
    with Library.open(root) as lib:
        before_vectors = lib.tracklet_vectors()[1]
        query = before_vectors[0]
        before = find_moments(lib, query, top=10)[0]
    report = adapt_library(
        root, config=AdaptConfig(epochs=2, crops_per_tracklet=0, min_tracklets=10, min_impostor_pairs=50)
    )
    assert report.applied == "verdicts" and not report.reembedded
    with Library.open(root) as lib:
        assert lib.model == "base"
        np.testing.assert_array_equal(lib.tracklet_vectors()[1], before_vectors)  # ranking untouched
        head = lib.verdict_head
        assert head is not None and head.model == report.model_name
        for key, weights in _heads_of(report.model_path)[-1].items():  # the exported model's own head
            np.testing.assert_array_equal(head.arrays[key], weights)
        moments, verdict, _ = find_moments(lib, query, top=10)
    assert verdict.scored_by == report.model_name
    assert [m.tracklet_ids for m in moments] == [m.tracklet_ids for m in before]  # the same order
    # Each score is the adapted space's: the head on the query and on the visit's tracklet vectors.
    mapped = head.map(np.stack([query]))[0]
    with Library.open(root) as lib:
        for m in moments:
            visit = apply_head(head.arrays, lib.vectors_of(list(m.tracklet_ids)))
            assert m.score == pytest.approx(
                float(mapped @ (visit.mean(0) / np.linalg.norm(visit.mean(0)))), abs=1e-5
            )
    assert [m.score for m in moments] != [m.score for m in before]


def test_the_cli_says_what_the_library_now_uses_the_adapted_model_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    import reidkit.adapt

    small = functools.partial(AdaptConfig, crops_per_tracklet=0, min_tracklets=10, min_impostor_pairs=50)
    monkeypatch.setattr(reidkit.adapt, "AdaptConfig", small)  # the synthetic library's 18 tracklets
    root = synthetic_library(tmp_path)
    assert main(["adapt", "--library", str(root), "--apply", "everything"]) == 2
    assert "--apply is one of verdicts, all, none" in capsys.readouterr().err
    assert main(["adapt", "--library", str(root), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "ranking by its vectors, unchanged" in out and "visits linked" not in out
    with Library.open(root) as lib:
        assert lib.verdict_head is not None and lib.verdict_head.model in out
