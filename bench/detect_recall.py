"""Person-detector recall and precision against ground-truth boxes, per detector input size.

    PYTHONPATH=. python bench/detect_recall.py [--sides 416 640 768 960] [--crosscam-step 4]

Two sets with real ground truth, one real and one composed:

* **MOT17 (real)**: the frames and pedestrian ground truth of ``../shared/data/mot17-mini`` (1920x1080,
  crowded street scenes; boxes of class 1 with visibility >= 0.5);
* **crosscam (composed)**: every ``--crosscam-step``-th frame of the cross-camera benchmark footage
  (``bench/crosscam``, 768x432 rooms with pasted CUHK03 people; boxes at least half visible). Composed
  first when missing.

For each input side (``416 fixed`` = the model's own square letterbox, else
``YoloxDetector(input_side=N)``: the frame's aspect ratio, longest side N) it prints recall (a
ground-truth box matched by a detection at IoU >= 0.5) at confidence 0.1 and 0.35, precision at
0.35 (detections matching any ground-truth box, of any class or visibility, count as right), and
milliseconds per frame. Baseline: the fixed square input, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from reidkit.detect import YoloxDetector, box_iou  # noqa: E402
from reidkit.media import open_media, read_image  # noqa: E402
from reidkit.track.mot import mot_to_boxes, read_mot  # noqa: E402

SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
LOW, HIGH = 0.1, 0.35

# (image, boxes that must be found (N, 4), every annotated box (M, 4)) per frame
Sample = tuple[np.ndarray, np.ndarray, np.ndarray]


def mot17_samples(root: Path) -> list[Sample]:
    samples = []
    for seq in sorted(p for p in (root / "train").iterdir() if p.is_dir()):
        gt = read_mot(seq / "gt" / "gt.txt")
        for image_path in sorted((seq / "img1").glob("*.jpg")):
            rows = gt[gt[:, 0] == int(image_path.stem)]
            boxes = mot_to_boxes(rows)
            wanted = (rows[:, 6] == 1) & (rows[:, 7] == 1) & (rows[:, 8] >= 0.5)
            samples.append((read_image(image_path), boxes[wanted], boxes))
    return samples


def crosscam_samples(step: int) -> list[Sample]:
    from crosscam.compose import DEFAULT_OUT, ComposeConfig, compose
    from crosscam.recall import ground_truth_boxes

    truth_path = compose(ComposeConfig(), DEFAULT_OUT, SHARED)
    truth = json.loads(truth_path.read_text())
    gt = ground_truth_boxes(truth)
    samples = []
    for video in truth["videos"]:
        name = video["name"]
        for frame in open_media(truth_path.parent / name).frames(step):
            people = gt.get(name, {}).get(frame.index, [])
            if not people:
                continue
            every = np.stack([b for b, _ in people])
            wanted = np.stack([b for b, visible in people if visible >= 0.5] or [np.zeros(4)])
            samples.append((frame.image, wanted[wanted[:, 2] > 0], every))
    return samples


def score(detector: YoloxDetector, samples: list[Sample]) -> dict[str, float]:
    found_low = found_high = wanted_total = right = detected = 0
    seconds = 0.0
    for image, wanted, every in samples:
        started = time.perf_counter()
        dets = detector.detect(image)
        seconds += time.perf_counter() - started
        wanted_total += len(wanted)
        if len(wanted) and len(dets):
            best = np.where(box_iou(wanted, dets.boxes) >= 0.5, dets.scores[None, :], 0.0).max(axis=1)
            found_low += int((best >= LOW).sum())
            found_high += int((best >= HIGH).sum())
        strong = dets.boxes[dets.scores >= HIGH]
        detected += len(strong)
        if len(strong) and len(every):
            right += int((box_iou(strong, every).max(axis=1) >= 0.5).sum())
    return {
        "recall_low": 100 * found_low / max(wanted_total, 1),
        "recall_high": 100 * found_high / max(wanted_total, 1),
        "precision": 100 * right / max(detected, 1),
        "ms": 1000 * seconds / max(len(samples), 1),
        "boxes": wanted_total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--detector", default="yolox-nano")
    parser.add_argument("--sides", nargs="+", type=int, default=[416, 640, 768, 960])
    parser.add_argument("--crosscam-step", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(SHARED / "models"))
    sets = {"MOT17 1920x1080 (real)": mot17_samples(SHARED / "data" / "mot17-mini")}
    sets["crosscam 768x432 (composed)"] = crosscam_samples(args.crosscam_step)
    configs: list[tuple[str, int | None]] = [("fixed square", None)] + [(f"{s}", s) for s in args.sides]
    print(
        f"{'set':<28} {'input':>13} {'recall@0.1':>10} {'recall@0.35':>11} {'prec@0.35':>9} {'ms/frame':>9}"
    )
    for set_name, samples in sets.items():
        baseline_ms = None
        for label, side in configs:
            detector = YoloxDetector(
                args.detector, conf=LOW, min_size=1.0, threads=args.threads, input_side=side
            )
            detector.detect(samples[0][0])  # warm-up
            r = score(detector, samples)
            baseline_ms = baseline_ms or r["ms"]
            print(
                f"{set_name:<28} {label:>13} {r['recall_low']:>10.1f} {r['recall_high']:>11.1f} "
                f"{r['precision']:>9.1f} {r['ms']:>6.1f} ({r['ms'] / baseline_ms:.1f}x)"
            )
        print(f"{'':<28} ({len(samples)} frames, {int(r['boxes'])} boxes to find)")


if __name__ == "__main__":
    main()
