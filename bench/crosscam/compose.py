"""Compose the cross-camera benchmark: CUHK03 camera-B people walking through two real, empty rooms.

    python bench/crosscam/compose.py [--out bench/crosscam/out/default] [--seed 0]
    python bench/crosscam/compose.py --people dev          # -> bench/crosscam/out/dev, seed 1

``--people val`` (the benchmark) shows CUHK03 *val* identities. ``--people dev`` shows the last 100
identities of CUHK03 *train* (the dev split every reidkit recipe and calibration is chosen on) in
other walks (seed 1): search settings are tried there, with a model trained without those people,
before the val footage is run once.

What it writes (git-ignored; CUHK03 is research-only and must never be redistributed):

* ``vNN_<room>.mp4`` — 768x432, 10 fps, mp4v;
* ``queries/PPPP_KK.jpg`` — one CUHK03 camera-A crop per queried person (a different camera from the
  camera-B crops pasted into the videos, so a query never matches its own pixels);
* ``ground_truth.json`` — per person and video: frame intervals and per-frame boxes; the query list.

Background plates are the per-pixel median over frames of the shared videos in which the detector finds
nobody (computed, not hand-picked). Everything else is drawn from one seeded generator, so the same
seed gives the same benchmark, byte for byte in the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

FORMAT_VERSION = 2  # 2: opaque heads and feet (feather_mask)
REPO = Path(__file__).resolve().parents[2]
# Same rule as tests/conftest.py: $REIDKIT_SHARED, else ../shared beside the checkout.
DEFAULT_SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "default"
# Who walks: CUHK03 folder and which of its identities. "dev" = the last 100 of train/, the same
# people as ``build_dataset("cuhk03", root, holdout=100)`` holds out (reidkit/data/datasets/cuhk03.py).
PEOPLE = {"val": ("val", 0), "dev": ("train", 100)}
DEV_SEED = 1  # dev footage must not repeat the benchmark's walks with other faces


def default_out(people: str) -> Path:
    return DEFAULT_OUT if people == "val" else DEFAULT_OUT.parent / people


@dataclass(frozen=True)
class Room:
    """A camera: its empty plate comes from ``source``; people's feet stay inside the floor band.

    Person height grows linearly with the feet's y (perspective): ``height_far`` at ``floor_y[0]``,
    ``height_near`` at ``floor_y[1]``. Numbers were read off people in the source footage.
    """

    name: str
    source: str  # path relative to the shared folder
    floor_y: tuple[int, int]
    height_far: int
    height_near: int

    def person_height(self, feet_y: float) -> float:
        t = (feet_y - self.floor_y[0]) / (self.floor_y[1] - self.floor_y[0])
        return self.height_far + t * (self.height_near - self.height_far)


# Per room: (gamma, gain, per-channel BGR tint, blur sigma). "dim": the hall dim and warm (tungsten,
# underexposed), the corner cold, flat and soft (fluorescent, a cheap lens). "mild": a smaller
# difference, made after the cameras' light rule was set on "dim", to check it (docs/adapt.md): the
# hall a little bright and warm, the corner a little green and soft.
LIGHTS: dict[str, dict[str, tuple[float, float, tuple[float, float, float], float]]] = {
    "dim": {"hall": (1.35, 0.7, (0.75, 0.95, 1.15), 0.0), "corner": (0.8, 1.0, (1.2, 1.0, 0.8), 1.2)},
    "mild": {"hall": (0.9, 1.1, (0.9, 1.0, 1.1), 0.0), "corner": (1.1, 0.95, (1.0, 1.1, 0.9), 0.6)},
}


def apply_light(
    frame: np.ndarray, gamma: float, gain: float, tint: tuple[float, float, float], blur: float
) -> np.ndarray:
    image = (frame.astype(np.float32) / 255.0) ** gamma * gain * np.asarray(tint, np.float32)
    if blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    return np.clip(image * 255.0, 0, 255).astype(np.uint8)


ROOMS = (
    Room("hall", "data/videos/one-by-one-person-detection.mp4", (265, 425), 200, 330),
    Room("corner", "data/videos/people-detection.264", (235, 425), 150, 265),
)


@dataclass(frozen=True)
class ComposeConfig:
    seed: int = 0
    people: str = "val"  # a key of PEOPLE
    # 16 videos and all 100 CUHK03 val people: with ~2.5 walks per queried person among ~170, an
    # identity-blind random order scores < 5 mAP (8 videos and 80 people gave 6.3 once recall rose).
    n_videos: int = 16
    seconds: tuple[float, float] = (30.0, 40.0)  # video length range
    fps: float = 10.0
    size: tuple[int, int] = (768, 432)  # width, height
    n_queried: int = 20  # people with a query photo; each appears 2-3 times
    n_distractors: int = 80  # people without one; they appear once, or twice (distractor_twice)
    distractor_twice: float = 0.5
    max_people: int = 3  # at once in one video
    walk_seconds: tuple[float, float] = (4.0, 9.0)
    reentry_gap_seconds: float = 3.0  # between two walks of one person in one video
    crops_per_walk: tuple[int, int] = (1, 3)  # camera-B crops a walk switches between
    plate_sample_step: int = 5  # run the detector on every Nth source frame when looking for empty ones
    # "": the rooms as filmed. A key of LIGHTS: each room's camera sees everything (room and people)
    # through its own light and sensor, so one person looks different in each room (a second dev set).
    light: str = ""

    def key(self) -> str:
        fields = asdict(self)
        if self.people == "val":
            del fields["people"]  # the benchmark's key (and cached libraries) from before dev existed
        if not self.light:
            del fields["light"]  # footage composed before lighting existed keeps its key
        text = json.dumps({"format": FORMAT_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Walk:
    """One pass of one person through one video: a path (entry -> waypoint -> exit) and crop switches."""

    pid: str
    video: int
    start_frame: int
    n_frames: int
    points: np.ndarray  # (3, 2) feet positions: entry, waypoint, exit
    crops: list[str]  # camera-B crop file names, used in turn
    flips: list[bool]
    switch_every: int  # frames between crop switches
    brightness: float
    frames: list[int] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.n_frames - 1


def imread(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return image


# ---------------------------------------------------------------------------------------- plates


def empty_room_plate(video: Path, detector: object, step: int, min_frames: int = 5) -> tuple[np.ndarray, int]:
    """Median of the frames in which nobody is detected (with a frame of margin on both sides).

    Returns the plate and the number of frames it was computed from.
    """
    capture = cv2.VideoCapture(str(video))
    sampled: list[tuple[int, np.ndarray, bool]] = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            people = detector.detect(frame)  # type: ignore[attr-defined]
            sampled.append((index, frame, len(people) == 0))
        index += 1
    capture.release()
    # A sample counts as empty only when its neighbours are empty too: people half out of the frame are
    # the detector's weakest case, and a median tolerates missing frames better than a ghost.
    empty = [
        frame
        for i, (_, frame, nobody) in enumerate(sampled)
        if nobody and all(sampled[j][2] for j in (i - 1, i + 1) if 0 <= j < len(sampled))
    ]
    if len(empty) < min_frames:
        raise RuntimeError(f"{video}: only {len(empty)} empty frames found; cannot build a clean plate")
    stride = max(1, len(empty) // 60)  # a median over ~60 frames is plenty and keeps memory small
    stack = np.stack(empty[::stride])
    return np.median(stack, axis=0).astype(np.uint8), len(empty)


def load_plates(shared: Path, out: Path, step: int) -> dict[str, np.ndarray]:
    """Plates are cached beside the benchmark: the detector pass is the slow part of composing."""
    plates: dict[str, np.ndarray] = {}
    detector = None
    for room in ROOMS:
        cached = out / f"plate_{room.name}.png"
        if cached.is_file():
            plates[room.name] = imread(cached)
            continue
        if detector is None:
            from reidkit.detect import build_detector

            detector = build_detector("yolox-nano")
        plate, n_empty = empty_room_plate(shared / room.source, detector, step)
        print(f"plate {room.name}: median of {n_empty} empty frames", file=sys.stderr)
        cv2.imwrite(str(cached), plate)
        plates[room.name] = plate
    return plates


# ---------------------------------------------------------------------------------------- people


def camera_crops(folder: Path, last: int = 0) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """CUHK03 crops per identity: (camera A = KK 00-04, camera B = KK 05-09); ``last``: only the last N ids."""
    cam_a: dict[str, list[str]] = {}
    cam_b: dict[str, list[str]] = {}
    paths = sorted(folder.glob("*.jpg"))
    if not paths:
        raise SystemExit(f"{folder}: no CUHK03 crops; set REIDKIT_SHARED or --shared to the shared folder")
    for path in paths:
        pid, shot = path.stem.split("_")
        (cam_a if int(shot) < 5 else cam_b).setdefault(pid, []).append(path.name)
    kept = set(sorted(set(cam_a) | set(cam_b))[-last:] if last else cam_a)
    both = sorted(set(cam_a) & set(cam_b) & kept)
    return {p: cam_a[p] for p in both}, {p: cam_b[p] for p in both}


def feather_mask(height: int, width: int, side: float = 0.25, edge: float = 0.04) -> np.ndarray:
    """Alpha for a pasted crop: opaque over the body, fading to 0 at the crop's left and right sides.

    A tight person crop has the head and feet at its top and bottom and its own background at the
    sides, so only the sides fade (over ``side`` of the half-width) and the top and bottom only at
    the very edge (``edge`` of the half-height) to hide the seam. A person is opaque: an earlier
    rounded-rectangle mask faded heads and feet to 10-40 % alpha, which made people ghost-like and
    cost the detector ~7 points of recall on pasted CUHK03 crops (hard paste 45 %, that mask 38 %,
    this one 43 % of crops found at score >= 0.35 in one hall position).
    """

    def ramp(x: np.ndarray, width_fraction: float) -> np.ndarray:
        t = np.clip((x - (1 - width_fraction)) / width_fraction, 0, 1)
        return 1 - t * t * (3 - 2 * t)

    u = np.abs(np.linspace(-1, 1, width, dtype=np.float32))[None, :]
    v = np.abs(np.linspace(-1, 1, height, dtype=np.float32))[:, None]
    return (ramp(u, side) * ramp(v, edge))[..., None].astype(np.float32)


# ---------------------------------------------------------------------------------------- planning


def plan_walks(
    cfg: ComposeConfig, rng: np.random.Generator, cam_b: dict[str, list[str]], pids: Sequence[str]
) -> tuple[list[int], list[Walk], list[str]]:
    """Video lengths, the walks placed in them, and the queried people.

    Queried people are placed first (2-3 walks each, in the same or another video), then distractors
    (1, sometimes 2 walks) wherever there is still room for them under ``max_people``.
    """
    fps = cfg.fps
    lengths = [int(rng.uniform(*cfg.seconds) * fps) for _ in range(cfg.n_videos)]
    occupancy = [np.zeros(n, np.int32) for n in lengths]
    chosen = list(rng.permutation(pids)[: cfg.n_queried + cfg.n_distractors])
    queried, distractors = sorted(chosen[: cfg.n_queried]), sorted(chosen[cfg.n_queried :])
    busy: dict[tuple[str, int], list[tuple[int, int]]] = {}
    walks: list[Walk] = []
    gap = int(cfg.reentry_gap_seconds * fps)

    def place(pid: str) -> bool:
        for _ in range(200):
            video = int(rng.integers(cfg.n_videos))
            n = int(rng.uniform(*cfg.walk_seconds) * fps)
            if n >= lengths[video]:
                continue
            start = int(rng.integers(0, lengths[video] - n))
            end = start + n
            if occupancy[video][start:end].max() >= cfg.max_people:
                continue
            if any(start < e + gap and s < end + gap for s, e in busy.get((pid, video), [])):
                continue
            occupancy[video][start:end] += 1
            busy.setdefault((pid, video), []).append((start, end))
            walks.append(new_walk(cfg, rng, pid, video, start, n, cam_b[pid]))
            return True
        return False

    for pid in queried:
        for _ in range(int(rng.integers(2, 4))):
            place(pid)
    for pid in distractors:
        for _ in range(2 if rng.random() < cfg.distractor_twice else 1):
            place(pid)
    walks.sort(key=lambda w: (w.video, w.start_frame, w.pid))
    return lengths, walks, queried


def new_walk(
    cfg: ComposeConfig, rng: np.random.Generator, pid: str, video: int, start: int, n: int, crops: list[str]
) -> Walk:
    room = ROOMS[video % len(ROOMS)]
    width = cfg.size[0]
    # Enter at one side, wander to a point on the floor, leave by either side. The feet start and end
    # on the frame border, so at least half of the person is always in view.
    left_to_right = bool(rng.random() < 0.5)
    x_in, x_out = (0.0, float(width)) if left_to_right else (float(width), 0.0)
    if rng.random() < 0.25:
        x_out = x_in  # turn back and leave the way they came
    y0, y1 = room.floor_y
    points = np.array(
        [
            [x_in, rng.uniform(y0, y1)],
            [rng.uniform(0.2, 0.8) * width, rng.uniform(y0, y1)],
            [x_out, rng.uniform(y0, y1)],
        ],
        np.float32,
    )
    k = int(rng.integers(cfg.crops_per_walk[0], min(cfg.crops_per_walk[1], len(crops)) + 1))
    used = [str(c) for c in rng.choice(crops, size=k, replace=False)]
    return Walk(
        pid=pid,
        video=video,
        start_frame=start,
        n_frames=n,
        points=points,
        crops=used,
        flips=[bool(rng.random() < 0.5) for _ in used],
        switch_every=max(1, int(rng.uniform(1.5, 3.0) * cfg.fps)),
        brightness=float(rng.uniform(0.85, 1.15)),
    )


def feet_position(walk: Walk, frame: int) -> np.ndarray:
    """Piecewise-linear path through the three points, at constant speed."""
    t = (frame - walk.start_frame) / max(1, walk.n_frames - 1)
    seg = np.linalg.norm(np.diff(walk.points, axis=0), axis=1)
    split = seg[0] / max(1e-6, seg.sum())
    if t <= split:
        return walk.points[0] + (walk.points[1] - walk.points[0]) * (t / max(split, 1e-6))
    return walk.points[1] + (walk.points[2] - walk.points[1]) * ((t - split) / max(1 - split, 1e-6))


# ---------------------------------------------------------------------------------------- rendering


def paste(canvas: np.ndarray, crop: np.ndarray, box: tuple[int, int, int, int], gain: float) -> None:
    """Alpha-blend ``crop`` (resized to ``box``) onto ``canvas`` in place; the box may leave the frame."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if w < 2 or h < 2:
        return
    resized = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) * gain
    alpha = feather_mask(h, w)
    H, W = canvas.shape[:2]
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(W, x2), min(H, y2)
    if cx1 >= cx2 or cy1 >= cy2:
        return
    src = resized[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
    a = alpha[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
    region = canvas[cy1:cy2, cx1:cx2].astype(np.float32)
    canvas[cy1:cy2, cx1:cx2] = np.clip(region * (1 - a) + src * a, 0, 255).astype(np.uint8)


def render_video(
    path: Path,
    plate: np.ndarray,
    room: Room,
    n_frames: int,
    walks: Sequence[Walk],
    crop_images: dict[str, np.ndarray],
    fps: float,
    rng: np.random.Generator,
    light: tuple[float, float, tuple[float, float, float], float] | None = None,
) -> None:
    """Write one video and fill each walk's per-frame ``frames``/``boxes`` (the visible, clipped box)."""
    H, W = plate.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (W, H))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path} (OpenCV has no mp4v encoder?)")
    # Sensor noise: a few precomputed fields used in turn keep rendering cheap.
    noise = [rng.normal(0, 2.0, plate.shape).astype(np.float32) for _ in range(4)]
    try:
        for frame in range(n_frames):
            canvas = np.clip(plate.astype(np.float32) + noise[frame % len(noise)], 0, 255).astype(np.uint8)
            active = [w for w in walks if w.start_frame <= frame <= w.end_frame]
            placed = []
            for walk in active:
                fx, fy = feet_position(walk, frame)
                which = ((frame - walk.start_frame) // walk.switch_every) % len(walk.crops)
                crop = crop_images[walk.crops[which]]
                if walk.flips[which]:
                    crop = crop[:, ::-1]
                height = room.person_height(fy) * rng.uniform(0.98, 1.02)
                width = height * crop.shape[1] / crop.shape[0]
                fx += rng.uniform(-1.5, 1.5)
                fy += rng.uniform(-1.0, 1.0)
                box = (round(fx - width / 2), round(fy - height), round(fx + width / 2), round(fy))
                placed.append((fy, walk, crop, box, walk.brightness * rng.uniform(0.97, 1.03)))
            for _, walk, crop, box, gain in sorted(placed, key=lambda p: p[0]):  # far people first
                paste(canvas, crop, box, gain)
                x1, y1, x2, y2 = box
                walk.frames.append(frame)
                walk.boxes.append(
                    [float(max(0, x1)), float(max(0, y1)), float(min(W, x2)), float(min(H, y2))]
                )
            writer.write(canvas if light is None else apply_light(canvas, *light))
    finally:
        writer.release()


# ---------------------------------------------------------------------------------------- main


def compose(cfg: ComposeConfig, out: Path, shared: Path = DEFAULT_SHARED, force: bool = False) -> Path:
    """Build the benchmark into ``out`` (skipped when ``out`` already holds this config's build).

    Returns the path of ``ground_truth.json``.
    """
    truth_path = out / "ground_truth.json"
    if not force and truth_path.is_file():
        existing = json.loads(truth_path.read_text())
        if existing.get("key") == cfg.key():
            return truth_path
    # Detections, vectors and libraries cached by the benchmarks belong to the old footage.
    shutil.rmtree(out / "cache", ignore_errors=True)
    for old in out.glob("v[0-9][0-9]_*.mp4"):
        old.unlink()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    plates = load_plates(shared, out, cfg.plate_sample_step)
    split, last = PEOPLE[cfg.people]
    cuhk = shared / "data" / "cuhk03" / "labeled" / split
    cam_a, cam_b = camera_crops(cuhk, last)
    rng = np.random.default_rng(cfg.seed)
    lengths, walks, queried = plan_walks(cfg, rng, cam_b, sorted(cam_b))
    crop_images = {name: imread(cuhk / name) for w in walks for name in w.crops}

    videos = []
    for v, n_frames in enumerate(lengths):
        room = ROOMS[v % len(ROOMS)]
        name = f"v{v:02d}_{room.name}.mp4"
        plate = plates[room.name]
        if plate.shape[1::-1] != cfg.size:
            plate = cv2.resize(plate, cfg.size, interpolation=cv2.INTER_AREA)
        render_video(
            out / name,
            plate,
            room,
            n_frames,
            [w for w in walks if w.video == v],
            crop_images,
            cfg.fps,
            np.random.default_rng([cfg.seed, v]),
            LIGHTS[cfg.light][room.name] if cfg.light else None,
        )
        videos.append({"name": name, "room": room.name, "frames": n_frames, "fps": cfg.fps})

    queries_dir = out / "queries"
    queries_dir.mkdir(exist_ok=True)
    queries = []
    for pid in queried:
        shot = str(rng.choice(cam_a[pid]))
        shutil.copyfile(cuhk / shot, queries_dir / shot)
        queries.append({"pid": pid, "image": f"queries/{shot}"})

    people: dict[str, dict] = {}
    for walk in walks:
        person = people.setdefault(
            walk.pid, {"pid": walk.pid, "queried": walk.pid in queried, "appearances": []}
        )
        person["appearances"].append(
            {
                "video": videos[walk.video]["name"],
                "start_frame": walk.frames[0],
                "end_frame": walk.frames[-1],
                "crops": walk.crops,
                "frames": walk.frames,
                "boxes": [[round(c, 1) for c in b] for b in walk.boxes],
            }
        )
    truth = {
        "format": FORMAT_VERSION,
        "key": cfg.key(),
        "config": asdict(cfg),
        "videos": videos,
        "queries": queries,
        "people": [people[p] for p in sorted(people)],
    }
    truth_path.write_text(json.dumps(truth, indent=1))
    n_walks = len(walks)
    print(
        f"composed {len(videos)} videos, {n_walks} walks of {len(people)} people "
        f"({len(queries)} queried) in {time.perf_counter() - started:.1f}s -> {out}",
        file=sys.stderr,
    )
    return truth_path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_footage_arguments(parser)
    parser.add_argument("--force", action="store_true", help="rebuild even when a build exists")
    args = parser.parse_args(argv)
    compose(footage_config(args), args.out, args.shared, force=args.force)


def add_footage_arguments(parser: argparse.ArgumentParser) -> None:
    """--people / --seed / --out / --shared, shared by every script that reads the footage."""
    parser.add_argument(
        "--people", choices=sorted(PEOPLE), default="val", help="val: the benchmark; dev: for tuning"
    )
    parser.add_argument("--seed", type=int, help=f"default 0 for val, {DEV_SEED} for dev")
    parser.add_argument("--out", type=Path, help="footage folder (default out/default, out/dev)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--light", choices=sorted(LIGHTS), default="", help="each room under its own light")


def footage_config(args: argparse.Namespace) -> ComposeConfig:
    """The config named by :func:`add_footage_arguments`' options; fills in their defaults."""
    if args.seed is None:
        args.seed = 0 if args.people == "val" else DEV_SEED
    if args.out is None:
        args.out = default_out(args.people)
        if getattr(args, "light", ""):
            args.out = args.out.with_name(f"{args.out.name}-{args.light}")
    return ComposeConfig(seed=args.seed, people=args.people, light=getattr(args, "light", ""))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
