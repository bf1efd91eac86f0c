"""``reidkit eval`` end to end: a synthetic folder dataset with a tiny ONNX model, and the real CUHK03 numbers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.cli import main
from tests.conftest import shared_path

JSON_KEYS = [
    "dataset",
    "model",
    "n_query",
    "n_gallery",
    "R1",
    "R5",
    "R10",
    "mAP",
    "mINP",
    "TPR@FPR=1e-2",
    "TPR@FPR=1e-3",
    "threshold@FPR=1e-2",
]


def tiny_colour_model(path: Path) -> None:
    """An ONNX 'ReID model' whose embedding is the mean colour of the crop (NCHW 1x3x16x8 -> 1x3)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["images"], ["pooled"], axes=[2, 3], keepdims=0)],
        "colour",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 16, 8])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def person_folder(root: Path) -> None:
    """Four people, each a distinct colour, three images each with two cameras."""
    rng = np.random.default_rng(0)
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    for pid, colour in enumerate(colours):
        for shot in range(3):
            image = np.clip(np.array(colour) + rng.integers(-20, 20, (16, 8, 3)), 0, 255).astype(np.uint8)
            (root / f"{pid:03d}").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / f"{pid:03d}" / f"c{1 + (shot > 0)}_{shot}.png"), image)


def test_eval_folder_json_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "colour.onnx"
    tiny_colour_model(model)
    person_folder(tmp_path / "people")
    args = ["eval", "--dataset", "folder", "--root", str(tmp_path / "people"), "--model", str(model)]
    args += ["--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--json", "--report", str(tmp_path / "report")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == JSON_KEYS
    assert (out["n_query"], out["n_gallery"], out["R1"], out["mAP"]) == (4, 8, 100.0, 100.0)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    html = (tmp_path / "report" / "index.html").read_text()
    for figure in ("cmc.png", "roc.png", "scores.png"):
        assert figure in html and (tmp_path / "report" / figure).stat().st_size > 1000
    assert main([*args, "--rerank"]) == 0
    assert "R1 100.0" in capsys.readouterr().out


def test_eval_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--dataset", "market1501", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    person_folder(tmp_path / "people")
    assert main(["eval", "-d", "folder", "--root", str(tmp_path / "people"), "-m", "missing.onnx"]) == 2
    assert "missing.onnx" in capsys.readouterr().err
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    assert (
        main(["eval", "-d", "folder", "--root", str(tmp_path / "people"), "-m", str(tmp_path / "broken.pth")])
        == 2
    )
    assert "broken.pth" in capsys.readouterr().err


def test_real_cuhk03_reproduces_shared_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = shared_path("data", "cuhk03", "labeled")
    shared_path("models", "osnet_x0_25_msmt17.onnx")
    args = ["eval", "-d", "cuhk03", "--root", str(root), "-m", "osnet_x0_25_msmt17", "--json"]
    assert main([*args, "--cache-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["n_query"], out["n_gallery"]) == (451, 487)
    assert out["R1"] == pytest.approx(40.8, abs=1.0) and out["mAP"] == pytest.approx(41.0, abs=1.0)


def test_dataset_options_reach_the_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --option holdout=N evaluates on the last N train identities, never on val/.
    root = shared_path("data", "cuhk03", "labeled")
    shared_path("models", "osnet_x0_25_msmt17.onnx")
    args = [
        "eval",
        "-d",
        "cuhk03",
        "--root",
        str(root),
        "-m",
        "osnet_x0_25_msmt17",
        "--json",
        "-o",
        "holdout=100",
    ]
    assert main([*args, "--cache-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["n_query"], out["n_gallery"]) == (484, 491)


def test_eval_refuses_an_unknown_dataset_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    person_folder(tmp_path / "people")
    args = ["eval", "-d", "folder", "--root", str(tmp_path / "people"), "-m", "x.onnx", "-o", "holdot=100"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown folder option holdot; valid options: protocol, camera_regex")
    assert err.count("\n") == 1
