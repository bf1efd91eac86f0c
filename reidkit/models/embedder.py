"""Embed crops with a reidkit training checkpoint (``.pth``), the same way ``OnnxEmbedder`` does with ONNX.

A checkpoint is a dict with ``"model"`` (the state dict) and ``"config"`` (the training config as a dict,
whose ``"model"`` entry holds the :class:`~reidkit.models.ModelConfig` fields and ``"data"`` the input size).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reidkit.core.errors import ModelError
from reidkit.core.runtime import prepare_batch
from reidkit.core.vectors import l2_normalise


class TorchEmbedder:
    def __init__(self, path: str | Path, threads: int | None = None, max_batch: int = 64):
        # Through importlib: reidkit.models is built on its own branch; this file only needs its contract.
        models = importlib.import_module("reidkit.models")
        if not hasattr(models, "build_model"):
            raise ModelError("this reidkit build has no model builder (reidkit.models)", path=path)
        ModelConfig, build_model = models.ModelConfig, models.build_model

        self.path = Path(path)
        from reidkit.models.import_checkpoint import load_checkpoint_file

        state: Any = load_checkpoint_file(self.path)
        if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
            raise ModelError("not a reidkit checkpoint (no 'model' state dict)", path=self.path)
        config = state.get("config") or {}
        known = {f.name for f in dataclasses.fields(ModelConfig)}
        model_cfg = {k: v for k, v in (config.get("model") or {}).items() if k in known}
        cfg = ModelConfig(**{**model_cfg, "pretrained": ""})
        weights = {k.removeprefix("module."): v for k, v in state["model"].items()}
        classifier = next(
            (v for k, v in weights.items() if k.startswith("classifier.") and v.ndim == 2), None
        )
        self.model = build_model(cfg, int(classifier.shape[0]) if classifier is not None else 1)
        missing, _ = self.model.load_state_dict(weights, strict=False)
        if any(k.startswith("backbone.") for k in missing):
            raise ModelError("checkpoint weights do not fit its own model config", path=self.path)
        self.model.eval()
        data = config.get("data") or {}
        spec = self.model.input_spec
        self.input_spec = dataclasses.replace(
            spec, height=int(data.get("height", spec.height)), width=int(data.get("width", spec.width))
        )
        if threads:
            torch.set_num_threads(threads)
        self.max_batch = max_batch
        self.name = self.path.stem
        self.dim = int(
            self._forward(np.zeros((1, self.input_spec.height, self.input_spec.width, 3), np.uint8)).shape[1]
        )

    def _forward(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        batch = prepare_batch(list(crops), self.input_spec)
        with torch.inference_mode():
            return self.model(torch.from_numpy(batch)).float().numpy()

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        parts = [self._forward(crops[i : i + self.max_batch]) for i in range(0, len(crops), self.max_batch)]
        return l2_normalise(np.concatenate(parts))
