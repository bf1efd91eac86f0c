"""People detectors behind the :class:`~reidkit.core.types.Detector` protocol.

* :func:`build_detector` (``"yolox-nano"`` by default, ``"light-person-detector"``, ``"hog"``, or a path
  to a YOLOX-style ``.onnx``) -> a detector with ``detect(image) -> Detections`` and ``detect_batch``;
* :func:`build_detectors`: detectors for several threads detecting at once (one shared object when it is
  thread-safe, as ONNX detectors are); :class:`DeferredDetector`: one built on its first use;
* :class:`DetectorOptions` (confidence, NMS, minimum size, input side, threads): what every detector is
  built with; :func:`detector_options` gives a detector's registered defaults with overrides;
* :class:`YoloxDetector`: ONNX Runtime, letterboxed input as the model registry says, raw head decoded
  here (person class only), NMS, boxes in the original image's pixels;
* :class:`HogDetector`: OpenCV's HOG people detector, the fallback that needs no weights.

A file that is not a detector gives a one-line :class:`~reidkit.core.errors.ModelError`.
"""

from reidkit.detect.boxes import box_iou, nms
from reidkit.detect.hog import HogDetector
from reidkit.detect.options import DetectorOptions
from reidkit.detect.registry import (
    DETECTOR_DEFAULTS,
    DETECTORS,
    DeferredDetector,
    build_detector,
    build_detectors,
    detector_options,
)
from reidkit.detect.yolox import YoloxDetector, decode_yolox, yolox_grid

__all__ = [
    "DETECTORS",
    "DETECTOR_DEFAULTS",
    "DeferredDetector",
    "DetectorOptions",
    "HogDetector",
    "YoloxDetector",
    "box_iou",
    "build_detector",
    "build_detectors",
    "decode_yolox",
    "detector_options",
    "nms",
    "yolox_grid",
]
