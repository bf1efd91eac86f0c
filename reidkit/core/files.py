"""File helpers every layer shares: a file's content hash and reidkit's per-user cache folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """sha256 of the file's bytes, as 64 hex digits (read in chunks: videos and models can be large).

    Raises OSError when the file cannot be read; callers turn that into their own one-line error.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def user_cache_dir(kind: str) -> Path:
    """``$XDG_CACHE_HOME/reidkit/<kind>`` (``~/.cache/reidkit/<kind>``): downloaded models, features."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reidkit" / kind
