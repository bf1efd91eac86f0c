"""Checkpoints that make resuming exact: weights, optimiser, schedule, sampler, counters and RNG states.

Files are written atomically (``<name>.tmp`` then ``os.replace``), so a run killed mid-write leaves the
previous ``last.pth`` intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reidkit.core.errors import ModelError


def capture_rng() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(state: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelError("checkpoint not found", path=path, hint="train first or drop --resume")
    try:
        # Our own files: they hold Python RNG tuples and the config dict, not only tensors.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for truncated/corrupt files
        raise ModelError(
            f"not a readable checkpoint ({exc.__class__.__name__})", path=path, hint="delete it and retrain"
        ) from exc
    if not isinstance(state, dict) or "model" not in state:
        raise ModelError("not a reidkit checkpoint (no 'model' entry)", path=path)
    return state
