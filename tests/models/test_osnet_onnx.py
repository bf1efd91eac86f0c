"""OSNet x0.25 built here + weights imported from the torchreid ONNX export == the ONNX model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from reidkit.core.errors import ModelError
from reidkit.core.runtime import prepare_batch
from reidkit.models import ModelConfig, build_model
from reidkit.models.import_onnx import load_onnx_weights
from reidkit.models.registry import BACKBONES
from reidkit.zoo import get_spec
from tests.conftest import shared_path

ONNX = ("models", "osnet_x0_25_msmt17.onnx")


@pytest.fixture(scope="module")
def onnx_and_model():
    import onnxruntime as ort

    path = shared_path(*ONNX)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = build_model(ModelConfig(backbone="osnet_x0_25", pretrained=str(path)), num_classes=0).eval()
    return session, model


def _compare(session, model, batch: np.ndarray) -> None:
    for image in batch:  # the ONNX file takes one image per call
        reference = session.run(None, {"images": image[None]})[0]
        with torch.no_grad():
            features = model.backbone(torch.from_numpy(image[None]))
            embedding = model(torch.from_numpy(image[None]))
        assert np.abs(features.numpy() - reference).max() < 1e-4
        # A fresh BNNeck is an identity up to 1/sqrt(1 + eps).
        assert np.abs(embedding.numpy() - reference).max() < 1e-4
        assert reference.std() > 0.01  # a real, non-degenerate output


def test_parity_on_random_inputs(onnx_and_model):
    session, model = onnx_and_model
    rng = np.random.default_rng(0)
    _compare(session, model, rng.standard_normal((3, 3, 256, 128)).astype(np.float32))


def test_parity_on_real_crops(onnx_and_model):
    session, model = onnx_and_model
    files = sorted(shared_path("data", "cuhk03", "labeled", "val").glob("*.jpg"))[:4]
    images = [cv2.imread(str(f)) for f in files]
    batch = prepare_batch(images, get_spec("osnet_x0_25_msmt17").input)
    assert model.input_spec == get_spec("osnet_x0_25_msmt17").input
    _compare(session, model, batch)


def test_wrong_architecture_is_refused():
    path = shared_path(*ONNX)
    backbone = BACKBONES.build("osnet_x0_5")
    with pytest.raises(ModelError, match="do not fit"):
        load_onnx_weights(backbone, path, torch.zeros(2, 3, 64, 32))


def test_folded_batchnorm_is_recalibrated_keeping_the_eval_function():
    path = shared_path(*ONNX)
    model = build_model(ModelConfig(pretrained=str(path)), num_classes=5)
    assert bool(model.bn_calibration_pending)
    images = torch.randn(8, 3, 128, 64)
    with torch.no_grad():
        before = model.eval().backbone(images)
        model.calibrate_batchnorm(images)
        after = model.eval().backbone(images)
        train_mode = model.backbone.train()(images)
    assert not bool(model.bn_calibration_pending)
    assert torch.allclose(before, after, atol=1e-4)
    # Batch statistics now reproduce the pretrained function instead of scrambling it.
    assert torch.nn.functional.cosine_similarity(train_mode, before).min() > 0.99


def test_first_training_batch_triggers_recalibration():
    path = shared_path(*ONNX)
    model = build_model(ModelConfig(pretrained=str(path)), num_classes=5).train()
    images = torch.randn(8, 3, 128, 64)
    with torch.no_grad():
        reference = model.eval().backbone(images)
        train_out = model.train()(images)
    assert not bool(model.bn_calibration_pending)
    assert torch.nn.functional.cosine_similarity(train_out["features"], reference).min() > 0.99
