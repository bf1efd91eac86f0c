"""build_embedder: one factory, the backend chosen by file suffix; the ONNX path stays torch-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reidkit.core.errors import ModelError
from reidkit.embed import OnnxEmbedder, build_embedder
from reidkit.zoo.registry import DEFAULT_REID_MODEL


def test_no_model_is_the_default_onnx_model() -> None:
    embedder = build_embedder(threads=1, max_batch=4)
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.name == DEFAULT_REID_MODEL and embedder.max_batch == 4


def test_an_onnx_path_is_run_by_onnxruntime() -> None:
    default = build_embedder(threads=1)
    by_path = build_embedder(default.path, threads=1)
    assert isinstance(by_path, OnnxEmbedder) and by_path.path == default.path


@pytest.mark.parametrize("name", ["weights.bin", "model.tflite", "runs/x/model"])
def test_an_unknown_model_file_type_names_the_file_and_the_fix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0")
    with pytest.raises(ModelError) as caught:
        build_embedder(path)
    message = str(caught.value)
    assert path.name in message and ".onnx" in message and ".pth" in message


def test_a_missing_checkpoint_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="checkpoint not found"):
        build_embedder(tmp_path / "missing.pth")


def test_a_checkpoint_is_run_by_torch_like_its_onnx_export(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from reidkit.export.onnx import export_onnx
    from reidkit.models import ModelConfig, build_model
    from reidkit.models.embedder import TorchEmbedder

    torch.manual_seed(0)
    config = {"backbone": "osnet_x0_25", "height": 64, "width": 32}
    model = build_model(ModelConfig(**config), num_classes=4).eval()
    checkpoint = tmp_path / "last.pth"
    torch.save({"model": model.state_dict(), "config": {"model": config, "data": config}}, checkpoint)
    export_onnx(model, tmp_path / "last.onnx")
    crops = list(np.random.default_rng(0).integers(0, 256, (3, 80, 40, 3), dtype=np.uint8))

    from_checkpoint = build_embedder(checkpoint, threads=1)
    from_onnx = build_embedder(tmp_path / "last.onnx", threads=1)
    assert isinstance(from_checkpoint, TorchEmbedder) and isinstance(from_onnx, OnnxEmbedder)
    np.testing.assert_allclose(from_checkpoint.embed(crops), from_onnx.embed(crops), atol=1e-4)


def test_the_onnx_path_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "import reidkit.search.engine, reidkit.index.indexer\n"
        "from reidkit.embed import build_embedder\n"
        "build_embedder(threads=1).embed([__import__('numpy').zeros((40, 20, 3), 'uint8')])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
