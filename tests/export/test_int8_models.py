"""int8 copies of ONNX ReID models: ones reidkit did not export, and `reidkit eval` on a quantised export."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from reidkit.cli import main
from reidkit.export import read_sidecar
from reidkit.export.onnx import export_onnx, input_spec_of, quantize_int8
from reidkit.zoo import InputSpec
from tests.cli.test_eval import person_folder
from tests.conftest import shared_path


def colour_cnn() -> torch.nn.Module:
    """Convolutions whose pooled output still tells the four test people's colours apart."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 8, 1),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    ).eval()


def write_crops(folder: Path, n: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (40, 20, 3), dtype=np.uint8))
    return folder


def test_quantise_a_foreign_opset12_model_without_sidecar(tmp_path: Path, capsys) -> None:
    fp32 = tmp_path / "foreign.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            colour_cnn(), (torch.zeros(1, 3, 32, 16),), str(fp32), opset_version=12, dynamo=False
        )
    assert read_sidecar(fp32) is None
    assert input_spec_of(fp32) == InputSpec(32, 16, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    out = tmp_path / "foreign.int8.onnx"
    args = [
        "export",
        "--onnx",
        str(fp32),
        "--int8",
        "--out",
        str(out),
        "--calib",
        str(write_crops(tmp_path / "c")),
    ]
    assert main(args) == 0
    assert "int8 vs fp32" in capsys.readouterr().out
    ort.InferenceSession(str(out))  # per-channel QDQ needed the opset upgrade to load at all
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(str(out)).graph.node)
    meta = read_sidecar(out)
    assert meta is not None and meta["precision"] == "int8" and meta["quantisation"] == "static"
    assert main(["export", "--onnx", str(fp32), "--out", str(out)]) == 2  # --onnx only quantises
    assert "--int8" in capsys.readouterr().err


def test_eval_on_an_int8_export_matches_fp32(tmp_path: Path, capsys) -> None:
    fp32 = tmp_path / "model.onnx"
    export_onnx(colour_cnn(), fp32, InputSpec(32, 16))
    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(fp32, int8, min_cosine=0.9)
    person_folder(tmp_path / "people")
    results = {}
    for model in (fp32, int8):
        args = ["eval", "-d", "folder", "--root", str(tmp_path / "people"), "-m", str(model), "--json"]
        assert main([*args, "--no-cache"]) == 0
        results[model.stem] = json.loads(capsys.readouterr().out)
    assert results["model.int8"]["model"] == "model.int8"
    assert results["model.int8"]["R1"] == results["model"]["R1"] == 100.0
    assert results["model.int8"]["mAP"] == pytest.approx(results["model"]["mAP"], abs=5.0)


def real_crops(split: str, every: int, count: int, spec: InputSpec) -> np.ndarray:
    """``count`` CUHK03 crops of ``split`` (every ``every``-th file), fed as ``spec`` says."""
    from reidkit.core.runtime import prepare_batch

    files = sorted(shared_path("data/cuhk03/labeled", split).glob("*.jpg"))[::every][:count]
    assert len(files) == count
    return prepare_batch([cv2.imread(str(p)) for p in files], spec)


def assert_static_int8(path: Path, parity_n: int, expected_n: int) -> None:
    """The file really is a static int8 model with 7-bit weights, checked on every crop given."""
    assert parity_n == expected_n
    assert sum(node.op_type == "QuantizeLinear" for node in onnx.load(str(path)).graph.node) > 10
    meta = read_sidecar(path)
    assert meta is not None and meta["quantisation"] == "static"
    assert "reduce_range" in meta["int8"]["weights"]


def test_static_int8_of_the_public_osnet_stays_close_on_real_crops(tmp_path: Path) -> None:
    model = shared_path("models/osnet_x0_25_msmt17.onnx")
    crops = real_crops("train", 225, 32, input_spec_of(model))
    out = tmp_path / "osnet.int8.onnx"
    parity = quantize_int8(model, out, calibration=crops)  # raises below a worst cosine of 0.98
    assert parity.cosine_min >= 0.98 and parity.cosine_mean > 0.98
    assert_static_int8(out, parity.n, len(crops))


def test_static_int8_of_the_default_model_stays_close_on_real_crops(tmp_path: Path) -> None:
    """reidkit's default model pads with -inf before a max-pool; int8 must keep it float to stay close.

    Calibrated on CUHK03 train crops, checked on val crops of other people.
    """
    from reidkit.zoo.registry import DEFAULT_REID_MODEL, resolve_model

    model, _ = resolve_model(DEFAULT_REID_MODEL, download=False)
    spec = input_spec_of(model)
    calibration = real_crops("train", 450, 16, spec)
    check = real_crops("val", 30, 32, spec)
    out = tmp_path / "default.int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the NaN cast of a -inf range must not recur
        parity = quantize_int8(model, out, calibration=calibration, check=check)
    assert parity.cosine_min >= 0.98 and parity.cosine_mean > 0.98
    assert_static_int8(out, parity.n, len(check))
