"""ONNX Runtime sessions and input preparation driven by a model's :class:`~reidkit.zoo.InputSpec`.

Shared by ``detect`` and ``embed`` so that every model is fed exactly as its registry entry says.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from reidkit.core.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

    from reidkit.zoo.registry import InputSpec


def default_threads(cpus: float | None = None) -> int:
    """onnxruntime intra-op threads per session: ``$REIDKIT_THREADS``, else ``cpus`` (a worker's share of
    the machine, rounded down), else every core.

    Every core, even with a decode thread beside it: sessions do not spin (:func:`create_session`), so
    the decoder gets a core whenever the model waits, and the models run one at a time in the indexer.
    """
    env = os.environ.get("REIDKIT_THREADS")
    if env:
        return max(1, int(env))
    if cpus is not None:
        return max(1, math.floor(cpus))
    return max(1, os.cpu_count() or 1)


def create_session(model: str | Path | bytes, threads: int | None = None) -> ort.InferenceSession:
    """Open an ONNX model (a file, or a serialized graph); an invalid model gives a one-line ModelError."""
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    path = None if isinstance(model, bytes) else Path(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    # Idle pool threads sleep instead of busy-waiting for the next operator: spinning threads take the
    # cores from the decode thread, the other model and other processes, and on a busy machine a
    # two-thread session that spins ran slower than one thread.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    try:
        return ort.InferenceSession(source, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ModelError(
            f"not a valid ONNX model ({exc.__class__.__name__})",
            path=path,
            hint="re-download it, or pass another model file (`reidkit models` lists the known ones)",
        ) from exc


def input_batch_size(session: ort.InferenceSession) -> int | None:
    """The fixed batch size of the first input, or None when the batch dimension is dynamic."""
    dim = session.get_inputs()[0].shape[0]
    return dim if isinstance(dim, int) and dim > 0 else None


def letterbox(image: np.ndarray, height: int, width: int, pad_value: float) -> tuple[np.ndarray, float]:
    """Resize keeping aspect ratio, pad bottom/right. Returns the padded image and the scale used."""
    scale = min(height / image.shape[0], width / image.shape[1])
    new_h, new_w = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    out = np.full((height, width, 3), pad_value, dtype=np.uint8)
    out[:new_h, :new_w] = resized
    return out, scale


def prepare_batch(images: Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """BGR uint8 images -> float32 tensor laid out as the model expects (N, C, H, W) or (N, H, W, C)."""
    nchw = spec.layout == "NCHW"
    shape = (spec.height, spec.width)
    batch = np.empty((len(images), 3, *shape) if nchw else (len(images), *shape, 3), dtype=np.float32)
    # (x * scale - mean) / std as one multiply-add per channel, written straight into the model's
    # layout: the embedder's preprocessing otherwise costs a large share of a small model's time.
    std = np.asarray(spec.std, np.float64)
    gain = (spec.scale / std).astype(np.float32)
    offset = (-np.asarray(spec.mean, np.float64) / std).astype(np.float32)
    if nchw:
        gain, offset = gain[:, None, None], offset[:, None, None]
    for i, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"expected a non-empty HxWx3 BGR image, got shape {image.shape}")
        if spec.resize == "letterbox":
            resized, _ = letterbox(image, spec.height, spec.width, spec.pad_value)
        else:
            resized = cv2.resize(image, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
        if spec.channels == "RGB":
            resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        np.multiply(resized.transpose(2, 0, 1) if nchw else resized, gain, out=batch[i])
        batch[i] += offset
    return batch


def run_batched(session: Any, batch: np.ndarray, max_batch: int = 32) -> np.ndarray:
    """Run the first output of ``session`` over ``batch``: one by one for fixed-batch graphs, else in chunks."""
    name = session.get_inputs()[0].name
    fixed = input_batch_size(session)
    step = fixed if fixed else max_batch
    outputs = [session.run(None, {name: batch[i : i + step]})[0] for i in range(0, len(batch), step)]
    return np.concatenate(outputs, axis=0)
