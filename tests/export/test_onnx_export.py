"""Export -> onnxruntime parity, sidecar, int8, and the `reidkit export` command on a tiny model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from reidkit.cli import main
from reidkit.core.errors import ModelError
from reidkit.export import read_sidecar
from reidkit.export.onnx import export_onnx, quantize_int8, run_onnx
from reidkit.models import ModelConfig, build_model
from reidkit.models.config import LossConfig
from reidkit.zoo import InputSpec

TINY = {"backbone": "osnet_x0_25", "height": 64, "width": 32}


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    model = build_model(ModelConfig(**TINY), num_classes=0)
    with torch.no_grad():  # non-trivial BN statistics so folding is exercised
        model.train()(torch.randn(8, 3, 64, 32))
    return model.eval()


@pytest.fixture(scope="module")
def small_cnn():
    """A few-layer CNN: enough to exercise export paths without OSNet's 190 convolutions."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 12),
    )
    with torch.no_grad():
        net.train()(torch.randn(8, 3, 32, 16))
    return net.eval()


SMALL_SPEC = InputSpec(32, 16)


def test_export_matches_torch_with_dynamic_batch(tiny_model, tmp_path):
    path = tmp_path / "m.onnx"
    parity = export_onnx(tiny_model, path)
    assert parity.max_rel < 1e-4 and parity.cosine_min > 0.99999
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    batch = torch.randn(5, 3, 64, 32)
    with torch.no_grad():
        expected = tiny_model(batch).numpy()
    assert np.abs(run_onnx(path, batch.numpy()) - expected).max() < 1e-4

    meta = read_sidecar(path)
    assert meta is not None
    assert meta["input"] == tiny_model.input_spec
    assert meta["output_dim"] == 512 and meta["dynamic_batch"] is True


def test_export_with_fixed_batch(small_cnn, tmp_path):
    path = tmp_path / "fixed.onnx"
    export_onnx(small_cnn, path, SMALL_SPEC, dynamic_batch=False)
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1


def test_export_refuses_a_broken_graph(small_cnn, tmp_path, monkeypatch):
    import reidkit.export.onnx as mod

    real = mod.run_onnx
    monkeypatch.setattr(mod, "run_onnx", lambda p, b: real(p, b) + 0.5)
    with pytest.raises(ModelError, match="does not reproduce"):
        export_onnx(small_cnn, tmp_path / "bad.onnx", SMALL_SPEC)


def test_int8_static_and_dynamic(small_cnn, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(small_cnn, path, SMALL_SPEC)
    calibration = np.random.default_rng(0).standard_normal((8, 3, 32, 16)).astype(np.float32)
    static = quantize_int8(path, tmp_path / "s.onnx", calibration=calibration, min_cosine=0.9)
    dynamic = quantize_int8(path, tmp_path / "d.onnx", min_cosine=0.9)
    assert static.cosine_mean > 0.9 and dynamic.cosine_mean > 0.9
    meta = json.loads((tmp_path / "s.json").read_text())
    assert meta["precision"] == "int8" and meta["quantisation"] == "static"


def test_cli_export_from_training_checkpoint(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model(ModelConfig(**TINY), num_classes=4)
    checkpoint = tmp_path / "last.pth"
    config = {
        "model": {**TINY, "future_option": 1},  # unknown keys are tolerated
        "loss": LossConfig().__dict__,
        "data": {"height": 64, "width": 32},
    }
    torch.save({"model": model.state_dict(), "config": config, "epoch": 3}, checkpoint)
    out = tmp_path / "exported.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    assert "onnxruntime vs torch" in capsys.readouterr().out
    meta = read_sidecar(out)
    assert meta is not None and meta["source"]["model_config"]["backbone"] == "osnet_x0_25"
    assert (meta["input"].height, meta["input"].width) == (64, 32)


def test_cli_export_rejects_a_non_checkpoint(tmp_path, capsys):
    bogus = tmp_path / "x.pth"
    torch.save({"weights": 1}, bogus)
    assert main(["export", "--checkpoint", str(bogus), "--out", str(tmp_path / "o.onnx")]) == 2
    assert "not a reidkit checkpoint" in capsys.readouterr().err
