"""ResNet(-IBN) and CLIP-layout ViT backbones, in tiny variants."""

from __future__ import annotations

import pytest
import torch

from reidkit.export.onnx import export_onnx
from reidkit.models import BACKBONES
from reidkit.models.backbones.vit_clip import resize_position_embedding
from reidkit.zoo import InputSpec

TINY_RESNET = {"layers": (1, 1, 1, 1), "width": 8}
TINY_VIT = {"input_size": (64, 32), "width": 32, "layers": 2, "heads": 2, "output_dim": 16}


def _forward_backward(backbone, x):
    out = backbone.train()(x)
    out.pow(2).sum().backward()
    unused = [n for n, p in backbone.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused
    return out


@pytest.mark.parametrize("name", ["resnet50", "resnet50_ibn_a"])
def test_resnet_tiny_forward_backward(name):
    backbone = BACKBONES.build(name, **TINY_RESNET)
    assert backbone.feature_dim == 8 * 8 * 4
    out = _forward_backward(backbone, torch.randn(2, 3, 64, 32))
    assert out.shape == (2, 256)
    # last stride 1 (the default): 64x32 / 16 = 4x2 final map
    assert backbone.forward_map(torch.randn(1, 3, 64, 32)).shape[-2:] == (4, 2)
    assert BACKBONES.build(name, last_stride=2, **TINY_RESNET).forward_map(torch.randn(1, 3, 64, 32)).shape[
        -2:
    ] == (2, 1)


def test_full_size_resnet50_shapes():
    backbone = BACKBONES.build("resnet50")
    assert backbone.feature_dim == 2048
    assert sum(p.numel() for p in backbone.parameters()) == pytest.approx(23.5e6, rel=0.01)
    ibn = BACKBONES.build("resnet50_ibn_a")
    assert "layer3.5.bn1.IN.weight" in ibn.state_dict()
    assert "layer4.0.bn1.weight" in ibn.state_dict()  # no IBN in the last stage


def test_vit_tiny_forward_backward_and_layout():
    vit = BACKBONES.build("vit_b16_clip", **TINY_VIT)
    assert vit.grid == (4, 2)
    assert vit.feature_dim == 32 + 16
    assert _forward_backward(vit, torch.randn(2, 3, 64, 32)).shape == (2, 48)
    keys = vit.state_dict().keys()
    for key in [
        "conv1.weight",
        "class_embedding",
        "positional_embedding",
        "ln_pre.weight",
        "transformer.resblocks.1.attn.in_proj_weight",
        "transformer.resblocks.1.attn.out_proj.bias",
        "transformer.resblocks.1.mlp.c_fc.weight",
        "transformer.resblocks.1.mlp.c_proj.weight",
        "ln_post.bias",
        "proj",
    ]:
        assert key in keys


def test_vit_matches_torch_multihead_attention():
    vit = BACKBONES.build("vit_b16_clip", **TINY_VIT).eval()
    block = vit.transformer.resblocks[0]
    reference = torch.nn.MultiheadAttention(32, 2, batch_first=True).eval()
    reference.load_state_dict(block.attn.state_dict())
    x = torch.randn(2, 9, 32)
    with torch.no_grad():
        assert torch.allclose(block.attn(x), reference(x, x, x, need_weights=False)[0], atol=1e-5)


def test_position_embeddings_are_resized_on_load():
    vit = BACKBONES.build("vit_b16_clip", **TINY_VIT)
    state = vit.state_dict()
    # A 14x14 CLIP grid (224x224 input) loads into the 4x2 ReID grid.
    state["positional_embedding"] = torch.randn(1 + 14 * 14, 32)
    vit.load_state_dict(state)
    assert vit.positional_embedding.shape == (1 + 8, 32)
    assert torch.equal(vit.positional_embedding[0], state["positional_embedding"][0])
    # A constant grid stays constant under bicubic resizing.
    flat = torch.ones(1 + 16, 4)
    assert torch.allclose(resize_position_embedding(flat, (4, 4), (6, 3)), torch.ones(1 + 18, 4), atol=1e-5)


def test_mobilenetv3_small():
    net = BACKBONES.build("mobilenetv3_small")
    assert net.feature_dim == 576
    assert 0.8e6 < sum(p.numel() for p in net.parameters()) < 1.1e6  # ~0.93M without the classifier
    assert net.forward_map(torch.randn(1, 3, 256, 128)).shape[-2:] == (8, 4)
    fine = BACKBONES.build("mobilenetv3_small", last_stride=1)
    assert fine.forward_map(torch.randn(1, 3, 64, 32)).shape[-2:] == (4, 2)
    small = BACKBONES.build("mobilenetv3_small", width=0.25)
    assert _forward_backward(small, torch.randn(2, 3, 64, 32)).shape == (2, small.feature_dim)


@pytest.mark.parametrize(
    "name,overrides",
    [("resnet50_ibn_a", TINY_RESNET), ("vit_b16_clip", TINY_VIT), ("mobilenetv3_small", {"width": 0.25})],
)
def test_backbones_export_to_onnx(name, overrides, tmp_path):
    backbone = BACKBONES.build(name, **overrides).eval()
    parity = export_onnx(backbone, tmp_path / f"{name}.onnx", InputSpec(64, 32))
    assert parity.max_rel < 1e-4
