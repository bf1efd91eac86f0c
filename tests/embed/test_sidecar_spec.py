"""An unregistered reidkit export is fed as its sidecar says, not by a guess from the input shape."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from reidkit.embed import OnnxEmbedder
from reidkit.zoo.registry import InputSpec
from reidkit.zoo.sidecar import write_sidecar


def _mean_pool_model(path: Path) -> None:
    # images (N,3,32,16) -> per-channel mean (N,3): the output reveals the preprocessing applied.
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["out"]),
        ],
        "pool",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, 32, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_sidecar_input_spec_is_used(tmp_path: Path) -> None:
    path = tmp_path / "mine.onnx"
    _mean_pool_model(path)
    image = np.zeros((40, 20, 3), np.uint8)
    image[..., 0] = 255  # pure blue in BGR
    guessed = OnnxEmbedder(path).embed([image])[0]
    # Without a sidecar: RGB + ImageNet normalisation -> blue lands in the last channel, others negative.
    assert guessed[2] > 0 > guessed[0]
    write_sidecar(path, InputSpec(32, 16, channels="BGR", scale=1.0))
    pooled = OnnxEmbedder(path).embed([image])[0]
    np.testing.assert_allclose(pooled, [1.0, 0.0, 0.0], atol=1e-6)  # BGR, raw 0-255, then L2-normalised
