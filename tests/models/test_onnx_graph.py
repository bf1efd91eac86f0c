"""The ``onnx`` backbone: an ONNX graph run op by op in torch, trainable, exported back with parity."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from reidkit.core.errors import ModelError
from reidkit.export.onnx import export_onnx, run_onnx
from reidkit.models import ModelConfig, build_model
from reidkit.models.backbones.onnx_graph import OnnxGraphBackbone
from reidkit.train.transforms import to_tensor
from reidkit.zoo.registry import InputSpec
from reidkit.zoo.sidecar import write_sidecar
from tests.conftest import shared_path

H, W = 32, 16
SPEC = InputSpec(H, W, layout="NHWC", channels="BGR", scale=1.0)  # the Open Model Zoo convention


def tf_style_graph(path, *, op: str = "Relu") -> None:
    """A batch-of-1 graph written the way TensorFlow exports land in ONNX: NHWC BGR 0-255 input,
    transposes, an asymmetric-padded strided conv, instance normalisation spelled out with
    ReduceMean over (N, H, W), a padded max pool, constant Reshapes with the batch as 1, a Gemm."""
    rng = np.random.default_rng(0)

    def init(name, array):
        return numpy_helper.from_array(np.asarray(array, np.float32), name)

    inits = [
        init("w1", rng.normal(0, 0.05, (8, 3, 7, 7))),
        init("b1", rng.normal(0, 0.1, 8)),
        init("eps", 1e-3),
        init("gamma", rng.uniform(0.5, 1.5, 8)),
        init("beta", rng.normal(0, 0.1, 8)),
        init("fc", rng.normal(0, 0.2, (6, 8))),
        init("fc_b", rng.normal(0, 0.1, 6)),
        numpy_helper.from_array(np.array([1, -1], np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w1", "b1"], ["c1"], strides=[2, 2], pads=[2, 2, 3, 3]),
        helper.make_node(op, ["c1"], ["r1"]),
        helper.make_node("Transpose", ["r1"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("ReduceMean", ["nhwc"], ["mu"], axes=[0, 1, 2], keepdims=1),
        helper.make_node("Sub", ["nhwc", "mu"], ["d"]),
        helper.make_node("Mul", ["d", "d"], ["d2"]),
        helper.make_node("ReduceMean", ["d2"], ["var"], axes=[0, 1, 2], keepdims=1),
        helper.make_node("Add", ["var", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["sd"]),
        helper.make_node("Div", ["d", "sd"], ["n"]),
        helper.make_node("Mul", ["n", "gamma"], ["g"]),
        helper.make_node("Add", ["g", "beta"], ["nb"]),
        helper.make_node("Transpose", ["nb"], ["back"], perm=[0, 3, 1, 2]),
        helper.make_node("MaxPool", ["back"], ["mp"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("GlobalAveragePool", ["mp"], ["gap"]),
        helper.make_node("Reshape", ["gap", "flat"], ["vec"]),
        helper.make_node("Gemm", ["vec", "fc", "fc_b"], ["fc_out"], transB=1),
        # Some exporters emit shapes as Constant nodes rather than initializers.
        helper.make_node(
            "Constant", [], ["shape_1x6"], value=numpy_helper.from_array(np.array([1, 6], np.int64))
        ),
        helper.make_node("Reshape", ["fc_out", "shape_1x6"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tf_style",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, H, W, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    write_sidecar(path, SPEC)


@pytest.fixture()
def graph_file(tmp_path):
    path = tmp_path / "tf_style.onnx"
    tf_style_graph(path)
    return path


def images(n: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def reference(path, imgs: list[np.ndarray]) -> np.ndarray:
    """onnxruntime on the original graph, one image per call, in its own input format."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"x": im[None].astype(np.float32)})[0] for im in imgs])


def test_graph_backbone_matches_onnxruntime_per_image_in_a_batch(graph_file):
    imgs = images(3)
    backbone = OnnxGraphBackbone(graph_file).eval()
    assert backbone.feature_dim == 6 and backbone.batch_one
    batch = torch.from_numpy(np.stack([to_tensor(im) for im in imgs]))  # reidkit's standard input
    with torch.no_grad():
        out = backbone(batch).numpy()
    # A batch of 3 gives each image what the batch-of-1 graph gives it alone: the per-image
    # statistics did not mix images, and the input was converted to NHWC BGR 0-255.
    np.testing.assert_allclose(out, reference(graph_file, imgs), atol=1e-4)


def test_graph_weights_are_trainable_parameters(graph_file):
    backbone = OnnxGraphBackbone(graph_file).train()
    names = set(backbone.params)
    assert {"p_w1", "p_b1", "p_gamma", "p_beta", "p_fc", "p_fc_b"} <= names
    assert "p_eps" not in names and "p_flat" not in names  # scalars and shapes stay fixed
    batch = torch.from_numpy(np.stack([to_tensor(im) for im in images(4)]))
    backbone(batch).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())


def test_fine_tuned_graph_exports_with_reidkit_input_and_dynamic_batch(graph_file, tmp_path):
    model = build_model(ModelConfig(backbone="onnx", graph=str(graph_file), height=H, width=W), num_classes=5)
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = torch.from_numpy(np.stack([to_tensor(im) for im in images(4)]))
    loss = torch.nn.functional.cross_entropy(model(batch)["logits"], torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimiser.step()
    model.eval()
    out = tmp_path / "tuned.onnx"
    parity = export_onnx(model, out)
    assert parity.max_rel < 1e-4
    five = np.stack([to_tensor(im) for im in images(5, seed=2)])
    with torch.no_grad():
        expected = model(torch.from_numpy(five)).numpy()
    np.testing.assert_allclose(run_onnx(out, five), expected, atol=1e-4)


def test_graph_input_size_must_match_the_config(graph_file):
    with pytest.raises(ModelError, match="takes 32x16 images"):
        build_model(ModelConfig(backbone="onnx", graph=str(graph_file), height=256, width=128), num_classes=0)


def test_graph_only_with_the_onnx_backbone(graph_file):
    with pytest.raises(ModelError, match="only used by backbone 'onnx'"):
        build_model(ModelConfig(backbone="osnet_x0_25", graph=str(graph_file)), num_classes=0)


def test_unsupported_operator_is_named(tmp_path):
    path = tmp_path / "odd.onnx"
    tf_style_graph(path, op="Elu")
    with pytest.raises(ModelError, match="'Elu' is not supported"):
        OnnxGraphBackbone(path)


def test_graph_without_known_input_format_is_refused(graph_file):
    graph_file.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="input format"):
        OnnxGraphBackbone(graph_file)


def test_real_open_model_zoo_graph_matches_onnxruntime():
    import cv2

    path = shared_path("models", "person-reidentification-retail-0287.onnx")
    crops = sorted(shared_path("data", "cuhk03", "labeled", "val").glob("*.jpg"))[:3]
    imgs = [cv2.resize(cv2.imread(str(p)), (128, 256)) for p in crops]
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = np.concatenate(
        [session.run(None, {"inputs:0": im[None].astype(np.float32)})[0] for im in imgs]
    )
    backbone = OnnxGraphBackbone(path).eval()
    with torch.no_grad():
        out = backbone(torch.from_numpy(np.stack([to_tensor(im) for im in imgs]))).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-4 * np.abs(expected).max())
