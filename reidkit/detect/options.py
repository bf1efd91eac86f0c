"""What a detector is built with: :class:`DetectorOptions`, one definition for every detector."""

from __future__ import annotations

from dataclasses import dataclass

# yolox-nano's recall on people 150-330 px tall in 768x432 frames, conf 0.35 (bench/detect_recall.py):
# 70 % letterboxed into 416x416, 83 % at 640x384, for 1.4x the time; 960 px (an up-scale) was worse.
DEFAULT_INPUT_SIDE = 640


@dataclass(frozen=True)
class DetectorOptions:
    """The settings every detector takes; each registered detector has its own defaults
    (:func:`reidkit.detect.detector_options`), and the indexer, ``reidkit track`` and the benches all
    build detectors from these."""

    conf: float = 0.35  # boxes scoring below this are dropped
    nms_iou: float = 0.45  # non-maximum suppression: of two boxes overlapping this much, keep the best
    min_size: float = 16.0  # people shorter than this many pixels are dropped (too small to re-identify)
    # Longest side of the image the detector sees (frames keep their aspect ratio); None: the model's
    # own fixed input (ONNX) or the full frame (HOG).
    input_side: int | None = DEFAULT_INPUT_SIDE
    # onnxruntime intra-op threads (None: reidkit.core.runtime.default_threads); HOG runs on OpenCV's
    # process-wide pool and has no per-detector setting.
    threads: int | None = None
