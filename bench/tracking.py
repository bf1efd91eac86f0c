"""Score the ByteTracker against ground truth and print a table.

Inputs:
* **crosscam**: the eight composed videos of ``bench/crosscam`` (real CUHK03 people walking through two
  real rooms, 768x432 at 10 fps, per-frame boxes known) run through the product path - ``yolox-nano``
  at the tracker's low threshold + :class:`ByteTracker`, the code of ``reidkit track``
  (:mod:`reidkit.track.video`) - at stride 1 and at the indexer's default stride (2 at 10 fps).
  One walk of one person is one ground-truth identity: a person who leaves and comes back is linked by
  the ReID stage, not by the tracker. Ground-truth boxes hidden for more than 70 % by nearer people, or
  narrower than 8 px (entering at the border), are "don't care": a track on them is neither a hit
  nor a false positive, a miss of them is no miss (as MOTChallenge treats distractors). At stride > 1
  only the processed frames are scored: ground-truth rows of skipped frames are dropped, since the
  tracker reports nothing there by design. ``all`` rows score the eight videos as one sequence.
* **real footage** without ground truth (``../shared/data/videos``): track counts at stride 1 and the
  indexer's stride, against the number of people known to walk through (a fragmentation check).
* MOT17 mini sequences (``../shared/data/mot17-mini``): the public FRCNN detections ``det/det.txt``
  tracked on the frames that have ground truth (4 and 8 frames: a format / metrics check, not a score);
* synthetic scenes with known identities (``tests/synthetic.py``), tracked on noisy ground-truth
  detections at frame strides 1, 2 and 3.

Detections are cached per video in ``bench/crosscam/out/default/cache/`` (the detector dominates the
run time: ~4 min on 2 cores the first time, seconds afterwards).

Metrics: IDF1 / MOTA / ID switches from motmetrics; HOTA from TrackEval when installed
(``pip install --no-deps trackeval``), otherwise "n/a".

    PYTHONPATH=. python bench/tracking.py [--shared ../shared] [--json] [--skip crosscam,real,mot17,synth]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from reidkit.core.types import Detections
from reidkit.detect.boxes import box_iou
from reidkit.track import ByteTracker, TrackerConfig, read_mot, tracks_to_mot
from reidkit.track.matching import linear_assignment
from reidkit.track.metrics import TrackingScores, hota_available, score_tracking
from reidkit.track.mot import mot_to_boxes
from reidkit.track.video import build_tracking_detector, media_frames, track_detections

REPO = Path(__file__).resolve().parents[1]
DETECTOR = "yolox-nano"
# Ground-truth boxes hidden more than this by nearer people, or narrower than MIN_GT_WIDTH px, are
# "don't care" regions (see the module docstring).
MAX_GT_OCCLUSION = 0.7
MIN_GT_WIDTH = 8.0
# Real videos without ground truth and the number of people known to walk through them.
REAL_VIDEOS = {"one-by-one-person-detection.mp4": 6, "people-detection.264": 3}

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
        overlap = box_iou(mot_to_boxes(g), mot_to_boxes(hyp[hi]))
        matches, _, _ = linear_assignment(1 - overlap, max_cost=0.5)
        for gi, hj in matches:
            if is_ignored[gi]:
                keep[hi[hj]] = False
    return gt_all[pedestrian], hyp[keep]


# ------------------------------------------------------------------------------------- detections


def cached_detections(video: Path, config: TrackerConfig, cache_dir: Path) -> list[Detections]:
    """Per-frame detections of every frame of ``video`` (index = frame number), computed once.

    Detection does not depend on the stride, so every stride replays this one pass.
    """
    stat = video.stat()
    key = hashlib.sha256(f"{video.name}:{stat.st_size}:{DETECTOR}:{config.track_low}".encode()).hexdigest()
    cache = cache_dir / f"trackdets_{video.stem}_{key[:12]}.npz"
    if cache.is_file():
        data = np.load(cache)
        frame_of_box, boxes, scores = data["frame"], data["boxes"], data["scores"]
        n_frames = int(data["n_frames"])
    else:
        detector = build_tracking_detector(DETECTOR, config)
        frames, _ = media_frames(video)
        started = time.perf_counter()
        per_frame = [(f.index, detector.detect(f.image)) for f in frames]
        print(
            f"detected {video.name}: {len(per_frame)} frames in {time.perf_counter() - started:.0f}s",
            file=sys.stderr,
        )
        n_frames = per_frame[-1][0] + 1
        frame_of_box = np.concatenate([np.full(len(d), i) for i, d in per_frame]).astype(np.int64)
        boxes = np.concatenate([d.boxes for _, d in per_frame]).reshape(-1, 4).astype(np.float32)
        scores = np.concatenate([d.scores for _, d in per_frame]).astype(np.float32)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.savez(cache, frame=frame_of_box, boxes=boxes, scores=scores, n_frames=n_frames)
    out = []
    for index in range(n_frames):
        hit = frame_of_box == index
        out.append(Detections(boxes[hit], scores[hit]))
    return out


def replay(detections: list[Detections], config: TrackerConfig, stride: int) -> np.ndarray:
    """The ``reidkit track`` tracking loop over cached detections of every ``stride``-th frame."""
    per_frame = ((i, detections[i]) for i in range(0, len(detections), stride))
    return track_detections(per_frame, ByteTracker(config))


# ------------------------------------------------------------------------------------- crosscam


def crosscam_truth(truth: dict, video: str) -> np.ndarray:
    """MOT ground truth of one composed video: one id per walk; flag 0 marks "don't care" rows."""
    rows = []
    walk_id = 0
    for person in truth["people"]:
        for walk in person["appearances"]:
            if walk["video"] != video:
                continue
            walk_id += 1
            for frame, (x1, y1, x2, y2) in zip(walk["frames"], walk["boxes"], strict=True):
                rows.append([frame + 1, walk_id, x1, y1, x2 - x1, y2 - y1, 1, 1, -1, -1])
    gt = np.asarray(rows, dtype=np.float64).reshape(-1, 10)
    for frame in np.unique(gt[:, 0]):
        at = np.flatnonzero(gt[:, 0] == frame)
        boxes = mot_to_boxes(gt[at])
        for k, i in enumerate(at):
            # People are pasted far to near (feet y ascending): nearer ones hide this one.
            nearer = boxes[boxes[:, 3] > boxes[k, 3]]
            hidden = _covered_fraction(boxes[k], nearer)
            if hidden > MAX_GT_OCCLUSION or gt[i, 4] < MIN_GT_WIDTH:
                gt[i, 6] = 0
    return gt


def _covered_fraction(box: np.ndarray, others: np.ndarray) -> float:
    x1, y1, x2, y2 = np.round(box).astype(int)
    if not len(others) or x2 <= x1 or y2 <= y1:
        return 0.0
    mask = np.zeros((y2 - y1, x2 - x1), bool)
    for ox1, oy1, ox2, oy2 in np.round(others).astype(int):
        mask[max(0, oy1 - y1) : max(0, oy2 - y1), max(0, ox1 - x1) : max(0, ox2 - x1)] = True
    return float(mask.mean())


def crosscam_cases(shared: Path, config: TrackerConfig) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from bench.crosscam.compose import DEFAULT_OUT, ComposeConfig, compose
    from reidkit.index.indexer import default_stride

    truth_path = compose(ComposeConfig(), DEFAULT_OUT, shared)
    truth = json.loads(truth_path.read_text())
    cache_dir = truth_path.parent / "cache"
    out = []
    strides = sorted({1, *(default_stride(v["fps"]) for v in truth["videos"])})
    combined: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {s: [] for s in strides}
    for video in truth["videos"]:
        detections = cached_detections(truth_path.parent / video["name"], config, cache_dir)
        gt_all = crosscam_truth(truth, video["name"])
        for stride in strides:
            hyp = replay(detections, config, stride)
            gt = gt_all[(gt_all[:, 0] - 1) % stride == 0]
            gt, hyp = _drop_distractor_matches(gt, hyp)
            out.append((f"{Path(video['name']).stem} s{stride}", gt, hyp))
            combined[stride].append((gt, hyp))
    for stride, parts in combined.items():
        out.append((f"crosscam all s{stride}", *_concatenate(parts)))
    return out


def _concatenate(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Several sequences as one: frames and ids shifted so that none collide."""
    gts, hyps = [], []
    frame_offset, gt_offset, hyp_offset = 0, 0, 0
    for gt, hyp in parts:
        gt, hyp = gt.copy(), hyp.copy()
        gt[:, 0] += frame_offset
        hyp[:, 0] += frame_offset
        gt[:, 1] += gt_offset
        hyp[:, 1] += hyp_offset
        frame_offset = int(max(gt[:, 0].max(initial=0), hyp[:, 0].max(initial=0)))
        gt_offset = int(gt[:, 1].max(initial=gt_offset))
        hyp_offset = int(hyp[:, 1].max(initial=hyp_offset))
        gts.append(gt)
        hyps.append(hyp)
    return np.concatenate(gts), np.concatenate(hyps)


