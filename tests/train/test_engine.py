from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from train_helpers import tiny_criterion_factory, tiny_model_factory, write_synthetic_cuhk03

from reidkit.core.errors import DatasetError, ReidkitError
from reidkit.train.checkpoint import load_checkpoint
from reidkit.train.config import TrainConfig, load_train_config
from reidkit.train.data import ImageDataset, load_train_samples
from reidkit.train.engine import WarmupCosine
from reidkit.train.hooks import HookBase, StopAfter
from reidkit.train.launch import run_training
from reidkit.train.transforms import EvalTransform


def tiny_config(output: Path, *overrides: str) -> TrainConfig:
    return load_train_config(
        None,
        [
            "data.height=64",
            "data.width=32",
            "data.p=4",
            "data.k=2",
            "data.workers=0",
            "data.test_batch_size=64",
            "optim.epochs=4",
            "optim.warmup_epochs=1",
            "optim.lr=0.01",
            "eval_period=2",
            f"output={output}",
            "threads=1",
            *overrides,
        ],
    )


def train(cfg: TrainConfig, root: Path, **kwargs: object) -> Path:
    return run_training(
        cfg,
        {"cuhk03": str(root)},
        model_factory=tiny_model_factory,
        criterion_factory=tiny_criterion_factory,
        progress=False,
        **kwargs,  # type: ignore[arg-type]
    )


def read_metrics(output: Path) -> list[dict[str, str]]:
    with (output / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_training_lowers_the_loss_and_beats_chance(synthetic_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "run", "optim.epochs=10", "optim.lr=0.03", "eval_period=1")
    out = train(cfg, synthetic_root)
    rows = read_metrics(out)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 11))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) - 0.5
    # 8 val identities, 2 of the 16 gallery images match each query: chance R1 is 12.5%.
    r1 = [float(r["cuhk03/R1"]) for r in rows]
    assert r1[-1] > 60.0 and r1[-1] > r1[0] + 20
    assert (out / "best.pth").is_file() and (out / "config.yaml").is_file()
    best = load_checkpoint(out / "best.pth")
    # metrics.csv prints scores with one decimal, like every R1/mAP
    assert best["best_score"] == pytest.approx(max(float(r["cuhk03/mAP"]) for r in rows), abs=0.05)
    state = load_checkpoint(out / "last.pth")
    assert state["epoch"] == 10 and state["config"]["optim"]["epochs"] == 10
    assert set(state) >= {"model", "optimizer", "scheduler", "sampler", "rng", "iter", "best_score"}


def test_killed_and_resumed_run_ends_bit_identical_to_an_unbroken_one(
    synthetic_root: Path, tmp_path: Path
) -> None:
    # Augmentations and dropout all on, so every RNG stream matters.
    extra = ("augment.color_jitter=0.5", "augment.random_patch=0.5", "augment.autoaugment=0.5")
    unbroken = train(tiny_config(tmp_path / "a", *extra), synthetic_root)
    broken_cfg = tiny_config(tmp_path / "b", *extra)
    train(broken_cfg, synthetic_root, extra_hooks=[StopAfter(2)])
    assert load_checkpoint(tmp_path / "b" / "last.pth")["epoch"] == 2
    train(broken_cfg, synthetic_root, resume=True)
    a, b = load_checkpoint(unbroken / "last.pth"), load_checkpoint(tmp_path / "b" / "last.pth")
    assert a["iter"] == b["iter"]
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key
    assert [r["loss"] for r in read_metrics(unbroken)] == [r["loss"] for r in read_metrics(tmp_path / "b")]


def test_frozen_backbone_epochs_leave_the_backbone_untouched(synthetic_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "f", "optim.epochs=1", "optim.freeze_backbone_epochs=1")
    torch.manual_seed(cfg.seed)
    initial = tiny_model_factory(cfg.model, 12).state_dict()
    state = load_checkpoint(train(cfg, synthetic_root) / "last.pth")["model"]
    for key, value in state.items():
        if key.startswith("backbone.") and value.is_floating_point():
            assert torch.equal(value, initial[key]), key
    assert not torch.equal(state["classifier.weight"], initial["classifier.weight"])


