"""The ``DETECTORS`` registry and :func:`build_detector`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reidkit.core.errors import ModelError
from reidkit.core.registry import Registry
from reidkit.core.types import Detector
from reidkit.detect.hog import HogDetector
from reidkit.detect.yolox import YoloxDetector
from reidkit.zoo.registry import DEFAULT_DETECTOR

DETECTORS: Registry[Any] = Registry("detector")


@DETECTORS.register("yolox-nano")
def yolox_nano(**kwargs: Any) -> YoloxDetector:
    """YOLOX-nano (COCO, person class), fed at the frame's aspect ratio up to 640 px: the default."""
    return YoloxDetector("yolox-nano", **kwargs)


@DETECTORS.register("light-person-detector")
def light_person_detector(**kwargs: Any) -> YoloxDetector:
    """Person-only YOLOX-style model at 192x192: much faster, misses people under ~80 px in a 1080p frame."""
    kwargs.setdefault("input_side", None)  # its point is speed: keep the fixed 192x192 input
    return YoloxDetector("light-person-detector", **kwargs)


DETECTORS.register("hog")(HogDetector)

# A model file's suffix picks the decoder for it.
SUFFIX_BACKENDS: dict[str, Any] = {".onnx": YoloxDetector}


def build_detector(name_or_path: str | Path = DEFAULT_DETECTOR, **kwargs: Any) -> Detector:
    """A detector by registry name (``yolox-nano``, ``light-person-detector``, ``hog``) or model file path.

    Keyword arguments go to the detector (``conf``, ``nms_iou``, ``min_size``, ``threads``, ``input_side``
    for ONNX models).
    """
    text = str(name_or_path)
    if text in DETECTORS:
        detector: Detector = DETECTORS.build(text, **kwargs)
        return detector
    path = Path(text).expanduser()
    if not path.suffix and not path.exists():
        raise ModelError(
            f"unknown detector {text!r}; known: {', '.join(DETECTORS.names())}",
            hint="or pass a path to a YOLOX-style .onnx file",
        )
    backend = SUFFIX_BACKENDS.get(path.suffix.lower())
    if backend is None:
        raise ModelError(
            f"no detector reads {path.suffix or 'suffix-less'} files",
            path=path,
            hint=f"pass a {' or '.join(sorted(SUFFIX_BACKENDS))} model or one of: {', '.join(DETECTORS.names())}",
        )
    built: Detector = backend(path, **kwargs)
    return built
