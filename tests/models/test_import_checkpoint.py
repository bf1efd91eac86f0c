"""External checkpoints (torchreid, FastReID, CLIP-ReID) load by key mapping; synthetic state dicts."""

from __future__ import annotations

import pytest
import torch

from reidkit.core.errors import ModelError
from reidkit.models import BACKBONES, ModelConfig, build_model
from reidkit.models.heads import BNNeck
from reidkit.models.import_checkpoint import load_checkpoint_weights
from reidkit.models.model import ReidModel
from reidkit.zoo import InputSpec

TINY_OSNET = {"channels": (8, 16, 24, 32), "feature_dim": 32}
TINY_RESNET = {"layers": (1, 1, 1, 1), "width": 8}
TINY_VIT = {"input_size": (64, 32), "width": 32, "layers": 2, "heads": 2, "output_dim": 16}


def reid(name: str, **overrides) -> ReidModel:
    backbone = BACKBONES.build(name, **overrides)
    return ReidModel(backbone, BNNeck(backbone.feature_dim), None, InputSpec(64, 32))


def randomised(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict like the module's, every tensor filled with fresh random values."""
    return {k: torch.randn_like(v.float()).to(v.dtype) for k, v in module.state_dict().items()}


def test_torchreid_osnet(tmp_path):
    source = randomised(BACKBONES.build("osnet_x0_25", **TINY_OSNET))
    source["classifier.weight"] = torch.randn(751, 32)
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.items()}, "epoch": 50}, tmp_path / "t.pth")
    model = reid("osnet_x0_25", **TINY_OSNET)
    report = load_checkpoint_weights(model, tmp_path / "t.pth")
    assert report["format"] == "torchreid" and not report["missing_backbone"]
    assert torch.equal(
        model.backbone.conv2[0].conv2b[1].conv2.weight, source["conv2.0.conv2b.1.conv2.weight"]
    )
    assert torch.equal(model.backbone.fc[1].running_var, source["fc.1.running_var"])


def test_fastreid_resnet_ibn_with_bnneck(tmp_path):
    backbone = randomised(BACKBONES.build("resnet50_ibn_a", **TINY_RESNET))
    state = {f"backbone.{k}": v for k, v in backbone.items()}
    neck = {f: torch.rand(256) + 0.5 for f in ("weight", "bias", "running_mean", "running_var")}
    state.update({f"heads.bottleneck.0.{f}": v for f, v in neck.items()})
    state["heads.bottleneck.0.num_batches_tracked"] = torch.tensor(7)
    state["heads.weight"] = torch.randn(702, 256)  # FastReID's classifier
    torch.save({"model": state}, tmp_path / "f.pth")
    model = reid("resnet50_ibn_a", **TINY_RESNET)
    report = load_checkpoint_weights(model, tmp_path / "f.pth")
    assert report["format"] == "fastreid" and not report["missing_backbone"]
    assert torch.equal(model.backbone.layer2[0].bn1.IN.weight, backbone["layer2.0.bn1.IN.weight"])
    assert torch.equal(model.neck.bn.running_mean, neck["running_mean"])


def test_clipreid_vit_with_two_necks_and_another_grid(tmp_path):
    vit = randomised(BACKBONES.build("vit_b16_clip", **TINY_VIT))
    vit["positional_embedding"] = torch.randn(1 + 6 * 3, 32)  # trained at 96x48 (6x3 patches)
    state = {f"image_encoder.{k}": v for k, v in vit.items()}
    for name, dim in (("bottleneck", 32), ("bottleneck_proj", 16)):
        for f in ("weight", "bias", "running_mean", "running_var"):
            state[f"{name}.{f}"] = torch.rand(dim)
    state["classifier.weight"] = torch.randn(751, 32)
    state["classifier_proj.weight"] = torch.randn(751, 16)
    state["prompt_learner.cls_ctx"] = torch.randn(751, 4, 512)
    state["text_encoder.positional_embedding"] = torch.randn(77, 512)
    state["cv_embed"] = torch.randn(6, 32)
    torch.save(state, tmp_path / "c.pth")
    model = reid("vit_b16_clip", **TINY_VIT)
    report = load_checkpoint_weights(model, tmp_path / "c.pth")
    assert report["format"] == "clipreid" and not report["missing_backbone"]
    assert torch.equal(
        model.backbone.transformer.resblocks[1].attn.in_proj_weight,
        vit["transformer.resblocks.1.attn.in_proj_weight"],
    )
    assert model.backbone.positional_embedding.shape == (1 + 4 * 2, 32)
    assert torch.equal(model.backbone.positional_embedding[0], vit["positional_embedding"][0])
    expected = torch.cat([state["bottleneck.running_var"], state["bottleneck_proj.running_var"]])
    assert torch.equal(model.neck.bn.running_var, expected)


def test_wrong_backbone_is_refused(tmp_path):
    torch.save(randomised(BACKBONES.build("resnet50", **TINY_RESNET)), tmp_path / "r.pth")
    with pytest.raises(ModelError, match="no backbone weights"):
        load_checkpoint_weights(reid("osnet_x0_25", **TINY_OSNET), tmp_path / "r.pth")


def test_build_model_takes_a_pth_as_pretrained(tmp_path):
    source = randomised(BACKBONES.build("osnet_x0_25"))
    torch.save(source, tmp_path / "osnet.pth")
    model = build_model(ModelConfig(pretrained=str(tmp_path / "osnet.pth")), num_classes=3)
    assert torch.equal(model.backbone.conv5.conv.weight, source["conv5.conv.weight"])
    assert not bool(model.bn_calibration_pending)  # real BN statistics: nothing to re-estimate