def real_video_counts(shared: Path, config: TrackerConfig) -> list[tuple[str, int, int, int, int, int]]:
    """(video, stride, people known, tracks, tracks of >= 3 frames, rows) on footage without ground truth."""
    from reidkit.index.indexer import default_stride
    from reidkit.media import open_media

    out = []
    cache_dir = REPO / "bench" / "out" / "tracking-cache"
    for name, people in REAL_VIDEOS.items():
        path = shared / "data" / "videos" / name
        if not path.is_file():
            continue
        detections = cached_detections(path, config, cache_dir)
        for stride in sorted({1, default_stride(open_media(path).fps)}):
            hyp = replay(detections, config, stride)
            ids, lengths = np.unique(hyp[:, 1], return_counts=True)
            out.append((name, stride, people, len(ids), int((lengths >= 3).sum()), len(hyp)))
    return out


# ------------------------------------------------------------------------------------- synthetic


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


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``name=value`` pairs for TrackerConfig fields, typed like the field's default."""
    defaults = TrackerConfig.for_detector(DETECTOR)
    out: dict[str, object] = {}
    for item in items:
        name, _, text = item.partition("=")
        if name not in {f.name for f in dataclasses.fields(TrackerConfig)}:
            raise SystemExit(f"unknown TrackerConfig field {name!r}")
        kind = type(getattr(defaults, name))
        out[name] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip", default="", help="comma-separated: crosscam,real,mot17,synth")
    parser.add_argument("--tracker", nargs="*", default=[], help="TrackerConfig overrides, name=value")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    overrides = parse_overrides(args.tracker)
    # YOLOX-nano's footage gets its thresholds; MOT17's public FRCNN boxes and the synthetic
    # detections score like a large detector and keep the tracker's defaults.
    config = TrackerConfig.for_detector(DETECTOR, **overrides)
    plain = TrackerConfig(**overrides)  # type: ignore[arg-type]
    results: list[tuple[str, TrackingScores]] = []
    counts: list[tuple[str, int, int, int, int, int]] = []
    if "crosscam" not in skip:
        for name, gt, hyp in crosscam_cases(args.shared, config):
            results.append((name, score_tracking(gt, hyp)))
    if "real" not in skip:
        counts = real_video_counts(args.shared, config)
    mot_root = args.shared / "data" / "mot17-mini" / "train"
    if "mot17" in skip:
        pass
    elif mot_root.is_dir():
        for seq in sorted(p for p in mot_root.iterdir() if p.is_dir()):
            gt, hyp = mot17_sequence(seq, plain)
            results.append((seq.name, score_tracking(gt, hyp)))
    else:
        print(f"(skipping MOT17: {mot_root} not found)")
    if "synth" not in skip:
        for name, gt, hyp, _ in synthetic_cases(plain):
            results.append((name, score_tracking(gt, hyp)))

    if args.json:
        print(json.dumps({name: s.as_dict() for name, s in results}, indent=1))
        return
    base = TrackerConfig.for_detector(DETECTOR)
    changed = {k: v for k, v in dataclasses.asdict(config).items() if v != getattr(base, k)}
    print(
        f"tracker: TrackerConfig.for_detector({DETECTOR!r}) (MOT17, synthetic: TrackerConfig())"
        + (f" with {changed}" if changed else "")
    )

    def pct(v: float | None) -> str:
        return "  n/a" if v is None else f"{100 * v:5.1f}"

    print(f"HOTA: {'TrackEval' if hota_available() else 'n/a (pip install --no-deps trackeval)'}")
    print(
        f"{'sequence':20s} {'frames':>6s} {'gtIDs':>5s} {'IDs':>4s} {'IDF1':>5s} {'MOTA':>5s} "
        f"{'HOTA':>5s} {'DetA':>5s} {'AssA':>5s} {'Prec':>5s} {'Rec':>5s} {'IDsw':>4s} {'Frag':>4s}"
    )
    for name, s in results:
        print(
            f"{name:20s} {s.n_frames:6d} {s.n_gt_ids:5d} {s.n_hyp_ids:4d} {pct(s.idf1)} {pct(s.mota)} "
            f"{pct(s.hota)} {pct(s.deta)} {pct(s.assa)} {pct(s.precision)} {pct(s.recall)} "
            f"{s.id_switches:4d} {s.fragmentations:4d}"
        )
    if counts:
        print(
            f"\n{'real footage (no ground truth)':34s} {'stride':>6s} {'people':>6s} {'tracks':>6s} "
            f"{'>=3 rows':>8s} {'rows':>5s}"
        )
        for name, stride, people, tracks, long_tracks, rows in counts:
            print(f"{name:34s} {stride:6d} {people:6d} {tracks:6d} {long_tracks:8d} {rows:5d}")


if __name__ == "__main__":
    main()
