"""An ONNX file whose output is not one vector per image (a detector) is refused as the ReID model."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from reidkit.core.errors import ModelError
from reidkit.embed import OnnxEmbedder, build_embedder

SHARED_DETECTOR = Path(os.environ.get("REIDKIT_MODEL_DIR", "/work/shared/models")) / (
    "light_person_detector.onnx"
)


def _pool_model(path: Path, output_dims: list[int | str]) -> None:
    # images (N,3,32,16) -> mean pool, reshaped to ``output_dims``: only the output's rank matters here.
    shape = helper.make_tensor("shape", TensorProto.INT64, [len(output_dims)], [1, 3, 1][: len(output_dims)])
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Reshape", ["pooled", "shape"], ["out"]),
        ],
        "pool",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, output_dims)],
        [shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_a_detector_shaped_output_names_the_file_its_shape_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "lightdet.onnx"
    _pool_model(path, [1, 3, 1])
    with pytest.raises(ModelError) as caught:
        build_embedder(path, threads=1)
    message = str(caught.value)
    assert str(path) in message and "1x3x1" in message
    assert "--detector" in message and "N x D" in message and "\n" not in message


def test_an_n_by_d_output_is_a_reid_model(tmp_path: Path) -> None:
    path = tmp_path / "mine.onnx"
    _pool_model(path, [1, 3])
    embedder = build_embedder(path, threads=1)
    assert isinstance(embedder, OnnxEmbedder) and embedder.dim == 3


@pytest.mark.skipif(not SHARED_DETECTOR.is_file(), reason="needs the real light person detector")
def test_the_real_detector_under_another_name_is_refused(tmp_path: Path) -> None:
    renamed = tmp_path / "lightdet.onnx"
    renamed.write_bytes(SHARED_DETECTOR.read_bytes())
    with pytest.raises(ModelError, match="1x756x6"):
        build_embedder(renamed, threads=1)
