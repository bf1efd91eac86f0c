"""The ``DETECTORS`` registry, each detector's default :class:`DetectorOptions`, :func:`build_detector`,
and :func:`build_detectors` for several threads detecting at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.core.errors import ModelError
from reidkit.core.registry import Registry
from reidkit.core.types import Detections, Detector
from reidkit.detect.hog import HOG_DEFAULTS, HogDetector
from reidkit.detect.options import DetectorOptions
from reidkit.detect.yolox import YoloxDetector
from reidkit.zoo.registry import DEFAULT_DETECTOR

DetectorFactory = Callable[[DetectorOptions], Detector]

DETECTORS: Registry[DetectorFactory] = Registry("detector")
# Each registered detector's options when nothing overrides them.
DETECTOR_DEFAULTS: dict[str, DetectorOptions] = {}
# The registered detectors whose ``detect`` may run in several threads at once on one object.
THREAD_SAFE: set[str] = set()


def register_detector(
    name: str, defaults: DetectorOptions, thread_safe: bool = False
) -> Callable[[DetectorFactory], DetectorFactory]:
    """Register ``factory(options) -> Detector`` under ``name``, built with ``defaults`` unless overridden.

    ``thread_safe``: one detector may serve several threads at once (:func:`build_detectors`).
    """

    def deco(factory: DetectorFactory) -> DetectorFactory:
        DETECTOR_DEFAULTS[name] = defaults
        if thread_safe:
            THREAD_SAFE.add(name)
        return DETECTORS.register(name)(factory)

    return deco


def _yolox(model: str | Path, options: DetectorOptions) -> YoloxDetector:
    return YoloxDetector(
        model,
        conf=options.conf,
        nms_iou=options.nms_iou,
        min_size=options.min_size,
        threads=options.threads,
        input_side=options.input_side,
    )


@register_detector("yolox-nano", DetectorOptions(), thread_safe=True)
def yolox_nano(options: DetectorOptions) -> Detector:
    """YOLOX-nano (COCO, person class), fed at the frame's aspect ratio up to 640 px: the default."""
    return _yolox("yolox-nano", options)


# Its point is speed: keep the fixed 192x192 input.
@register_detector("light-person-detector", DetectorOptions(input_side=None), thread_safe=True)
def light_person_detector(options: DetectorOptions) -> Detector:
    """Person-only YOLOX-style model at 192x192: much faster, misses people under ~80 px in a 1080p frame."""
    return _yolox("light-person-detector", options)


@register_detector("hog", HOG_DEFAULTS)
def hog(options: DetectorOptions) -> Detector:
    """OpenCV's HOG people detector: needs no weights (``threads`` does not apply)."""
    return HogDetector(
        conf=options.conf, nms_iou=options.nms_iou, min_size=options.min_size, max_side=options.input_side
    )


# A model file's suffix picks the decoder for it; files get that decoder's defaults.
SUFFIX_BACKENDS: dict[str, Callable[[Path, DetectorOptions], Detector]] = {".onnx": _yolox}
SUFFIX_DEFAULTS: dict[str, DetectorOptions] = {".onnx": DetectorOptions()}
SUFFIX_THREAD_SAFE = {".onnx"}


def detector_options(name_or_path: str | Path = DEFAULT_DETECTOR, **overrides: Any) -> DetectorOptions:
    """The options a detector is built with: its registered defaults (a model file: its decoder's),
    then ``overrides`` (``conf=0.1, threads=2, ...``)."""
    text = str(name_or_path)
    defaults = DETECTOR_DEFAULTS.get(text) or SUFFIX_DEFAULTS.get(
        Path(text).suffix.lower(), DetectorOptions()
    )
    return replace(defaults, **overrides)


def build_detector(
    name_or_path: str | Path = DEFAULT_DETECTOR, options: DetectorOptions | None = None, **overrides: Any
) -> Detector:
    """A detector by registry name (``yolox-nano``, ``light-person-detector``, ``hog``) or model file path.

    Built with ``options`` (default: :func:`detector_options` of that detector), then ``overrides``
    (``conf``, ``nms_iou``, ``min_size``, ``input_side``, ``threads``).
    """
    options = (
        replace(options, **overrides) if options is not None else detector_options(name_or_path, **overrides)
    )
    text = str(name_or_path)
    if text in DETECTORS:
        return DETECTORS.get(text)(options)
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
    return backend(path, options)


def build_detectors(name_or_path: str | Path, options: DetectorOptions, count: int) -> list[Detector]:
    """Detectors for ``count`` threads detecting at once, the i-th thread using the i-th.

    A thread-safe detector (ONNX: onnxruntime runs concurrent ``run`` calls on one session, each in its
    caller's thread when the session has one thread) is built once and listed ``count`` times, so its
    graph is read and optimised once; any other is built ``count`` times.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    text = str(name_or_path)
    shared = text in THREAD_SAFE or (
        text not in DETECTORS and Path(text).suffix.lower() in SUFFIX_THREAD_SAFE
    )
    if shared:
        return [build_detector(name_or_path, options)] * count
    return [build_detector(name_or_path, options) for _ in range(count)]


class DeferredDetector:
    """A detector built on its first ``detect``: for one that a run may never use (the indexer's
    detector for still images when it indexes only videos), whose build is a share of a short run."""

    def __init__(self, build: Callable[[], Detector], name: str):
        self.name = name
        self._build = build
        self._detector: Detector | None = None

    @property
    def built(self) -> Detector:
        """The detector, built now if it was not yet."""
        if self._detector is None:
            self._detector = self._build()
        return self._detector

    @property
    def is_built(self) -> bool:
        return self._detector is not None

    def detect(self, image: np.ndarray) -> Detections:
        return self.built.detect(image)

    def __repr__(self) -> str:
        return (
            f"DeferredDetector({self._detector!r})" if self._detector else f"DeferredDetector({self.name!r})"
        )
