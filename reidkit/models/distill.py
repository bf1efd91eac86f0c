"""Knowledge distillation: a frozen teacher's embeddings guide the student during training.

The teacher is any ReID model reidkit can run: a registry name or ``.onnx`` file (run through
:class:`~reidkit.embed.OnnxEmbedder`, so it is fed exactly as its own input spec says, NHWC BGR 0-255
for the OpenVINO models included) or a reidkit ``.pth`` checkpoint. It sees the same augmented crops as
the student, as uint8 BGR images (:class:`~reidkit.train.transforms.TrainTransform` with
``keep_augmented=True``), never the student's normalised tensors.

Two terms, registered in ``LOSSES``; both read ``outputs["features"]`` (the student's pre-neck feature)
and ``outputs["teacher"]`` (the teacher's embeddings of the same batch):

* ``distill_similarity``: the student's batch cosine-similarity matrix should equal the teacher's
  (similarity-preserving KD, Tung & Mori 2019). Works across embedding sizes, has no parameters.
* ``distill_cosine``: a learned linear projection of the student feature should point the same way as
  the teacher embedding (FitNets-style hint on the final feature). Its projection is trained with the
  student and saved in the checkpoint under ``"criterion"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reidkit.core.runtime import prepare_batch
from reidkit.embed.factory import ModelEmbedder, build_embedder
from reidkit.models.config import LossConfig
from reidkit.models.embedder import TorchEmbedder
from reidkit.models.registry import LOSSES

Outputs = dict[str, torch.Tensor]


def similarity_distillation(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the off-diagonal cosine similarities of two (B, *) feature batches."""
    s = F.normalize(student.float(), dim=1)
    t = F.normalize(teacher.float(), dim=1)
    off_diagonal = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
    return (s @ s.t() - t @ t.t())[off_diagonal].pow(2).mean()


class ProjectedCosine(nn.Module):
    """``1 - cos(W s, t)`` averaged over the batch, ``W`` a learned (student_dim -> teacher_dim) map."""

    def __init__(self, student_dim: int, teacher_dim: int):
        super().__init__()
        self.projection = nn.Linear(student_dim, teacher_dim, bias=False)

    def forward(self, outputs: Outputs, targets: torch.Tensor | None = None) -> torch.Tensor:
        projected = self.projection(outputs["features"].float())
        return (1 - F.cosine_similarity(projected, teacher_features(outputs).float(), dim=1)).mean()


def teacher_features(outputs: Outputs) -> torch.Tensor:
    if "teacher" not in outputs:
        raise KeyError("a distill_* loss needs outputs['teacher']: set distill.teacher in the train config")
    return outputs["teacher"]


@LOSSES.register("distill_similarity")
def distill_similarity(cfg: LossConfig | None = None, **_: Any) -> Any:
    def loss(outputs: Outputs, targets: torch.Tensor | None = None) -> torch.Tensor:
        return similarity_distillation(outputs["features"], teacher_features(outputs))

    return loss


@LOSSES.register("distill_cosine")
def distill_cosine(cfg: LossConfig | None = None, *, student_dim: int = 0, teacher_dim: int = 0) -> Any:
    if student_dim <= 0 or teacher_dim <= 0:
        raise ValueError(
            "distill_cosine needs student_dim and teacher_dim: enable it with distill.kind=cosine"
        )
    return ProjectedCosine(student_dim, teacher_dim)


class DistilledCriterion(nn.Module):
    """``base(outputs, targets) + weight * term(outputs, targets)``; the term shows as ``distill_<kind>``.

    A module so a learned term (``distill_cosine``'s projection) reaches the optimiser and checkpoints.
    """

    def __init__(self, base: Any, kind: str, weight: float, *, student_dim: int = 0, teacher_dim: int = 0):
        super().__init__()
        self.base, self.weight, self.name = base, weight, f"distill_{kind}"
        if self.name not in LOSSES:
            kinds = ", ".join(n.removeprefix("distill_") for n in LOSSES.names() if n.startswith("distill_"))
            raise ValueError(f"unknown distill.kind {kind!r}; known: {kinds}")
        self.term = LOSSES.build(self.name, None, student_dim=student_dim, teacher_dim=teacher_dim)

    def forward(self, outputs: Outputs, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        total, parts = self.base(outputs, targets)
        value = self.weight * self.term(outputs, targets)
        return total + value, {**parts, self.name: float(value.detach())}


class Teacher(Protocol):
    """A frozen model: a (B, H, W, 3) uint8 BGR batch of augmented crops -> (B, D) float embeddings."""

    dim: int
    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class OnnxTeacher:
    """An ONNX embedder (a registry name or ``.onnx`` file), fed exactly as it feeds itself."""

    def __init__(self, embedder: ModelEmbedder, device: torch.device | None = None):
        self.embedder = embedder
        self.dim, self.name = self.embedder.dim, self.embedder.name
        self.device = device or torch.device("cpu")

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        crops = _as_crops(images)
        return torch.from_numpy(self.embedder.embed(crops)).to(self.device)


class TorchTeacher:
    """A reidkit ``.pth`` checkpoint, run on the training device in eval mode."""

    def __init__(self, loaded: TorchEmbedder, device: torch.device | None = None):
        self.device = device or torch.device("cpu")
        self.model = loaded.model.to(self.device).eval().requires_grad_(False)
        self.input_spec, self.dim, self.name = loaded.input_spec, loaded.dim, loaded.name

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch = torch.from_numpy(prepare_batch(_as_crops(images), self.input_spec)).to(self.device)
        return F.normalize(self.model(batch).float(), dim=1)


def _as_crops(images: torch.Tensor | np.ndarray) -> Sequence[np.ndarray]:
    array = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"a teacher takes (B, H, W, 3) uint8 BGR crops, got {array.dtype} {array.shape}")
    return list(array)


def build_teacher(model: str, device: torch.device | None = None, threads: int | None = None) -> Teacher:
    """Whatever :func:`~reidkit.embed.build_embedder` makes of ``model``: a checkpoint runs on the
    training device (:class:`TorchTeacher`), an ONNX model in onnxruntime (:class:`OnnxTeacher`)."""
    embedder = build_embedder(model, threads=threads, max_batch=256)
    if isinstance(embedder, TorchEmbedder):
        return TorchTeacher(embedder, device)
    return OnnxTeacher(embedder, device)
