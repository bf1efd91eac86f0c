"""YOLOX-style ONNX person detector (anchor-free, raw head output decoded here).

The graph's output is ``(1, A, 5 + C)`` per image, one row per anchor cell of the stride-8/16/32 grids
(``A = sum((H/s) * (W/s))``): ``x, y, w, h`` offsets, objectness, ``C`` class scores. A cell at grid
position ``(gx, gy)`` of stride ``s`` decodes to centre ``((x + gx) * s, (y + gy) * s)`` and size
``(exp(w) * s, exp(h) * s)`` in letterboxed input pixels; the person score is ``obj * cls[0]``.

The graphs are fully convolutional (their reshapes use -1, their upsampling scales), but ship with a
fixed square input. Letterboxing a 16:9 frame into 416x416 wastes 44 % of the input and shrinks people
to half size; so by default the detector frees the graph's spatial dimensions and feeds each frame at
its own aspect ratio with its longest side at ``input_side`` pixels (``bench/detect_recall.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.core.errors import ModelError
from reidkit.core.log import get_logger
from reidkit.core.runtime import create_session, prepare_batch, run_batched
from reidkit.core.types import Detections
from reidkit.detect.boxes import finish
from reidkit.detect.options import DEFAULT_INPUT_SIDE, DetectorOptions
from reidkit.zoo.registry import DEFAULT_DETECTOR, InputSpec, resolve_model

STRIDES = (8, 16, 32)
PERSON = 0  # COCO class 0
DEFAULTS = DetectorOptions()

_log = get_logger(__name__)


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
    ``input_side``: the longest side of the network input. Each image is letterboxed at its own aspect
    ratio (sides rounded up to multiples of 32), scaled so that its longest side is ``input_side``, but
    never below the model's native size (small photos are enlarged as before). ``None`` keeps the
    model's fixed input. A graph whose input cannot be freed falls back to its fixed input.

    ``detect`` may be called from several threads at once: onnxruntime runs concurrent calls on one
    session, and the rest keeps no state but a cache of grids (a race there computes one twice).
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_DETECTOR,
        conf: float = DEFAULTS.conf,
        nms_iou: float = DEFAULTS.nms_iou,
        min_size: float = DEFAULTS.min_size,
        threads: int | None = DEFAULTS.threads,
        input_side: int | None = DEFAULT_INPUT_SIDE,
    ):
        self.path, spec = resolve_model(model, task="detect")
        if spec is not None and spec.task != "detect":
            raise ModelError(
                f"{spec.name!r} is a {spec.task} model, not a detector",
                path=self.path,
                hint="pass a detector as --detector (`reidkit models` lists them); ReID models go to --model",
            )
        # To free the input size, the graph's shapes are read from the file instead of a session, so
        # that only the session that will run is built (each build optimises the whole graph).
        graph = _read_graph(self.path) if input_side is not None else None
        fixed = None if graph is not None else create_session(self.path, threads)
        input_shape, output_shape = _shapes(graph) if graph is not None else _session_shapes(fixed)
        self.input_spec = spec.input if spec is not None else _spec_from_shape(self.path, input_shape)
        self.name = spec.name if spec is not None else self.path.stem
        self.conf, self.nms_iou, self.min_size = conf, nms_iou, min_size
        native_grid = yolox_grid(self.input_spec.height, self.input_spec.width)
        self._grids = {(self.input_spec.height, self.input_spec.width): native_grid}
        self.num_classes = _check_output(self.path, output_shape, len(native_grid[0]))
        self.native_side = max(self.input_spec.height, self.input_spec.width)
        self.input_side: int | None = None
        session, not_freed = None, None
        if input_side is not None and input_side != self.native_side:
            try:
                if graph is None:
                    raise ValueError("onnx cannot read the file")
                session = _free_spatial_session(graph, threads, self.input_spec, self.num_classes)
                self.input_side = max(input_side, self.native_side)
            except Exception as exc:  # any failure: keep the model's own fixed input
                not_freed = exc
        if session is None:
            session = fixed or create_session(self.path, threads)  # a broken file fails here, in one line
        if not_freed is not None:
            _log.warning(
                "%s: input size cannot be freed (%s); using its fixed input", self.path.name, not_freed
            )
        self.session = session

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        """The network input (height, width) for an image of that size."""
        if self.input_side is None:
            return self.input_spec.height, self.input_spec.width
        longest = max(height, width)
        scale = min(max(longest, self.native_side), self.input_side) / longest
        return _round_up(height * scale, STRIDES[-1]), _round_up(width * scale, STRIDES[-1])

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        if len(images) == 0:
            return []
        shapes = [self.input_shape(*image.shape[:2]) for image in images]
        out: list[Detections | None] = [None] * len(images)
        # Frames of one video share a shape: one batch per shape.
        for shape in dict.fromkeys(shapes):
            members = [i for i, s in enumerate(shapes) if s == shape]
            spec = replace(self.input_spec, height=shape[0], width=shape[1])
            raw = run_batched(self.session, prepare_batch([images[i] for i in members], spec))
            grid, strides = self._grid(*shape)
            if raw.ndim != 3 or raw.shape[1:] != (len(grid), 5 + self.num_classes):
                raise ModelError(
                    f"model output has shape {raw.shape}, expected (N, {len(grid)}, {5 + self.num_classes})",
                    path=self.path,
                    hint="pass a YOLOX-style detector",
                )
            for i, rows in zip(members, raw, strict=True):
                out[i] = self._postprocess(rows, images[i], shape, grid, strides)
        return [d if d is not None else Detections.empty() for d in out]

    def _grid(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        if (height, width) not in self._grids:
            self._grids[height, width] = yolox_grid(height, width)
        return self._grids[height, width]

    def _postprocess(
        self,
        raw: np.ndarray,
        image: np.ndarray,
        shape: tuple[int, int],
        grid: np.ndarray,
        strides: np.ndarray,
    ) -> Detections:
        boxes, scores = decode_yolox(raw, grid, strides, self.conf)
        if len(boxes) == 0:
            return Detections.empty()
        # Letterbox padding is bottom/right only, so undoing it is a single scale.
        scale = min(shape[0] / image.shape[0], shape[1] / image.shape[1])
        return finish(boxes / scale, scores, image.shape, iou_threshold=self.nms_iou, min_size=self.min_size)

    def __repr__(self) -> str:
        side = self.input_side or f"{self.input_spec.height}x{self.input_spec.width} fixed"
        return f"YoloxDetector({self.name!r}, conf={self.conf}, input_side={side}, path={str(self.path)!r})"


def _round_up(value: float, multiple: int) -> int:
    return max(multiple, -(-round(value) // multiple) * multiple)


def _read_graph(path: Path) -> Any | None:
    """The model's ONNX graph, or None when ``onnx`` is missing or cannot parse the file (onnxruntime
    then reads it, or says in one line why not)."""
    try:
        import onnx

        return onnx.load(str(path))
    except Exception:  # a broken file: create_session gives the one-line error
        return None


Shape = list[int | str | None]


def _shapes(graph: Any) -> tuple[Shape, Shape]:
    """The first input's and first output's shapes as onnxruntime reports them: an int per fixed
    dimension, the name of a symbolic one, None for an unknown one."""

    def dims(value: Any) -> Shape:
        return [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value.type.tensor_type.shape.dim
        ]

    return dims(graph.graph.input[0]), dims(graph.graph.output[0])


def _session_shapes(session: Any) -> tuple[Shape, Shape]:
    return list(session.get_inputs()[0].shape), list(session.get_outputs()[0].shape)


def _free_spatial_session(graph: Any, threads: int | None, spec: InputSpec, num_classes: int) -> object:
    """A session on ``graph`` (consumed) with its input height/width and anchor count made symbolic.

    Raises when the freed graph cannot be built or fails a probe at a non-square size (a graph with
    fixed reshapes inside): the caller keeps the fixed input then.
    """
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    graph.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "anchors"
    del graph.graph.value_info[:]  # stale intermediate shapes of the square input
    session = create_session(graph.SerializeToString(), threads)
    probe_shape = (spec.height, spec.width + STRIDES[-1])
    probe = prepare_batch(
        [np.zeros((*probe_shape, 3), np.uint8)],
        replace(spec, height=probe_shape[0], width=probe_shape[1]),
    )
    raw = run_batched(session, probe)
    if raw.shape[1:] != (len(yolox_grid(*probe_shape)[0]), 5 + num_classes):
        raise ValueError(f"output {raw.shape} at input {probe_shape}")
    return session


def _spec_from_shape(path: Path, shape: Shape) -> InputSpec:
    """YOLOX convention for an unregistered file (``shape``: its input's): BGR, 0-255, letterbox padded
    with 114."""
    height, width = shape[2:4] if len(shape) == 4 and shape[1] == 3 else (None, None)
    if not isinstance(height, int) or not isinstance(width, int):
        raise ModelError(
            f"expected a fixed-size 1x3xHxW image input, got {shape}",
            path=path,
            hint="pass a YOLOX-style detector .onnx",
        )
    if height % 32 or width % 32:
        raise ModelError(f"input {height}x{width} is not a multiple of 32: not a YOLOX model", path=path)
    return InputSpec(height, width, channels="BGR", scale=1.0, resize="letterbox", pad_value=114.0)


def _check_output(path: Path, shape: Shape, anchors: int) -> int:
    """Number of classes, after checking the output ``shape`` is ``(N, anchors, 5 + C)``; ModelError
    otherwise."""
    classes = shape[2] - 5 if len(shape) == 3 and isinstance(shape[2], int) else 0
    if classes < 1 or (isinstance(shape[1], int) and shape[1] != anchors):
        raise ModelError(
            f"not a YOLOX-style detector: output shape {shape}, expected (1, {anchors}, 5 + classes)",
            path=path,
            hint="pass a detector model (e.g. yolox-nano), not a ReID model",
        )
    return classes
