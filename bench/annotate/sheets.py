"""Semi-automatic person ground truth for the real videos of ../shared/data/videos.

Steps (see bench/annotate/README.md)::

    python bench/annotate/sheets.py detect VIDEO --work /tmp/annot      # stride-1 detections, cached
    python bench/annotate/sheets.py track VIDEO --work /tmp/annot       # ByteTrack -> MOT rows
    python bench/annotate/sheets.py sheets VIDEO --work /tmp/annot      # one contact sheet PNG per track
    python bench/annotate/sheets.py frames VIDEO 120 455 --work /tmp/annot   # full frames with all tracks
    python bench/annotate/sheets.py truth --work /tmp/annot             # labels.json -> truth JSON

Detections and tracks come from reidkit itself (``build_tracking_detector`` / ``track_detections``),
at every frame and a low detector threshold. A person labels each track by eye from the sheets
(``labels.json`` beside this file: track -> person id or ``none``, with split frames where a track
switches people); ``truth`` turns tracks plus labels into ``shared_videos_truth.json``.
Everything rendered (sheets, frames, crops) stays under ``--work``: never commit it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from reidkit.core.types import Detections
from reidkit.track import ByteTracker, TrackerConfig, read_mot, write_mot
from reidkit.track.video import build_tracking_detector, media_frames, track_detections

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels.json"
TRUTH = HERE / "shared_videos_truth.json"
# ../shared beside the checkout (a git worktree elsewhere: set REIDKIT_SHARED to the shared folder).
SHARED = Path(os.environ.get("REIDKIT_SHARED", HERE.parents[1].parent / "shared"))
VIDEO_DIR = SHARED / "data" / "videos"

# Low thresholds: this is ground truth, so missing a person is worse than a false track (removed by hand).
DETECT_CONF = 0.05  # boxes kept by the detector (ByteTrack's low-score association uses them)
TRACK_HIGH = 0.25  # detections from here start and continue tracks (yolox-nano's registry value is 0.3)
BUFFER = 30  # source frames a lost track is kept for re-activation
EXTEND_SCORE = 0.1  # track extension (`track --extend`): ByteTrack's low threshold
EXTEND_IOU = 0.3


class DetectionBoxTracker(ByteTracker):
    """reidkit's ByteTracker, reporting each live track's matched *detection* box instead of the
    Kalman-filtered one: the filtered box lags and widens when a person walks in from the frame edge,
    and ground truth should be the detector's box (the ids and associations are unchanged)."""

    def _reported_box(self, track: Any) -> np.ndarray:
        return np.asarray(track.box)


def _stem(video: Path) -> str:
    return video.name.replace(".", "_")


def _video_path(name: str) -> Path:
    path = Path(name)
    return path if path.exists() else VIDEO_DIR / name


def cmd_detect(args: argparse.Namespace) -> None:
    video = _video_path(args.video)
    config = TrackerConfig.for_detector("yolox-nano", track_low=DETECT_CONF)
    detector = build_tracking_detector("yolox-nano", config, threads=args.threads)
    frames, total = media_frames(video)
    index, boxes, scores = [], [], []
    for frame in frames:
        det = detector.detect(frame.image)
        index.extend([frame.index] * len(det))
        boxes.append(det.boxes.reshape(-1, 4))
        scores.append(det.scores.reshape(-1))
        if frame.index % 100 == 0:
            print(f"{video.name}: frame {frame.index}/{total}", flush=True)
    out = args.work / f"{_stem(video)}.dets.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        frame=np.array(index, np.int64),
        boxes=np.concatenate(boxes).astype(np.float32),
        scores=np.concatenate(scores).astype(np.float32),
        n_frames=frame.index + 1,
    )
    print(f"{out}: {len(index)} detections over {frame.index + 1} frames")


def _load_dets(work: Path, video: Path) -> tuple[np.lib.npyio.NpzFile, int]:
    data = np.load(work / f"{_stem(video)}.dets.npz")
    return data, int(data["n_frames"])