def test_several_train_sets_are_concatenated_with_pid_offsets(tmp_path: Path) -> None:
    a = write_synthetic_cuhk03(tmp_path / "a", n_train=5, n_val=2, seed=1)
    b = write_synthetic_cuhk03(tmp_path / "b", n_train=7, n_val=2, seed=2)
    cfg = tiny_config(tmp_path / "m", "data.train=[cuhk03,second]")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train=["cuhk03", "cuhk03"]))
    data = load_train_samples(cfg.data, {"cuhk03": str(a)})
    assert data.num_classes == 10 and {s.dsetid for s in data.samples} == {0, 1}
    from reidkit.train.config import DataConfig

    two = DataConfig(train=["cuhk03", "other"])
    from reidkit.data.base import DATASETS
    from reidkit.data.datasets.cuhk03 import cuhk03

    if "other" not in DATASETS:
        DATASETS.register("other")(cuhk03)
    data = load_train_samples(two, {"cuhk03": str(a), "other": str(b)})
    assert data.num_classes == 12
    assert sorted({s.pid for s in data.samples if s.dsetid == 1}) == list(range(5, 12))


def test_unreadable_image_is_a_dataset_error(tmp_path: Path) -> None:
    bad = tmp_path / "0000_00.jpg"
    bad.write_bytes(b"not a jpeg")
    from reidkit.data.base import ReidSample

    dataset = ImageDataset([ReidSample(str(bad), 0, 0)], EvalTransform(64, 32))
    with pytest.raises(DatasetError, match=r"0000_00\.jpg"):
        dataset[0]
    good = tmp_path / "0001_00.jpg"
    cv2.imwrite(str(good), np.zeros((20, 10, 3), np.uint8))
    image, pid, camid, dsetid = ImageDataset([ReidSample(str(good), 3, 1)], EvalTransform(64, 32))[(0, 5)]
    assert image.shape == (3, 64, 32) and (pid, camid, dsetid) == (3, 1, 0)


def test_schedule_warms_up_linearly_then_follows_a_cosine() -> None:
    s = WarmupCosine(total_iters=110, warmup_iters=10, warmup_factor=0.1, cosine=True, min_factor=0.0)
    assert s(0) == pytest.approx(0.1) and s(5) == pytest.approx(0.55) and s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.5) and s(110) == pytest.approx(0.0, abs=1e-12)
    assert all(s(i) >= s(i + 1) for i in range(10, 110))
    assert not math.isnan(WarmupCosine(0, 0, 0.1, True, 0.0)(0))


@pytest.mark.parametrize(
    "overrides",
    [
        ("optim.name=sgd", "optim.grad_clip=1.0"),
        ("optim.name=adamw", "cpu_bf16=true"),
        ("optim.cosine=false",),
    ],
)
def test_optimiser_variants_train(synthetic_root: Path, tmp_path: Path, overrides: tuple[str, ...]) -> None:
    out = train(tiny_config(tmp_path / "v", "optim.epochs=2", "eval_period=0", *overrides), synthetic_root)
    rows = read_metrics(out)
    assert len(rows) == 2 and all(math.isfinite(float(r["loss"])) for r in rows)
    assert rows[-1]["cuhk03/R1"] != ""  # the last epoch is always evaluated


class DeleteLastCheckpoint(HookBase):
    """Removes last.pth once training ends: a run that finished without leaving its checkpoint."""

    def __init__(self, output: Path):
        self.output = output

    def after_train(self) -> None:
        (self.output / "last.pth").unlink()


def test_a_run_that_leaves_no_last_checkpoint_is_an_error_not_done(
    synthetic_root: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(tmp_path / "run", "optim.epochs=1", "eval_period=0")
    with pytest.raises(ReidkitError, match=r"without writing last\.pth"):
        train(cfg, synthetic_root, extra_hooks=[DeleteLastCheckpoint(tmp_path / "run")])
