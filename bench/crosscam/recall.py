"""Where do people get lost before ReID? Detection recall and tracklet coverage on the benchmark footage.

    PYTHONPATH=. python bench/crosscam/recall.py [--out DIR] [--stride 2]

The detector runs once per processed frame (every ``--stride``-th frame, as the indexer does) at a low
confidence (0.05) with no size filter; the raw detections are cached in ``<out>/cache``. Then, without
any ReID:

* **detection recall**: the fraction of ground-truth boxes (at least half visible: people are drawn
  far-to-near, so a far one can hide behind a near one) matched by a detection at IoU >= 0.5, for
  several confidence thresholds;
* **interval coverage**: ByteTracker + TrackletBuilder over the detections kept at a threshold, for a few
  tracker settings; coverage = the fraction of ground-truth intervals some tracklet matches with
  temporal IoU >= 0.5 (``metrics.coverage``), plus the number of tracklets (fragmentation).

Nothing here is used by the product at run time; it explains the recall ceiling of ``run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.compose import add_footage_arguments, compose, footage_config  # noqa: E402
from crosscam.metrics import Moment, coverage  # noqa: E402
from reidkit.core.types import Detections  # noqa: E402
from reidkit.detect.yolox import DEFAULT_INPUT_SIDE  # noqa: E402

LOW_CONF = 0.05


def visible_fraction(box: np.ndarray, nearer: Sequence[np.ndarray]) -> float:
    """Fraction of ``box`` not covered by the boxes drawn over it (union approximated on a 4-px grid)."""
    x1, y1, x2, y2 = (int(v) // 4 for v in box)
    if x2 <= x1 or y2 <= y1:
        return 0.0
    mask = np.ones((y2 - y1, x2 - x1), bool)
    for other in nearer:
        a1, b1, a2, b2 = (int(v) // 4 for v in other)
        mask[max(0, b1 - y1) : max(0, b2 - y1), max(0, a1 - x1) : max(0, a2 - x1)] = False
    return float(mask.mean())


def ground_truth_boxes(truth: dict) -> dict[str, dict[int, list[tuple[np.ndarray, float]]]]:
    """video -> frame -> [(box, visible fraction)] for every pasted person."""
    per_frame: dict[str, dict[int, list[np.ndarray]]] = {}
    for person in truth["people"]:
        for a in person["appearances"]:
            frames = per_frame.setdefault(a["video"], {})
            for f, b in zip(a["frames"], a["boxes"], strict=True):
                frames.setdefault(f, []).append(np.array(b, np.float32))
    out: dict[str, dict[int, list[tuple[np.ndarray, float]]]] = {}
    for video, frames in per_frame.items():
        out[video] = {}
        for f, boxes in frames.items():
            # Drawn far to near: a box with a larger bottom y is painted later, over the others.
            out[video][f] = [(b, visible_fraction(b, [o for o in boxes if o[3] > b[3]])) for b in boxes]
    return out


def detect_low(
    bench_root: Path, videos: list[str], stride: int, cache: Path
) -> dict[str, dict[int, Detections]]:
    path = cache / f"detections_low_s{stride}_in{DEFAULT_INPUT_SIDE}.npz"
    if path.is_file():
        stored = np.load(path)
        out: dict[str, dict[int, Detections]] = {}
        for key in stored.files:
            video, f, kind = key.rsplit("/", 2)
            if kind == "b":
                out.setdefault(video, {})[int(f)] = Detections(stored[key], stored[f"{video}/{f}/s"])
        return out
    from reidkit.detect import build_detector
    from reidkit.media import open_media

    detector = build_detector("yolox-nano", conf=LOW_CONF, min_size=1.0, threads=1)
    out = {}
    for video in videos:
        out[video] = {
            fr.index: detector.detect(fr.image) for fr in open_media(bench_root / video).frames(stride)
        }
    cache.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for video, frames in out.items():
        for f, d in frames.items():
            arrays[f"{video}/{f}/b"], arrays[f"{video}/{f}/s"] = d.boxes, d.scores
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return out


def detection_recall(
    dets: dict[str, dict[int, Detections]],
    gt: dict[str, dict[int, list[tuple[np.ndarray, float]]]],
    conf: float,
    min_visible: float = 0.5,
) -> float:
    from reidkit.detect import box_iou

    found = total = 0
    for video, frames in dets.items():
        for f, d in frames.items():
            boxes = [b for b, vis in gt.get(video, {}).get(f, []) if vis >= min_visible]
            if not boxes:
                continue
            total += len(boxes)
            keep = d.boxes[d.scores >= conf]
            if len(keep):
                found += int((box_iou(np.stack(boxes), keep).max(axis=1) >= 0.5).sum())
    return found / max(total, 1)


def tracklet_stretches(
    dets: dict[str, dict[int, Detections]], fps: float, conf: float, tracker_config: object, min_length: int
) -> list[Moment]:
    from reidkit.core.types import Frame
    from reidkit.track import ByteTracker, TrackletBuilder

    blank = np.zeros((1, 1, 3), np.uint8)
    out = []
    for video, frames in dets.items():
        tracker = ByteTracker(tracker_config)  # type: ignore[arg-type]
        builder = TrackletBuilder(min_length=min_length, max_idle=tracker.config.buffer)
        for f in sorted(frames):
            d = frames[f]
            keep = d.scores >= conf
            builder.add(
                Frame(blank, f, f / fps), tracker.update(Detections(d.boxes[keep], d.scores[keep]), f)
            )
        out.extend(Moment(video, t.start_frame, t.end_frame) for t in builder.finish())
    return out


def main(argv: Sequence[str] | None = None) -> None:
    from reidkit.track import TrackerConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_footage_arguments(parser)
    parser.add_argument("--stride", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(args.shared / "models"))
    truth_path = compose(footage_config(args), args.out, args.shared)
    truth = json.loads(truth_path.read_text())
    fps = float(truth["videos"][0]["fps"])
    videos = [v["name"] for v in truth["videos"]]
    intervals = {
        p["pid"]: [Moment(a["video"], a["start_frame"], a["end_frame"]) for a in p["appearances"]]
        for p in truth["people"]
    }
    dets = detect_low(args.out, videos, args.stride, args.out / "cache")
    gt = ground_truth_boxes(truth)
    print("detection recall (GT boxes >= 50% visible, IoU >= 0.5):")
    for conf in (0.1, 0.2, 0.25, 0.3, 0.35, 0.5):
        print(f"  conf {conf:.2f}: {100 * detection_recall(dets, gt, conf):.1f}%")
    base = TrackerConfig.for_detector("yolox-nano")
    variants = {
        f"yolox-nano defaults (track_high {base.track_high})": base,
        "track_high=new_track=0.5 (TrackerConfig())": TrackerConfig(),
        "new_track=track_high=0.4": replace(base, new_track=0.4, track_high=0.4),
        "new_track=0.5": replace(base, new_track=0.5),
    }
    print("interval coverage of all people's walks (tracklets, temporal IoU >= 0.5):")
    for conf in (0.1, 0.25, 0.35):
        for name, cfg in variants.items():
            for min_length in (2, 3):
                stretches = tracklet_stretches(dets, fps, conf, cfg, min_length)
                cov = coverage(stretches, intervals)
                print(
                    f"  det conf {conf:.2f}, tracker {name}, min_length {min_length}: "
                    f"coverage {100 * cov:.1f}%, {len(stretches)} tracklets"
                )


if __name__ == "__main__":
    main()