def cmd_track(args: argparse.Namespace) -> None:
    video = _video_path(args.video)
    data, n_frames = _load_dets(args.work, video)
    config = TrackerConfig(
        track_high=TRACK_HIGH, new_track=TRACK_HIGH, track_low=DETECT_CONF, buffer=BUFFER, min_hits=2
    )
    order = np.argsort(data["frame"], kind="stable")
    frame_of, boxes, scores = data["frame"][order], data["boxes"][order], data["scores"][order]
    cuts = np.searchsorted(frame_of, np.arange(n_frames + 1))
    per_frame = (
        (i, Detections(boxes[cuts[i] : cuts[i + 1]], scores[cuts[i] : cuts[i + 1]])) for i in range(n_frames)
    )
    rows = track_detections(per_frame, DetectionBoxTracker(config))
    if args.extend:
        rows = _extend_tracks(rows, frame_of, boxes, scores, cuts, args.extend)
    out = args.work / f"{_stem(video)}.tracks.txt"
    write_mot(out, rows)
    for tid in np.unique(rows[:, 1]).astype(int):
        r = rows[rows[:, 1] == tid]
        print(
            f"track {tid:3d}: frames {int(r[0, 0]) - 1}-{int(r[-1, 0]) - 1} ({len(r)} rows, "
            f"{int((r[:, 7] == 1).sum())} filled), median h {np.median(r[:, 5]):.0f}px, "
            f"median score {np.median(r[:, 6]):.2f}"
        )
    print(f"{out}: {len(rows)} rows")


def _extend_tracks(
    rows: np.ndarray,
    frame_of: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    cuts: np.ndarray,
    limit: int,
) -> np.ndarray:
    """Grow each track backwards from its first row and forwards from its last with the cached
    detections the tracker left unreported: a new track is reported only once confirmed (its first
    box is dropped) and a tentative track dies at one low-score frame, so people walking in are often
    detected a few frames before their track starts. Step by step, a detection scoring at least
    EXTEND_SCORE, not used by any reported row of that frame and overlapping the track's edge box by
    IoU >= EXTEND_IOU joins the track (column 8 = 1 marks it); the walk stops at the first frame
    without one, or after ``limit`` frames."""
    from reidkit.detect.boxes import box_iou

    used: dict[int, list[np.ndarray]] = {}
    for r in rows:
        used.setdefault(int(r[0]) - 1, []).append(r[2:6].copy())
    xyxy = rows[:, 2:6].copy()
    xyxy[:, 2:] += xyxy[:, :2]
    added = []
    for tid in np.unique(rows[:, 1]).astype(int):
        mine = np.flatnonzero(rows[:, 1] == tid)
        ends = [
            (int(rows[mine[0], 0]) - 1, xyxy[mine[0]], -1),
            (int(rows[mine[-1], 0]) - 1, xyxy[mine[-1]], 1),
        ]
        for frame, edge, step in ends:
            for _ in range(limit):
                frame += step
                if not 0 <= frame < len(cuts) - 1:
                    break
                lo, hi = cuts[frame], cuts[frame + 1]
                cand = [
                    i
                    for i in range(lo, hi)
                    if scores[i] >= EXTEND_SCORE
                    and not any(np.allclose(_xywh(boxes[i]), u, atol=0.01) for u in used.get(frame, []))
                ]
                if not cand:
                    break
                iou = box_iou(edge[None], boxes[cand])[0]
                if iou.max() < EXTEND_IOU:
                    break
                best = cand[int(iou.argmax())]
                edge = boxes[best].astype(np.float64)
                used.setdefault(frame, []).append(_xywh(edge))
                row = np.full(rows.shape[1], -1.0)
                row[:7] = [frame + 1, tid, *_xywh(edge), scores[best]]
                row[7] = 1
                added.append(row)
    out = np.vstack([rows, *added]) if added else rows
    return out[np.lexsort((out[:, 0], out[:, 1]))]


def _xywh(box: np.ndarray) -> np.ndarray:
    return np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]], np.float64)


def _read_frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    frames, _ = media_frames(video, max_frames=max(wanted) + 1)
    return {f.index: f.image for f in frames if f.index in wanted}


def _tracks(work: Path, video: Path) -> dict[int, np.ndarray]:
    """track id -> (n, 5) rows of frame (0-based), x1, y1, x2, y2."""
    rows = read_mot(work / f"{_stem(video)}.tracks.txt")
    out = {}
    for tid in np.unique(rows[:, 1]).astype(int):
        r = rows[rows[:, 1] == tid]
        out[tid] = np.stack([r[:, 0] - 1, r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], 1)
    return out


