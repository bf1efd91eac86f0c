"""YOLOX-style ONNX person detector (anchor-free, raw head output decoded here).

The graph's output is ``(1, A, 5 + C)`` per image, one row per anchor cell of the stride-8/16/32 grids
(``A = sum((H/s) * (W/s))``): ``x, y, w, h`` offsets, objectness, ``C`` class scores. A cell at grid
position ``(gx, gy)`` of stride ``s`` decodes to centre ``((x + gx) * s, (y + gy) * s)`` and size
``(exp(w) * s, exp(h) * s)`` in letterboxed input pixels; the person score is ``obj * cls[0]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reidkit.core.errors import ModelError
from reidkit.core.runtime import create_session, prepare_batch, run_batched
from reidkit.core.types import Detections
from reidkit.detect.boxes import finish
from reidkit.zoo.registry import DEFAULT_DETECTOR, InputSpec, resolve_model

STRIDES = (8, 16, 32)
PERSON = 0  # COCO class 0


def yolox_grid(height: int, width: int, strides: Sequence[int] = STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets ``(A, 2)`` as (gx, gy) and their strides ``(A, 1)``, in the head's output order."""
    grids, cell_strides = [], []
    for stride in strides:
        gy, gx = np.meshgrid(np.arange(height // stride), np.arange(width // stride), indexing="ij")
        grids.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
        cell_strides.append(np.full((gx.size, 1), stride))
    return np.concatenate(grids).astype(np.float32), np.concatenate(cell_strides).astype(np.float32)


def decode_yolox(
    raw: np.ndarray, grid: np.ndarray, strides: np.ndarray, conf: float, class_id: int = PERSON
) -> tuple[np.ndarray, np.ndarray]:
    """One image's raw head output ``(A, 5 + C)`` -> xyxy boxes in input pixels and scores >= ``conf``."""
    scores = raw[:, 4] * raw[:, 5 + class_id]
    hit = scores >= conf
    cells = raw[hit]
    centre = (cells[:, :2] + grid[hit]) * strides[hit]
    half = np.exp(np.minimum(cells[:, 2:4], 20.0)) * strides[hit] / 2  # min(): no overflow on junk
    return np.concatenate([centre - half, centre + half], axis=1), scores[hit]


class YoloxDetector:
    """People in BGR images with a YOLOX ONNX model::

    detector = YoloxDetector()                      # "yolox-nano" from the registry, or a path to .onnx
    detections = detector.detect(frame_bgr)         # boxes in the frame's pixels, best score first

    ``min_size`` drops people shorter than that many pixels (too small to re-identify).
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_DETECTOR,
        conf: float = 0.35,
        nms_iou: float = 0.45,
        min_size: float = 16.0,
        threads: int | None = None,
    ):
        self.path, spec = resolve_model(model)
        if spec is not None and spec.task != "detect":
            raise ModelError(
                f"{spec.name!r} is a {spec.task} model, not a detector",
                path=self.path,
                hint="pass a detector as --detector (`reidkit models` lists them); ReID models go to --model",
            )
        self.session = create_session(self.path, threads)
        self.input_spec = spec.input if spec is not None else _spec_from_session(self.path, self.session)
        self.name = spec.name if spec is not None else self.path.stem
        self.conf, self.nms_iou, self.min_size = conf, nms_iou, min_size
        self._input_name = self.session.get_inputs()[0].name
        self.grid, self.strides = yolox_grid(self.input_spec.height, self.input_spec.width)
        self.num_classes = _check_output(self.path, self.session, len(self.grid))

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        if len(images) == 0:
            return []
        raw = run_batched(self.session, prepare_batch(images, self.input_spec))
        if raw.ndim != 3 or raw.shape[1:] != (len(self.grid), 5 + self.num_classes):
            raise ModelError(
                f"model output has shape {raw.shape}, expected (N, {len(self.grid)}, {5 + self.num_classes})",
                path=self.path,
                hint="pass a YOLOX-style detector",
            )
        return [self._postprocess(out, image) for out, image in zip(raw, images, strict=True)]

    def _postprocess(self, raw: np.ndarray, image: np.ndarray) -> Detections:
        boxes, scores = decode_yolox(raw, self.grid, self.strides, self.conf)
        if len(boxes) == 0:
            return Detections.empty()
        # Letterbox padding is bottom/right only, so undoing it is a single scale.
        scale = min(self.input_spec.height / image.shape[0], self.input_spec.width / image.shape[1])
        return finish(boxes / scale, scores, image.shape, iou_threshold=self.nms_iou, min_size=self.min_size)

    def __repr__(self) -> str:
        return f"YoloxDetector({self.name!r}, conf={self.conf}, path={str(self.path)!r})"


def _spec_from_session(path: Path, session: object) -> InputSpec:
    """YOLOX convention for an unregistered file: BGR, 0-255, letterbox padded with 114."""
    shape = session.get_inputs()[0].shape  # type: ignore[attr-defined]
    if len(shape) != 4 or shape[1] != 3 or not all(isinstance(d, int) for d in shape[2:]):
        raise ModelError(
            f"expected a fixed-size 1x3xHxW image input, got {shape}",
            path=path,
            hint="pass a YOLOX-style detector .onnx",
        )
    height, width = int(shape[2]), int(shape[3])
    if height % 32 or width % 32:
        raise ModelError(f"input {height}x{width} is not a multiple of 32: not a YOLOX model", path=path)
    return InputSpec(height, width, channels="BGR", scale=1.0, resize="letterbox", pad_value=114.0)


def _check_output(path: Path, session: object, anchors: int) -> int:
    """Number of classes, after checking the output is ``(N, anchors, 5 + C)``; ModelError otherwise."""
    shape = session.get_outputs()[0].shape  # type: ignore[attr-defined]
    ok = (
        len(shape) == 3
        and isinstance(shape[2], int)
        and shape[2] > 5
        and (not isinstance(shape[1], int) or shape[1] == anchors)
    )
    if not ok:
        raise ModelError(
            f"not a YOLOX-style detector: output shape {shape}, expected (1, {anchors}, 5 + classes)",
            path=path,
            hint="pass a detector model (e.g. yolox-nano), not a ReID model",
        )
    return int(shape[2]) - 5
