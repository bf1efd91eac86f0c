"""Backbones, necks, classifiers and build_model on tiny inputs."""

from __future__ import annotations

import pytest
import torch

from reidkit.models import BACKBONES, ModelConfig, build_model
from reidkit.models.import_onnx import recalibrate_batchnorm


def tiny_osnet(**kw):
    return BACKBONES.build("osnet_x0_25", channels=(8, 16, 24, 32), feature_dim=32, **kw)


@pytest.mark.parametrize("name", ["osnet_x1_0", "osnet_x0_75", "osnet_x0_5", "osnet_x0_25"])
def test_osnet_widths_build_with_512_features(name):
    backbone = BACKBONES.build(name).eval()
    assert backbone.feature_dim == 512
    with torch.no_grad():
        assert backbone(torch.randn(1, 3, 64, 32)).shape == (1, 512)


def test_osnet_last_stride_doubles_the_final_map():
    x = torch.randn(2, 3, 64, 32)
    assert tiny_osnet(last_stride=2).forward_map(x).shape[-2:] == (4, 2)
    assert tiny_osnet(last_stride=1).forward_map(x).shape[-2:] == (8, 4)
    # Same parameters either way: pretrained weights load into both.
    assert tiny_osnet(last_stride=1).state_dict().keys() == tiny_osnet(last_stride=2).state_dict().keys()


def test_osnet_forward_backward_reaches_every_parameter():
    backbone = tiny_osnet()
    backbone(torch.randn(4, 3, 64, 32)).pow(2).sum().backward()
    missing = [n for n, p in backbone.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize("classifier", ["linear", "cosine", "arc", "circle"])
@pytest.mark.parametrize("pooling", ["avg", "max", "gem"])
def test_build_model_outputs(classifier, pooling):
    cfg = ModelConfig(backbone="osnet_x0_25", pooling=pooling, classifier=classifier, height=64, width=32)
    model = build_model(cfg, num_classes=7)
    x, y = torch.randn(4, 3, 64, 32), torch.tensor([0, 0, 3, 3])
    out = model.train()(x, y)
    assert out["features"].shape == (4, 512)
    assert out["embeddings"].shape == (4, 512)
    assert out["logits"].shape == (4, 7)
    out["logits"].logsumexp(1).sum().backward()
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (4, 512)
    assert (model.input_spec.height, model.input_spec.width) == (64, 32)


def test_margin_classifiers_lower_the_target_logit():
    torch.manual_seed(0)
    model = build_model(ModelConfig(classifier="arc", height=64, width=32), num_classes=5).train()
    x, y = torch.randn(4, 3, 64, 32), torch.tensor([1, 1, 2, 2])
    model.backbone.eval()  # same features in both calls
    plain = model(x)["logits"]
    with_margin = model(x, y)["logits"]
    target = torch.nn.functional.one_hot(y, 5).bool()
    assert (with_margin[target] < plain[target]).all()
    assert torch.allclose(with_margin[~target], plain[~target])


def test_embedding_dim_and_plain_neck():
    model = build_model(ModelConfig(neck="none", embedding_dim=64, height=64, width=32), num_classes=0)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 32)).shape == (2, 64)
    assert model.classifier is None


def test_bnneck_bias_stays_zero():
    model = build_model(ModelConfig(height=64, width=32), num_classes=3)
    assert not model.neck.bn.bias.requires_grad


def test_recalibrate_batchnorm_keeps_eval_output():
    torch.manual_seed(0)
    backbone = tiny_osnet()
    x = torch.randn(6, 3, 64, 32)
    with torch.no_grad():
        backbone.train()(x)  # give the BNs some non-trivial running stats
        before = backbone.eval()(x)
        recalibrate_batchnorm(backbone, x)
        after = backbone.eval()(x)
        train_mode = backbone.train()(x)
    assert torch.allclose(before, after, atol=1e-4)
    assert torch.allclose(train_mode, before, atol=1e-3)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(KeyError, match="osnet_x0_25"):
        build_model(ModelConfig(backbone="nope"), 3)