def _crop(image: np.ndarray, box: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    crop = image[y1:y2, x1:x2] if x2 > x1 and y2 > y1 else np.zeros((8, 4, 3), np.uint8)
    scale = height / crop.shape[0]
    return cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), height))


def cmd_sheets(args: argparse.Namespace) -> None:
    video = _video_path(args.video)
    tracks = _tracks(args.work, video)
    picks = {}
    for tid, r in tracks.items():
        k = min(args.crops, len(r))
        picks[tid] = r[np.unique(np.linspace(0, len(r) - 1, k).round().astype(int))]
    images = _read_frames(video, {int(p[0]) for rows in picks.values() for p in rows})
    out_dir = args.work / _stem(video)
    out_dir.mkdir(parents=True, exist_ok=True)
    for tid, rows in picks.items():
        tiles = []
        for p in rows:
            tile = _crop(images[int(p[0])], p[1:], args.height)
            tile = cv2.copyMakeBorder(tile, 22, 0, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            cv2.putText(tile, f"f{int(p[0])}", (3, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
            tiles.append(tile)
        sheet = np.hstack(tiles)
        full = tracks[tid]
        title = f"track {tid}: frames {int(full[0, 0])}-{int(full[-1, 0])}, {len(full)} rows"
        head = np.full((24, sheet.shape[1], 3), 230, np.uint8)
        cv2.putText(head, title, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 160), 1)
        cv2.imwrite(str(out_dir / f"track_{tid:03d}.png"), np.vstack([head, sheet]))
    print(f"{out_dir}: {len(picks)} sheets")


def cmd_frames(args: argparse.Namespace) -> None:
    """Full frames (half size) with every track box and id drawn, for crossings and id switches."""
    video = _video_path(args.video)
    tracks = _tracks(args.work, video)
    images = _read_frames(video, set(args.frame))
    out_dir = args.work / _stem(video) / "frames"
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, image in images.items():
        image = image.copy()
        for tid, r in tracks.items():
            hit = r[r[:, 0] == index]
            if len(hit):
                x1, y1, x2, y2 = (int(v) for v in hit[0, 1:])
                color = tuple(int(c) for c in np.random.default_rng(tid).integers(60, 255, 3))
                cv2.rectangle(image, (x1, y1), (x2, y2), color, 2)
                cv2.putText(image, str(tid), (x1 + 2, y1 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.7, color, 2)
        cv2.putText(image, f"f{index}", (5, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 255), 2)
        if args.scale != 1.0:
            image = cv2.resize(image, None, fx=args.scale, fy=args.scale)
        cv2.imwrite(str(out_dir / f"frame_{index:05d}.png"), image)
    if len(images) > 1:
        montage = [cv2.imread(str(out_dir / f"frame_{i:05d}.png")) for i in sorted(images)]
        cols = min(args.cols, len(montage))
        while len(montage) % cols:
            montage.append(np.zeros_like(montage[0]))
        grid = np.vstack([np.hstack(montage[i : i + cols]) for i in range(0, len(montage), cols)])
        cv2.imwrite(str(out_dir / f"montage_{min(images)}_{max(images)}.png"), grid)
    print(f"{out_dir}: {len(images)} frames")


def cmd_truth(args: argparse.Namespace) -> None:
    """labels.json -> truth JSON. Per video: {"fps": F, "people": {pid: {"description", "query"}},
    "tracks": {"7": "p1", "9": [["p2", 0, 411], ["p3", 412, 99999]], "12": "none"}} where a list
    splits a track at frames (inclusive ranges)."""
    labels = json.loads(LABELS.read_text())
    videos = {}
    for name, spec in labels["videos"].items():
        tracks = _tracks(args.work, _video_path(name))
        unlabelled = sorted(set(tracks) - {int(t) for t in spec["tracks"]})
        if unlabelled:
            raise SystemExit(f"{name}: tracks without a label: {unlabelled}")
        got: dict[str, dict[int, list[float]]] = {pid: {} for pid in spec["people"]}
        for tid, label in spec["tracks"].items():
            parts = [[label, 0, 10**9]] if isinstance(label, str) else label
            for pid, lo, hi in parts:
                if pid == "none":
                    continue
                for row in tracks[int(tid)]:
                    if lo <= row[0] <= hi:
                        frame = int(row[0])
                        if frame in got[pid]:
                            raise SystemExit(f"{name}: {pid} twice in frame {frame} (track {tid})")
                        got[pid][frame] = [round(float(v), 1) for v in row[1:]]
        people = {}
        for pid, info in spec["people"].items():
            frames = sorted(got[pid])
            query = info["query_frame"]
            if query not in got[pid]:
                raise SystemExit(f"{name}: query frame {query} of {pid} has no box")
            visits = _visits(frames, gap=args.gap)
            people[pid] = {
                "description": info["description"],
                "visits": visits,
                # frames inside a visit where no track had a box for this person (detector misses)
                "missed_in_visits": sum(hi - lo + 1 for lo, hi in visits) - len(frames),
                "frames": frames,
                "boxes": [got[pid][f] for f in frames],
                # boxes touching the frame border (head only at entry, a leg at exit): partial views
                "at_edge": [f for f in frames if _at_edge(got[pid][f], spec["size"])],
                "query": {"frame": query, "box": got[pid][query]},
            }
        videos[name] = {
            "fps": spec["fps"],
            "n_frames": spec["n_frames"],
            "size": spec["size"],
            "people": people,
        }
    doc = {"format": "reidkit-truth/1", "videos": videos}
    if "notes" in labels:
        doc["notes"] = labels["notes"]
    TRUTH.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    for name, v in videos.items():
        for pid, p in v["people"].items():
            print(
                f"{name} {pid}: {len(p['frames'])} frames, visits {p['visits']}, "
                f"{p['missed_in_visits']} missed inside visits, query f{p['query']['frame']}: {p['description']}"
            )
    print(f"{TRUTH}")


def cmd_queries(args: argparse.Namespace) -> None:
    """One strip per video of every person's query crop (from the truth JSON), to check them by eye."""
    truth = json.loads(TRUTH.read_text())
    for name, video in truth["videos"].items():
        people = video["people"]
        images = _read_frames(_video_path(name), {p["query"]["frame"] for p in people.values()})
        tiles = []
        for pid, p in people.items():
            tile = _crop(images[p["query"]["frame"]], np.array(p["query"]["box"]), args.height)
            tile = cv2.copyMakeBorder(tile, 22, 0, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            label = f"{pid} f{p['query']['frame']}"
            cv2.putText(tile, label, (3, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
            tiles.append(tile)
        out = args.work / f"{_stem(Path(name))}_queries.png"
        cv2.imwrite(str(out), np.hstack(tiles))
        print(out)


def _at_edge(box: list[float], size: list[int], margin: float = 2.0) -> bool:
    w, h = size
    return box[0] < margin or box[1] < margin or box[2] > w - margin or box[3] > h - margin


def _visits(frames: list[int], gap: int) -> list[list[int]]:
    """Runs of frames whose gaps are below ``gap`` frames: [first, last] per visit."""
    out: list[list[int]] = []
    for f in frames:
        if out and f - out[-1][1] <= gap:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/annot"), help="cache and render folder")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("detect")
    p.add_argument("video")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=cmd_detect)
    p = sub.add_parser("track")
    p.add_argument("video")
    p.add_argument("--extend", type=int, default=10, help="frames to grow tracks by (0: tracker rows only)")
    p.set_defaults(func=cmd_track)
    p = sub.add_parser("sheets")
    p.add_argument("video")
    p.add_argument("--crops", type=int, default=6)
    p.add_argument("--height", type=int, default=160)
    p.set_defaults(func=cmd_sheets)
    p = sub.add_parser("frames")
    p.add_argument("video")
    p.add_argument("frame", type=int, nargs="+")
    p.add_argument("--scale", type=float, default=0.5)
    p.add_argument("--cols", type=int, default=3)
    p.set_defaults(func=cmd_frames)
    p = sub.add_parser("truth")
    p.add_argument("--gap", type=int, default=50, help="frames without the person that end a visit")
    p.set_defaults(func=cmd_truth)
    p = sub.add_parser("queries")
    p.add_argument("--height", type=int, default=200)
    p.set_defaults(func=cmd_queries)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
