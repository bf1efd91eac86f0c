"""Score the ByteTracker against ground truth and print a table.

Inputs:
* MOT17 mini sequences (``../shared/data/mot17-mini``): the public FRCNN detections ``det/det.txt``
  tracked on the frames that have ground truth (4 and 8 frames: a format / metrics check, not a score);
* synthetic scenes with known identities (``tests/synthetic.py``), tracked on noisy ground-truth
  detections at frame strides 1, 2 and 3.

Metrics: IDF1 / MOTA / ID switches from motmetrics; HOTA from TrackEval when installed
(``pip install --no-deps trackeval``), otherwise "n/a".

    PYTHONPATH=. python bench/tracking.py [--shared ../shared] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from reidkit.core.types import Detections
from reidkit.track import ByteTracker, TrackerConfig, read_mot, tracks_to_mot
from reidkit.track.matching import iou_matrix, linear_assignment
from reidkit.track.metrics import TrackingScores, hota_available, score_tracking
from reidkit.track.mot import mot_to_boxes

# MOT17 ground-truth classes: 1 pedestrian (scored); these are "distractors": a tracker box on one of
# them is neither a hit nor a false positive, as in the MOTChallenge devkit:
# 2 person on vehicle, 7 static person, 8 distractor, 12 reflection.
DISTRACTOR_CLASSES = (2, 7, 8, 12)


def mot17_sequence(seq_dir: Path, config: TrackerConfig) -> tuple[np.ndarray, np.ndarray]:
    gt_all = read_mot(seq_dir / "gt" / "gt.txt")
    dets = read_mot(seq_dir / "det" / "det.txt")
    last = int(gt_all[:, 0].max())
    tracker = ByteTracker(config)
    rows = []
    for frame in range(1, last + 1):
        d = dets[dets[:, 0] == frame]
        tracks = tracker.update(Detections(mot_to_boxes(d), d[:, 6].astype(np.float32)), frame - 1)
        rows.append(tracks_to_mot(frame - 1, tracks))
    hyp = np.concatenate(rows)
    return _drop_distractor_matches(gt_all, hyp)


def _drop_distractor_matches(gt_all: np.ndarray, hyp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep pedestrian gt (class 1, flag 1); remove tracker boxes matched to distractors or zero-marked gt."""
    pedestrian = (gt_all[:, 7] == 1) & (gt_all[:, 6] != 0)
    ignore_gt = ~pedestrian & (np.isin(gt_all[:, 7], DISTRACTOR_CLASSES) | (gt_all[:, 6] == 0))
    keep = np.ones(len(hyp), bool)
    for frame in np.unique(hyp[:, 0]):
        hi = np.flatnonzero(hyp[:, 0] == frame)
        g = gt_all[(gt_all[:, 0] == frame) & (pedestrian | ignore_gt)]
        if not len(g):
            continue
        is_ignored = ~((g[:, 7] == 1) & (g[:, 6] != 0))
        overlap = iou_matrix(mot_to_boxes(g), mot_to_boxes(hyp[hi]))
        matches, _, _ = linear_assignment(1 - overlap, max_cost=0.5)
        for gi, hj in matches:
            if is_ignored[gi]:
                keep[hi[hj]] = False
    return gt_all[pedestrian], hyp[keep]


def synthetic_cases(config: TrackerConfig) -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    from tests.synthetic import crossing_scene, gt_detections, make_scene, reentry_scene

    scenes = {
        "synth-3p": make_scene(n_people=3, n_frames=150, seed=1),
        "synth-6p": make_scene(n_people=6, n_frames=200, size=(480, 270), seed=2, reenter=True),
        "synth-cross": crossing_scene(n_frames=100),
        "synth-reentry": reentry_scene(gap=20),
    }
    out = []
    for name, scene in scenes.items():
        for stride in (1, 2, 3):
            tracker = ByteTracker(config)
            rows = []
            start = time.perf_counter()
            for index in range(0, len(scene), stride):
                dets = gt_detections(
                    scene,
                    index,
                    noise=0.03,
                    drop_rate=0.05,
                    low_score_rate=0.1,
                    false_positives=0.3,
                    seed=stride,
                )
                rows.append(tracks_to_mot(index, tracker.update(dets, index)))
            elapsed = time.perf_counter() - start
            gt = scene.mot_gt(min_visibility=0.3)
            gt = gt[(gt[:, 0] - 1) % stride == 0]
            out.append((f"{name} s{stride}", gt, np.concatenate(rows), elapsed))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = TrackerConfig()
    results: list[tuple[str, TrackingScores]] = []
    mot_root = args.shared / "data" / "mot17-mini" / "train"
    if mot_root.is_dir():
        for seq in sorted(p for p in mot_root.iterdir() if p.is_dir()):
            gt, hyp = mot17_sequence(seq, config)
            results.append((seq.name, score_tracking(gt, hyp)))
    else:
        print(f"(skipping MOT17: {mot_root} not found)")
    for name, gt, hyp, _ in synthetic_cases(config):
        results.append((name, score_tracking(gt, hyp)))

    if args.json:
        print(json.dumps({name: s.as_dict() for name, s in results}, indent=1))
        return

    def pct(v: float | None) -> str:
        return "  n/a" if v is None else f"{100 * v:5.1f}"

    print(f"HOTA: {'TrackEval' if hota_available() else 'n/a (pip install --no-deps trackeval)'}")
    print(
        f"{'sequence':18s} {'frames':>6s} {'gtIDs':>5s} {'IDs':>4s} {'IDF1':>5s} {'MOTA':>5s} "
        f"{'HOTA':>5s} {'DetA':>5s} {'AssA':>5s} {'Prec':>5s} {'Rec':>5s} {'IDsw':>4s} {'Frag':>4s}"
    )
    for name, s in results:
        print(
            f"{name:18s} {s.n_frames:6d} {s.n_gt_ids:5d} {s.n_hyp_ids:4d} {pct(s.idf1)} {pct(s.mota)} "
            f"{pct(s.hota)} {pct(s.deta)} {pct(s.assa)} {pct(s.precision)} {pct(s.recall)} "
            f"{s.id_switches:4d} {s.fragmentations:4d}"
        )


if __name__ == "__main__":
    main()
