"""``reidkit calibrate``: a model's score calibration measured on labelled data and stored in its sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reidkit.cli import main
from reidkit.evaluate.calibrate import calibration_numbers, fit_logistic
from reidkit.zoo.calibration import calibration_for
from reidkit.zoo.sidecar import read_sidecar
from tests.cli.test_eval import person_folder, tiny_colour_model


def test_logistic_fit_recovers_a_known_curve() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(-0.2, 1.0, 40_000)
    p = 1 / (1 + np.exp(-(20.0 * scores - 10.0)))
    labels = (rng.random(len(scores)) < p).astype(float)
    slope, bias = fit_logistic(scores, labels)
    # Balanced weighting shifts the bias by log(n_neg / n_pos); the slope is unchanged.
    shift = np.log((labels == 0).sum() / labels.sum())
    assert abs(slope - 20.0) < 1.5 and abs(bias - shift + 10.0) < 1.0


def test_thresholds_sit_in_the_different_people_tail() -> None:
    rng = np.random.default_rng(1)
    pids = np.repeat(np.arange(60), 2)
    centres = rng.standard_normal((60, 32))
    features = centres[pids] + 0.6 * rng.standard_normal((120, 32))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    cams = np.tile([0, 1], 60)
    q, g = cams == 0, cams == 1
    numbers = calibration_numbers(features[q], features[g], pids[q], pids[g], cams[q], cams[g])
    scores = features[q] @ features[g].T
    different = scores[pids[q][:, None] != pids[g][None, :]]
    assert np.mean(different > numbers["threshold"]) == pytest.approx(1e-2, abs=2e-3)
    assert numbers["link_threshold"] > numbers["threshold"]
    assert numbers["pairs"] == 60 * 60


def test_calibrate_writes_the_sidecar_that_search_reads(tmp_path: Path, capsys) -> None:
    model = tmp_path / "colour.onnx"
    tiny_colour_model(model)
    person_folder(tmp_path / "people")
    assert read_sidecar(model) is None
    assert not calibration_for(str(model)).measured  # a foreign file: the rough default
    args = ["calibrate", "-m", str(model), "-d", "folder", "--root", str(tmp_path / "people"), "--json"]
    assert main([*args, "--write"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    meta = read_sidecar(model)
    assert meta is not None and meta["calibration"] == numbers
    assert numbers["measured_on"] == "folder"
    measured = calibration_for(str(model))
    assert measured.measured and measured.threshold == numbers["threshold"]
    assert measured.slope == numbers["logit_slope"]


def test_a_library_of_ones_own_model_file_is_judged_by_that_files_calibration(tmp_path: Path) -> None:
    from reidkit.embed.factory import build_embedder
    from reidkit.index.library import Library
    from reidkit.search.verdict_space import VerdictSpace

    model = tmp_path / "mine.onnx"
    tiny_colour_model(model)
    person_folder(tmp_path / "people")
    assert (
        main(["calibrate", "-m", str(model), "-d", "folder", "--root", str(tmp_path / "people"), "--write"])
        == 0
    )
    embedder = build_embedder(model)
    with Library.create_or_open(tmp_path / "lib", embedder.name, embedder.dim, model_file=model) as lib:
        assert lib.model == "mine" and not calibration_for("mine").measured  # no registry entry
        judged = VerdictSpace.of(lib).calibration
        assert judged.measured and judged == calibration_for(str(model))
