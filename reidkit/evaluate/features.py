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

import numpy as np

from reidkit.core.files import sha256_file, user_cache_dir
from reidkit.core.log import get_logger
from reidkit.data.base import read_dataset_image
from reidkit.embed.factory import ModelEmbedder

log = get_logger(__name__)


def default_cache_dir() -> Path:
    return user_cache_dir("features")


def cache_key(model_path: Path, dataset: str, paths: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(sha256_file(model_path).encode())
    digest.update(dataset.encode())
    for path in paths:
        digest.update(b"\0" + str(Path(path).resolve()).encode())
    return digest.hexdigest()[:24]


def extract_features(
    embedder: ModelEmbedder,
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
            parts.append(embedder.embed([read_dataset_image(p) for p in chunk]))
            bar.update(len(chunk))
    features = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npy")
        np.save(tmp, features)
        os.replace(tmp, cache_file)
    return features
