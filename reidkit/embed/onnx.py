"""ONNX Runtime embedder: the registry's input spec drives preprocessing; output rows are L2-normalised."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reidkit.core.errors import ModelError
from reidkit.core.runtime import create_session, input_batch_size, prepare_batch, run_batched
from reidkit.core.vectors import l2_normalise
from reidkit.zoo.registry import (
    DEFAULT_REID_MODEL,
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputSpec,
    ModelSpec,
    resolve_model,
)
from reidkit.zoo.sidecar import read_sidecar


def spec_from_session(path: Path, session: object) -> InputSpec:
    """Guess the input spec of an unregistered ReID model from its input shape.

    NHWC graphs are taken as OpenVINO-style (BGR, 0-255, no normalisation); NCHW graphs as torchreid-
    style (RGB, /255, ImageNet mean/std), which is also what ``reidkit export`` writes.
    """
    shape = session.get_inputs()[0].shape  # type: ignore[attr-defined]
    if len(shape) != 4:
        raise ModelError(f"expected a 4-D image input, got shape {shape}", path=path)
    if shape[3] == 3:
        return InputSpec(int(shape[1]), int(shape[2]), layout="NHWC", channels="BGR", scale=1.0)
    if shape[1] == 3 and isinstance(shape[2], int) and isinstance(shape[3], int):
        return InputSpec(int(shape[2]), int(shape[3]), mean=IMAGENET_MEAN, std=IMAGENET_STD)
    raise ModelError(f"cannot tell the image layout from input shape {shape}", path=path)


def check_reid_output(path: Path, session: object) -> None:
    """ModelError unless the graph's first output is one vector per image (rank 2, ``N x D``).

    Checked before anything is embedded: a detector's ``1 x anchors x values`` output, flattened, would
    otherwise pass as a vector of its own odd size and end up in (or create) a library.
    """
    shape = session.get_outputs()[0].shape  # type: ignore[attr-defined]
    if shape is not None and len(shape) == 2:
        return
    described = "x".join(str(d) for d in shape) if shape else "a scalar or unknown shape"
    raise ModelError(
        f"not a ReID model: its output is {described}, not one N x D vector per image",
        path=path,
        hint="this looks like a detector: pass it as --detector; ReID models output N x D vectors; "
        "`reidkit models` lists them",
    )


class OnnxEmbedder:
    """One-line feature extractor::

    embedder = OnnxEmbedder("osnet_x0_25_msmt17")     # a registry name or a path to .onnx
    vectors = embedder.embed([crop_bgr, ...])          # (N, dim) float32, rows of unit length
    """

    def __init__(
        self, model: str | Path = DEFAULT_REID_MODEL, threads: int | None = None, max_batch: int = 32
    ):
        self.path, registered = resolve_model(model)
        self.session = create_session(self.path, threads)
        spec: ModelSpec | None = registered
        if spec is not None and spec.task != "reid":
            raise ModelError(
                f"{spec.name!r} is a {spec.task} model, not a ReID model",
                path=self.path,
                hint="pass a ReID model as --model (`reidkit models` lists them); detectors go to --detector",
            )
        check_reid_output(self.path, self.session)
        self.spec = spec
        if spec is not None:
            self.input_spec = spec.input
        else:  # a reidkit export says how to feed it; otherwise guess from the input shape
            sidecar = read_sidecar(self.path)
            self.input_spec = sidecar["input"] if sidecar else spec_from_session(self.path, self.session)
        self.name = spec.name if spec is not None else self.path.stem
        self.max_batch = max_batch
        self.fixed_batch = input_batch_size(self.session)
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch = prepare_batch(crops, self.input_spec)
        features = run_batched(self.session, batch, self.max_batch).astype(np.float32, copy=False)
        return l2_normalise(features.reshape(len(crops), -1))

    def __repr__(self) -> str:
        return f"OnnxEmbedder({self.name!r}, dim={self.dim}, path={str(self.path)!r})"
