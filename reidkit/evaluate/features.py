"""Feature extraction for evaluation, with an on-disk cache.

Features are cached per (model file sha256, dataset name, ordered image list) under
``$XDG_CACHE_HOME/reidkit/features`` (or ``cache_dir``), so a second run (``--rerank``, another report)
skips the network entirely. Any change to the model file or the image list gives a new key.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from reidkit.core.errors import DatasetError
from reidkit.core.files import sha256_file, user_cache_dir
from reidkit.core.log import get_logger

log = get_logger(__name__)


class CropEmbedder(Protocol):
    name: str
    path: Path
    dim: int

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


def default_cache_dir() -> Path:
    return user_cache_dir("features")


def cache_key(model_path: Path, dataset: str, paths: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(sha256_file(model_path).encode())
    digest.update(dataset.encode())
    for path in paths:
        digest.update(b"\0" + str(Path(path).resolve()).encode())
    return digest.hexdigest()[:24]


def read_image(path: str) -> np.ndarray:
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError("cannot read image", path=path, hint="the file is missing or not an image")
    return image


def extract_features(
    embedder: CropEmbedder,
    paths: Sequence[str],
    *,
    dataset: str = "",
    cache_dir: Path | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """(N, D) L2-normalised features of the images at ``paths``, in order; cached when ``cache_dir``."""
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"{cache_key(embedder.path, dataset, paths)}.npy"
        if cache_file.is_file():
            features = np.load(cache_file)
            if features.shape == (len(paths), embedder.dim):
                log.info("features from cache %s", cache_file)
                return features
    from tqdm import tqdm

    parts = []
    with tqdm(
        total=len(paths),
        desc=f"embedding {embedder.name}",
        unit="img",
        disable=not (progress and sys.stderr.isatty()),
    ) as bar:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            parts.append(embedder.embed([read_image(p) for p in chunk]))
            bar.update(len(chunk))
    features = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npy")
        np.save(tmp, features)
        os.replace(tmp, cache_file)
    return features


def load_embedder(model: str | Path | None, threads: int | None = None) -> CropEmbedder:
    """A registry name or ``.onnx`` path -> OnnxEmbedder; a ``.pth``/``.pt`` training checkpoint -> TorchEmbedder."""
    from reidkit.core.errors import ModelError
    from reidkit.embed.onnx import OnnxEmbedder
    from reidkit.zoo.registry import DEFAULT_REID_MODEL

    text = str(model or DEFAULT_REID_MODEL)
    if text.endswith((".pth", ".pt", ".pth.tar")):
        if not Path(text).is_file():
            raise ModelError("checkpoint not found", path=text)
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ModelError(
                "evaluating a .pth checkpoint needs torch", path=text, hint="pip install 'reidkit[train]'"
            ) from None
        from reidkit.models.embedder import TorchEmbedder

        return TorchEmbedder(text, threads=threads)
    return OnnxEmbedder(text, threads=threads)
