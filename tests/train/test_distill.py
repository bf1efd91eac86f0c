"""Distillation: the teacher is fed the augmented uint8 crops in its own input spec, and the term trains."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_engine import tiny_config
from train_helpers import tiny_model_factory, write_nhwc_teacher

from reidkit.data.base import ReidSample
from reidkit.models.distill import OnnxTeacher, build_teacher
from reidkit.train.config import AugmentConfig, TrainConfig
from reidkit.train.data import ImageDataset
from reidkit.train.launch import run_training
from reidkit.train.transforms import TrainTransform, to_tensor


@pytest.fixture(scope="module")
def teacher_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        return write_nhwc_teacher(tmp_path_factory.mktemp("teacher") / "teacher.onnx")


def test_dataset_keeps_the_augmented_image_the_tensor_was_made_from(synthetic_root: Path) -> None:
    samples = [ReidSample(str(p), 0, 0) for p in sorted((synthetic_root / "train").glob("*.jpg"))[:3]]
    augment = AugmentConfig(flip=1.0, erasing=1.0, color_jitter=1.0)
    dataset = ImageDataset(samples, TrainTransform(augment, 64, 32, keep_augmented=True))
    tensor, _, _, _, augmented = dataset[(1, 7)]
    assert augmented.dtype == torch.uint8 and augmented.shape == (64, 32, 3)
    np.testing.assert_array_equal(to_tensor(augmented.numpy()), tensor.numpy())
    plain = ImageDataset(samples, TrainTransform(augment, 64, 32))[(1, 7)]
    assert len(plain) == 4 and torch.equal(plain[0], tensor)  # same seed, same augmentation


def test_onnx_teacher_gets_bgr_0_255_nhwc_not_the_student_tensor(teacher_onnx) -> None:
    path, net = teacher_onnx
    teacher = build_teacher(str(path), threads=1)
    assert isinstance(teacher, OnnxTeacher)
    assert teacher.embedder.input_spec.layout == "NHWC" and teacher.embedder.input_spec.scale == 1.0
    crops = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (5, 64, 32, 3), dtype=np.uint8))
    with torch.no_grad():
        expected = F.normalize(net(crops.float()), dim=1)
    got = teacher(crops)
    assert got.shape == (5, 24)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def read_column(output: Path, name: str) -> list[float]:
    with (output / "metrics.csv").open() as fh:
        return [float(row[name]) for row in csv.DictReader(fh)]


def test_similarity_distillation_trains_the_student_towards_the_teacher(
    synthetic_root: Path, tmp_path: Path, teacher_onnx
) -> None:
    # Only the distillation term drives the student, so its decrease is the student learning the teacher.
    cfg = tiny_config(
        tmp_path / "run",
        f"distill.teacher={teacher_onnx[0]}",
        "distill.weight=1.0",
        "distill.threads=1",
        "optim.epochs=8",
        "eval_period=0",
        "data.p=6",
    )
    out = distill_train(cfg, synthetic_root)
    term = read_column(out, "distill_similarity")
    assert len(term) == 8 and np.mean(term[-2:]) < 0.6 * np.mean(term[:2]), term


def distill_train(cfg: TrainConfig, root: Path) -> Path:
    return run_training(
        cfg, {"cuhk03": str(root)}, model_factory=tiny_model_factory, criterion_factory=lambda _: zero_loss
    )


def zero_loss(
    outputs: dict[str, torch.Tensor], targets: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    return outputs["features"].sum() * 0.0, {}


def test_cosine_distillation_learns_and_checkpoints_its_projection(
    synthetic_root: Path, tmp_path: Path, teacher_onnx
) -> None:
    cfg = tiny_config(
        tmp_path / "run",
        f"distill.teacher={teacher_onnx[0]}",
        "distill.kind=cosine",
        "distill.threads=1",
        "optim.epochs=6",
        "eval_period=0",
        "data.p=6",
    )
    out = distill_train(cfg, synthetic_root)
    term = read_column(out, "distill_cosine")
    assert np.mean(term[-2:]) < 0.8 * np.mean(term[:2]), term
    state = torch.load(out / "last.pth", weights_only=False)
    assert state["criterion"]["term.projection.weight"].shape == (24, 16)


def test_a_missing_teacher_fails_with_a_model_error(synthetic_root: Path, tmp_path: Path) -> None:
    from reidkit.core.errors import ModelError

    with pytest.raises(ModelError):
        distill_train(tiny_config(tmp_path / "a", "distill.teacher=no-such-model"), synthetic_root)


def test_cosine_distillation_resumes_with_its_projection(
    synthetic_root: Path, tmp_path: Path, teacher_onnx
) -> None:
    options = [f"distill.teacher={teacher_onnx[0]}", "distill.kind=cosine", "distill.threads=1"]
    options += ["eval_period=0", "data.p=6"]
    out = distill_train(tiny_config(tmp_path / "run", *options, "optim.epochs=2"), synthetic_root)
    state = torch.load(out / "last.pth", weights_only=False)
    state["criterion"]["term.projection.weight"].fill_(0.5)  # a value no fresh projection starts from
    torch.save(state, out / "last.pth")
    cfg = tiny_config(tmp_path / "run", *options, "optim.epochs=3")
    run_training(
        cfg,
        {"cuhk03": str(synthetic_root)},
        resume=True,
        model_factory=tiny_model_factory,
        criterion_factory=lambda _: zero_loss,
    )
    state = torch.load(out / "last.pth", weights_only=False)
    assert state["epoch"] == 3
    resumed = state["criterion"]["term.projection.weight"]
    assert (resumed - 0.5).abs().max() < 0.1  # one epoch of small steps from the loaded projection
