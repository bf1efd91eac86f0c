"""The one place that turns a model (registry name or file) into an embedder, chosen by file suffix.

* a registry name or an ``.onnx`` file -> :class:`~reidkit.embed.onnx.OnnxEmbedder` (fp32 or int8);
* a reidkit training checkpoint (``.pth``, ``.pt``, ``.pth.tar``) ->
  :class:`~reidkit.models.embedder.TorchEmbedder`.

Checkpoints are a toolkit format: their embedder is built by ``reidkit.models`` and needs torch, so
it is imported only when a checkpoint is asked for. Importing this module (the search and index
path) loads neither torch nor onnxruntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from reidkit.core.errors import ModelError
from reidkit.zoo.registry import DEFAULT_REID_MODEL, MODELS

ONNX_SUFFIXES = (".onnx",)
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".pth.tar")


class ModelEmbedder(Protocol):
    """A :class:`~reidkit.core.types.Embedder` loaded from a model file (feature caches key on it)."""

    name: str
    path: Path
    dim: int

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


def is_checkpoint(model: str | Path) -> bool:
    """Whether ``model`` names a reidkit training checkpoint (by suffix), not an ONNX model."""
    return str(model).endswith(CHECKPOINT_SUFFIXES)


def build_embedder(
    model: str | Path | None = None, *, threads: int | None = None, max_batch: int | None = None
) -> ModelEmbedder:
    """An embedder for ``model`` (None: the registry default); ``max_batch`` None keeps the backend's own."""
    text = str(model or DEFAULT_REID_MODEL)
    options: dict[str, Any] = {"threads": threads}
    if max_batch is not None:
        options["max_batch"] = max_batch
    if is_checkpoint(text):
        return _checkpoint_embedder(Path(text), options)
    if text not in MODELS and not text.endswith(ONNX_SUFFIXES) and _looks_like_a_file(text):
        raise ModelError(
            f"cannot embed with {Path(text).name!r}: unknown model file type",
            path=text,
            hint="pass an .onnx file (`reidkit export` turns a .pth checkpoint into one), a reidkit "
            ".pth/.pt checkpoint, or a registry name (`reidkit models` lists them)",
        )
    from reidkit.embed.onnx import OnnxEmbedder

    return OnnxEmbedder(text, **options)


def _looks_like_a_file(text: str) -> bool:
    path = Path(text)
    return bool(path.suffix) or len(path.parts) > 1 or path.is_file()


def _checkpoint_embedder(path: Path, options: dict[str, Any]) -> ModelEmbedder:
    if not path.is_file():
        raise ModelError("checkpoint not found", path=path, hint="check the path")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ModelError(
            "embedding with a .pth checkpoint needs torch",
            path=path,
            hint="pip install 'reidkit[train]', or export it to ONNX first (`reidkit export -c`)",
        ) from None
    from reidkit.models.embedder import TorchEmbedder

    return TorchEmbedder(path, **options)
