"""Blending a fine-tuned model with the weights its training started from (``reidkit export --blend``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from reidkit.cli import main
from reidkit.core.errors import ModelError
from reidkit.export.onnx import run_onnx
from reidkit.models import ModelConfig, build_model
from reidkit.models.blend import blend_checkpoint, blend_weights, build_initial_model
from reidkit.train.transforms import to_tensor
from reidkit.zoo.sidecar import read_sidecar
from tests.conftest import shared_path
from tests.models.test_onnx_graph import H, W, images, tf_style_graph


@pytest.fixture()
def graph_config(tmp_path) -> ModelConfig:
    path = tmp_path / "tf_style.onnx"
    tf_style_graph(path)
    return ModelConfig(backbone="onnx", graph=str(path), height=H, width=W)


def fine_tuned(cfg: ModelConfig) -> torch.nn.Module:
    """The initial model after a few SGD steps on random labels, with its neck's statistics moved."""
    model = build_model(cfg, num_classes=4).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    batch = torch.from_numpy(np.stack([to_tensor(im) for im in images(8)]))
    for _ in range(3):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch)["logits"], torch.arange(8) % 4)
        loss.backward()
        optimiser.step()
    return model.eval()


def save_checkpoint(model: torch.nn.Module, cfg: ModelConfig, path) -> None:
    config = {"model": dataclasses.asdict(cfg), "data": {"height": H, "width": W}}
    torch.save({"model": model.state_dict(), "config": config, "epoch": 3}, path)


def embed(model: torch.nn.Module) -> torch.Tensor:
    batch = torch.from_numpy(np.stack([to_tensor(im) for im in images(3, seed=5)]))
    with torch.no_grad():
        return model.eval()(batch)


def test_blend_ends_are_the_two_models_and_the_middle_is_halfway(graph_config):
    initial = build_initial_model(graph_config, where="test")
    trained = fine_tuned(graph_config)
    trained.classifier = None  # the classifier is not part of an exported model
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    start = initial.state_dict()
    assert not torch.allclose(before["backbone.params.p_w1"], start["backbone.params.p_w1"])

    blend_weights(trained, initial, 0.5)
    for key, value in trained.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (before[key] + start[key]) / 2)
        else:  # BatchNorm's batch counter is not a weight
            assert torch.equal(value, before[key])

    blend_weights(trained, initial, 0.0)
    torch.testing.assert_close(embed(trained), embed(initial))


def test_blend_of_one_leaves_the_trained_model(graph_config):
    trained = fine_tuned(graph_config)
    trained.classifier = None
    expected = embed(trained)
    blend_weights(trained, build_initial_model(graph_config, where="test"), 1.0)
    torch.testing.assert_close(embed(trained), expected)


def test_blend_share_outside_zero_one_is_refused(graph_config):
    initial = build_initial_model(graph_config, where="test")
    with pytest.raises(ModelError, match=r"in \[0, 1\]"):
        blend_weights(initial, initial, 1.5)


def test_randomly_initialised_layers_have_no_initial_weights(graph_config):
    # A reducing layer in the neck starts from random weights: each build would give another blend.
    cfg = dataclasses.replace(graph_config, embedding_dim=3)
    with pytest.raises(ModelError, match=r"neck\.reduce\.weight start from random weights"):
        build_initial_model(cfg, where="ckpt.pth")


def test_cli_exports_the_blend_and_records_it(graph_config, tmp_path, capsys):
    trained = fine_tuned(graph_config)
    checkpoint = tmp_path / "last.pth"
    save_checkpoint(trained, graph_config, checkpoint)
    out = tmp_path / "blend.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--blend", "0.25"]) == 0
    meta = read_sidecar(out)
    assert meta is not None and meta["source"]["blend"]["trained_weight"] == 0.25
    model, _ = blend_checkpoint(checkpoint, 0.25)
    crops = np.stack([to_tensor(im) for im in images(3, seed=5)])
    np.testing.assert_allclose(run_onnx(out, crops), embed(model).numpy(), atol=1e-4)
    # The blend is not the trained model, nor the initial one.
    initial = embed(build_initial_model(graph_config, where="test"))
    assert not torch.allclose(embed(model), initial, atol=1e-3)
    assert not torch.allclose(embed(model), embed(trained), atol=1e-3)


def test_cli_blend_needs_a_checkpoint(tmp_path, capsys):
    assert (
        main(["export", "--onnx", "x.onnx", "--int8", "--out", str(tmp_path / "o.onnx"), "--blend", "0.5"])
        == 2
    )
    assert "--blend needs the training --checkpoint" in capsys.readouterr().err


def test_batchnorms_re_estimated_at_the_first_step_have_no_initial_weights():
    # OSNet from an ONNX file with folded BatchNorms re-estimates their statistics on its first batch.
    pretrained = shared_path("models", "osnet_x0_25_msmt17.onnx")
    with pytest.raises(ModelError, match="re-estimated on the first training batch"):
        build_initial_model(ModelConfig(pretrained=str(pretrained)), where="ckpt.pth")
