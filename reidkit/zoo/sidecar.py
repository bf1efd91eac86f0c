"""The JSON file written beside every reidkit-exported ONNX model (``model.onnx`` -> ``model.json``).

It tells a consumer how to feed the model without guessing from the input shape::

    {"format": "reidkit-onnx/1",
     "input": {"height": 256, "width": 128, "layout": "NCHW", "channels": "RGB", "scale": 0.00392...,
               "mean": [...], "std": [...], "resize": "stretch", "pad_value": 114.0},
     "input_name": "images", "output_name": "embeddings", "output_dim": 512, "dynamic_batch": true,
     "normalised": false, "precision": "fp32" | "int8", "source": {...}, "parity": {...},
     "calibration": {"threshold": ..., "logit_slope": ..., ...}}   # reidkit calibrate --write

Kept free of torch and onnx so product stages can read it (``read_sidecar``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from reidkit.core.errors import ModelError
from reidkit.zoo.registry import InputSpec

FORMAT = "reidkit-onnx/1"


def sidecar_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def write_sidecar(model_path: str | Path, input_spec: InputSpec, **fields: Any) -> Path:
    data = {"format": FORMAT, "input": dataclasses.asdict(input_spec), **fields}
    path = sidecar_path(model_path)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def read_sidecar(model_path: str | Path) -> dict[str, Any] | None:
    """The sidecar of ``model_path`` with ``"input"`` as an :class:`InputSpec`, or None if absent."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        spec = data["input"]
        for key in ("mean", "std"):
            spec[key] = tuple(spec[key])
        data["input"] = InputSpec(**spec)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"unreadable model sidecar ({exc.__class__.__name__})", path=path, hint="re-export the model"
        ) from exc
    if data.get("format") != FORMAT:
        raise ModelError(f"unknown sidecar format {data.get('format')!r}", path=path)
    return data


def write_calibration(
    model_path: str | Path, numbers: dict[str, Any], input_spec: InputSpec | None = None
) -> Path:
    """Store ``numbers`` (``reidkit calibrate``) as the ``calibration`` of the model's sidecar.

    A model without a sidecar (a foreign ONNX file) gets one, with ``input_spec`` (how reidkit feeds
    it). The file is replaced atomically: a reader never sees half of it.
    """
    import os
    import tempfile

    path = sidecar_path(model_path)
    if path.is_file():
        data = json.loads(path.read_text())
    elif input_spec is not None:
        data = {"format": FORMAT, "input": dataclasses.asdict(input_spec)}
    else:
        raise ModelError("the model has no sidecar to store a calibration in", path=path)
    data["calibration"] = numbers
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sidecar-")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path
