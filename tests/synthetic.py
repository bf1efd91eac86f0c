"""Synthetic pedestrian videos with known identities, for tests that need no model and no real data.

A :class:`Scene` is a short clip of person-like figures walking over a textured, static background:

* each figure is a head circle (skin, with hair), a torso rectangle (shirt) and two swinging legs
  (trousers). Shirt and trouser colours and a shirt texture (stripes / checks / plain, with its own
  period) come from the **identity number alone** (:func:`appearance`), so the same identity looks the
  same in every scene and every seed - use that for cross-camera tests: two scenes that both contain
  identity 3 show the same person. Colour histograms tell identities apart;
* each person walks one or more :class:`Visit`\\ s: a straight or slightly bent path from ``start`` to
  ``end`` (foot point, pixels; points outside the frame make the person enter / leave), over frames
  ``[start_frame, end_frame]``, with the body height interpolated along the path (walking towards the
  camera grows). Several visits of one identity = leaving and re-entering later;
* figures whose feet are lower in the image are nearer and drawn on top, so crossing paths occlude.

Ground truth (:class:`IdentityTruth`, ``scene.gt[identity]``): per frame the box of the figure's part
inside the frame (xyxy float32) and its visibility (fraction of its pixels not hidden by others or cut
by the border), plus ``intervals``: inclusive ``(first, last)`` frame ranges where the person is in view.
:func:`gt_detections` turns that into imperfect detector output (jitter, misses, low scores for occluded
people, optional false positives), so tracker tests need no model.

Everything is deterministic given the arguments (``seed`` included). Typical use::

    scene = make_scene(n_people=3, n_frames=120, seed=1)
    path = write_video(scene, tmp_path / "walk.mp4")       # mp4v, scene.fps
    dets = gt_detections(scene, 10, noise=0.02, drop_rate=0.05)
    photo = query_image(3)                                  # a clean picture of identity 3 for search tests

Presets: :func:`crossing_scene` (two people cross with occlusion), :func:`reentry_scene` (one person
leaves and comes back after ``gap`` frames).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from reidkit.core.types import Detections, Frame

# Visually distinct BGR colours; identity i uses shirt PALETTE[i % n] and trousers PALETTE[(3*i+5) % n].
PALETTE: tuple[tuple[int, int, int], ...] = (
    (40, 40, 200),  # red
    (200, 80, 30),  # blue
    (40, 170, 40),  # green
    (30, 200, 230),  # yellow
    (170, 40, 170),  # purple
    (200, 200, 40),  # cyan
    (20, 110, 240),  # orange
    (235, 235, 235),  # white
    (30, 30, 30),  # black
    (110, 60, 20),  # navy
    (150, 150, 150),  # grey
    (70, 100, 140),  # brown
)
SKIN_TONES = ((140, 170, 220), (90, 125, 170), (60, 85, 120), (160, 190, 235))
HAIR = ((20, 20, 20), (30, 60, 110), (150, 190, 210), (80, 80, 80))
TEXTURES = ("stripes", "checks", "plain", "dots")


@dataclass(frozen=True)
class Appearance:
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    texture: str  # one of TEXTURES
    period: int  # texture period in pixels at a body height of 100 px
    width: float  # body width relative to height (0.30-0.40)


def appearance(identity: int) -> Appearance:
    """The fixed look of ``identity`` (>= 1); the same in every scene."""
    n = len(PALETTE)
    shirt = PALETTE[identity % n]
    trousers = PALETTE[(3 * identity + 5) % n]
    if trousers == shirt:
        trousers = PALETTE[(identity + 6) % n]
    return Appearance(
        shirt=shirt,
        trousers=trousers,
        skin=SKIN_TONES[identity % len(SKIN_TONES)],
        hair=HAIR[(identity // 2) % len(HAIR)],
        texture=TEXTURES[(identity // 3 + identity) % len(TEXTURES)],
        period=6 + 3 * (identity % 4),
        width=0.30 + 0.025 * (identity % 5),
    )


@dataclass(frozen=True)
class Visit:
    """One walk through the scene: the foot point moves from ``start`` to ``end`` (pixels)."""

    start_frame: int
    end_frame: int
    start: tuple[float, float]
    end: tuple[float, float]
    height: tuple[float, float] = (100.0, 100.0)  # body height at start and end, pixels
    bend: float = 0.0  # sideways bulge of the path at its middle, as a fraction of the path length


@dataclass(frozen=True)
class PersonSpec:
    identity: int
    visits: tuple[Visit, ...]


@dataclass
class IdentityTruth:
    """Where one identity is visible: inclusive frame intervals, and per-frame boxes and visibility."""

    identity: int
    intervals: list[tuple[int, int]] = field(default_factory=list)
    boxes: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> (4,) float32 xyxy, clipped
    visibility: dict[int, float] = field(default_factory=dict)  # frame -> 0..1


@dataclass
class Scene:
    frames: list[np.ndarray]  # HxWx3 uint8 BGR
    gt: dict[int, IdentityTruth]  # identity -> truth
    people: tuple[PersonSpec, ...]
    fps: float
    size: tuple[int, int]  # (width, height)

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, index: int) -> Frame:
        return Frame(image=self.frames[index], index=index, time=index / self.fps)

    def iter_frames(self, stride: int = 1) -> Iterator[Frame]:
        for index in range(0, len(self.frames), stride):
            yield self.frame(index)

    def boxes_at(self, index: int, min_visibility: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(identities (N,), boxes (N, 4), visibility (N,))`` of the people in view in frame ``index``."""
        ids, boxes, vis = [], [], []
        for identity, truth in sorted(self.gt.items()):
            if index in truth.boxes and truth.visibility[index] >= min_visibility:
                ids.append(identity)
                boxes.append(truth.boxes[index])
                vis.append(truth.visibility[index])
        return (
            np.asarray(ids, dtype=np.int64),
            np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            np.asarray(vis, dtype=np.float64),
        )

    def mot_gt(self, min_visibility: float = 0.0) -> np.ndarray:
        """Ground truth as MOTChallenge rows ``(N, 10)``: 1-based frames, ids = identities."""
        rows = []
        for index in range(len(self.frames)):
            ids, boxes, _ = self.boxes_at(index, min_visibility)
            for identity, (x1, y1, x2, y2) in zip(ids, boxes, strict=True):
                rows.append([index + 1, identity, x1, y1, x2 - x1, y2 - y1, 1, -1, -1, -1])
        return np.asarray(rows, dtype=np.float64).reshape(-1, 10)


# ----------------------------------------------------------------------------------------- drawing


def _foot_and_height(visit: Visit, frame: int) -> tuple[float, float, float] | None:
    if not visit.start_frame <= frame <= visit.end_frame:
        return None
    span = max(visit.end_frame - visit.start_frame, 1)
    t = (frame - visit.start_frame) / span
    (x0, y0), (x1, y1) = visit.start, visit.end
    x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    if visit.bend:
        length = float(np.hypot(x1 - x0, y1 - y0)) or 1.0
        nx, ny = -(y1 - y0) / length, (x1 - x0) / length
        bulge = 4 * t * (1 - t) * visit.bend * length
        x, y = x + nx * bulge, y + ny * bulge
    h = visit.height[0] + t * (visit.height[1] - visit.height[0])
    return x, y, h


def _draw_person(
    canvas: np.ndarray,
    mask: np.ndarray | None,
    label: int,
    look: Appearance,
    fx: float,
    fy: float,
    h: float,
    phase: float,
) -> None:
    """Draw a figure with feet at ``(fx, fy)`` and height ``h`` on ``canvas``; ``label`` into ``mask``."""
    r = 0.09 * h
    w = look.width * h
    top = fy - h
    torso = (fx - w / 2, top + 2 * r, fx + w / 2, fy - 0.45 * h)
    leg_w = 0.4 * w
    swing = 0.12 * h * np.sin(phase)
    legs = [
        (fx - w / 2 + swing * 0.5, fy - 0.45 * h, fx - w / 2 + leg_w + swing * 0.5, fy),
        (fx + w / 2 - leg_w - swing * 0.5, fy - 0.45 * h, fx + w / 2 - swing * 0.5, fy),
    ]
    head = (fx, top + r)

    def rect(img: np.ndarray, box: tuple[float, float, float, float], colour: object) -> None:
        cv2.rectangle(img, (round(box[0]), round(box[1])), (round(box[2]) - 1, round(box[3]) - 1), colour, -1)

    for leg in legs:
        rect(canvas, leg, look.trousers)
    rect(canvas, torso, look.shirt)
    _texture(canvas, torso, look, h)
    cv2.circle(canvas, (round(head[0]), round(head[1])), max(round(r), 1), look.skin, -1)
    cv2.ellipse(  # hair: the top half of the head
        canvas,
        (round(head[0]), round(head[1])),
        (max(round(r), 1), max(round(r), 1)),
        0,
        180,
        360,
        look.hair,
        -1,
    )
    if mask is not None:
        for leg in legs:
            rect(mask, leg, label)
        rect(mask, torso, label)
        cv2.circle(mask, (round(head[0]), round(head[1])), max(round(r), 1), label, -1)


def _texture(
    canvas: np.ndarray, torso: tuple[float, float, float, float], look: Appearance, h: float
) -> None:
    x1, y1, x2, y2 = (round(v) for v in torso)
    H, W = canvas.shape[:2]
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)
    if cx2 <= cx1 or cy2 <= cy1 or look.texture == "plain":
        return
    period = max(round(look.period * h / 100.0), 2)
    yy, xx = np.mgrid[cy1:cy2, cx1:cx2]
    yy, xx = yy - y1, xx - x1
    if look.texture == "stripes":
        on = (yy // (period // 2 or 1)) % 2 == 0
    elif look.texture == "checks":
        on = ((yy // period) + (xx // period)) % 2 == 0
    else:  # dots
        on = ((yy % period) < period / 3) & ((xx % period) < period / 3)
    # Texture colour: the shirt colour brightened or darkened, so a histogram sees two shirt modes.
    shirt = np.asarray(look.shirt, dtype=np.int16)
    other = np.where(shirt > 127, shirt - 90, shirt + 90).clip(0, 255).astype(np.uint8)
    region = canvas[cy1:cy2, cx1:cx2]
    region[on] = other


def _background(size: tuple[int, int], seed: int) -> np.ndarray:
    width, height = size
    rng = np.random.default_rng(seed + 7919)
    ramp = np.linspace(150, 100, height, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(ramp, (height, width, 3)).copy()
    img += rng.normal(0, 4, size=(height, width, 3)).astype(np.float32)
    for _ in range(6):  # a few pieces of furniture / wall features
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height // 2))
        bw, bh = int(rng.integers(width // 12, width // 4)), int(rng.integers(height // 12, height // 3))
        colour = rng.integers(60, 200, size=3).tolist()
        cv2.rectangle(img, (x, y), (x + bw, y + bh), colour, -1)
    cv2.line(img, (0, int(height * 0.45)), (width, int(height * 0.45)), (90, 90, 90), 2)  # floor line
    return img.clip(0, 255).astype(np.uint8)


def render_scene(
    people: Sequence[PersonSpec],
    n_frames: int,
    size: tuple[int, int] = (320, 240),
    fps: float = 10.0,
    seed: int = 0,
    min_in_frame: float = 0.3,
) -> Scene:
    """Draw ``people`` for ``n_frames`` frames and record the ground truth.

    A person is "in view" in a frame when at least ``min_in_frame`` of their figure lies inside it.
    """
    width, height = size
    background = _background(size, seed)
    rng = np.random.default_rng(seed)
    # A few precomputed noise fields (saturating add / subtract of 0-3 levels) keep rendering cheap.
    noise_bank = [
        (
            rng.integers(0, 4, (height, width, 3), dtype=np.uint8),
            rng.integers(0, 4, (height, width, 3), dtype=np.uint8),
        )
        for _ in range(4)
    ]
    gt = {p.identity: IdentityTruth(p.identity) for p in people}
    frames = []
    for index in range(n_frames):
        canvas = background.copy()
        placed = []
        for person in people:
            for visit in person.visits:
                pose = _foot_and_height(visit, index)
                if pose is not None:
                    placed.append((pose[1], person.identity, pose))
        placed.sort()  # far (small foot y) first, so nearer people are drawn over them
        label_map = np.zeros((height, width), np.uint8)
        full_area: dict[int, int] = {}
        for _, identity, (fx, fy, h) in placed:
            look = appearance(identity)
            phase = (fx / max(h, 1.0)) * 2 * np.pi  # leg swing follows the distance walked
            _draw_person(canvas, label_map, identity % 255 or 255, look, fx, fy, h, phase)
            full_area[identity] = _figure_area(look, h, phase)
        if index > 0:  # sensor noise, so that consecutive frames are not pixel-identical
            up, down = noise_bank[int(rng.integers(0, len(noise_bank)))]
            canvas = cv2.subtract(cv2.add(canvas, up), down)
        frames.append(canvas)
        for _, identity, _pose in placed:
            whole = full_area[identity]
            # Visibility: the share of the whole figure not hidden by nearer people nor cut by the border.
            shown = np.count_nonzero(label_map == (identity % 255 or 255)) / max(whole, 1)
            if shown < 0.02:
                continue
            truth = gt[identity]
            box = _figure_box_in_frame(_pose, appearance(identity), size)
            if box is None or _inside_fraction(_pose, appearance(identity), size) < min_in_frame:
                continue
            truth.boxes[index] = box
            truth.visibility[index] = float(min(shown, 1.0))
    for truth in gt.values():
        truth.intervals = _intervals(sorted(truth.boxes))
    return Scene(frames=frames, gt=gt, people=tuple(people), fps=fps, size=size)


def _figure_area(look: Appearance, h: float, phase: float) -> int:
    """Pixel count of a whole figure (also the parts outside the frame), drawn on its own small canvas."""
    side = int(h) + 8
    own = np.zeros((side, side), np.uint8)
    _draw_person(np.zeros((side, side, 3), np.uint8), own, 1, look, side / 2, side - 4, h, phase)
    return int(own.sum())


def _figure_box_in_frame(
    pose: tuple[float, float, float], look: Appearance, size: tuple[int, int]
) -> np.ndarray | None:
    # Tight box around torso width and full height; the swinging legs stay inside it most of the time.
    fx, fy, h = pose
    x1, y1, x2, y2 = fx - look.width * h / 2, fy - h, fx + look.width * h / 2, fy
    cx1, cy1 = max(x1, 0.0), max(y1, 0.0)
    cx2, cy2 = min(x2, float(size[0])), min(y2, float(size[1]))
    if cx2 - cx1 < 2 or cy2 - cy1 < 2:
        return None
    return np.array([cx1, cy1, cx2, cy2], dtype=np.float32)


def _inside_fraction(pose: tuple[float, float, float], look: Appearance, size: tuple[int, int]) -> float:
    fx, fy, h = pose
    x1, x2 = fx - look.width * h / 2, fx + look.width * h / 2
    y1, y2 = fy - h, fy
    inside_w = max(0.0, min(x2, size[0]) - max(x1, 0.0))
    inside_h = max(0.0, min(y2, size[1]) - max(y1, 0.0))
    return inside_w * inside_h / max((x2 - x1) * (y2 - y1), 1e-6)


def _intervals(frames: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for f in frames:
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


# ----------------------------------------------------------------------------------------- scenes


def make_scene(
    n_people: int = 3,
    n_frames: int = 120,
    size: tuple[int, int] = (320, 240),
    fps: float = 10.0,
    seed: int = 0,
    *,
    people: Sequence[PersonSpec] | None = None,
    reenter: bool = False,
    first_identity: int = 1,
    min_in_frame: float = 0.3,
) -> Scene:
    """A random (but seeded) scene of ``n_people`` walking across, or the scripted ``people``.

    Random people walk left->right or right->left at different depths (foot height in the lower half
    of the frame; nearer = taller), speeds (crossing in 35-80% of the clip) and entry times (first 30%),
    on straight or slightly bent paths; paths at similar depths cross and occlude. With ``reenter``,
    the first person walks back the other way after leaving (a second visit, same identity). Identities
    are ``first_identity, first_identity + 1, ...``.
    """
    if people is None:
        people = _random_people(n_people, n_frames, size, seed, reenter, first_identity)
    return render_scene(people, n_frames, size, fps, seed, min_in_frame)


def _random_people(
    n_people: int, n_frames: int, size: tuple[int, int], seed: int, reenter: bool, first_identity: int
) -> list[PersonSpec]:
    width, height = size
    rng = np.random.default_rng(seed)
    people = []
    for k in range(n_people):
        identity = first_identity + k
        fy = float(rng.uniform(0.62, 0.95) * height)
        body = fy * float(rng.uniform(0.55, 0.7))  # nearer (lower feet) = taller
        duration = int(rng.uniform(0.35, 0.8) * n_frames)
        start = int(rng.integers(0, max(int(0.3 * n_frames), 1)))
        end = start + duration
        margin = body * 0.3
        left_to_right = bool(rng.integers(0, 2))
        xs = (-margin, width + margin) if left_to_right else (width + margin, -margin)
        dy = float(rng.uniform(-0.05, 0.05) * height)
        bend = float(rng.choice([0.0, 0.0, rng.uniform(-0.08, 0.08)]))
        visits = [Visit(start, end, (xs[0], fy), (xs[1], fy + dy), (body, body * (fy + dy) / fy), bend)]
        if reenter and k == 0 and end + 10 < n_frames - 5:
            back_start = end + 10
            back_end = back_start + duration  # same walking speed; may end after the clip does
            visits.append(Visit(back_start, back_end, (xs[1], fy + dy), (xs[0], fy), (body, body), 0.0))
        people.append(PersonSpec(identity, tuple(visits)))
    return people


def crossing_scene(
    n_frames: int = 80, size: tuple[int, int] = (320, 240), seed: int = 0, **kw: object
) -> Scene:
    """Identities 1 and 2 walk towards each other at nearly the same depth and cross mid-clip
    (identity 2, slightly nearer, hides identity 1 for a few frames); identity 3 walks far behind."""
    w, h = size
    people = [
        PersonSpec(
            1, (Visit(0, n_frames - 1, (0.1 * w, 0.80 * h), (0.9 * w, 0.80 * h), (0.5 * h, 0.5 * h)),)
        ),
        PersonSpec(
            2, (Visit(0, n_frames - 1, (0.9 * w, 0.84 * h), (0.1 * w, 0.84 * h), (0.52 * h, 0.52 * h)),)
        ),
        PersonSpec(
            3, (Visit(5, n_frames - 1, (0.15 * w, 0.55 * h), (0.6 * w, 0.55 * h), (0.3 * h, 0.3 * h)),)
        ),
    ]
    return make_scene(n_frames=n_frames, size=size, seed=seed, people=people, **kw)  # type: ignore[arg-type]


def reentry_scene(
    gap: int = 40, n_frames: int | None = None, size: tuple[int, int] = (320, 240), seed: int = 0
) -> Scene:
    """Identity 1 walks left to right at constant speed but is out of sight (as if behind a pillar:
    simply not drawn) for ``gap`` frames from frame 31, reappearing where steady walking puts them.
    Identity 2 walks the other way, further back, the whole time. Identity 1's truth intervals are
    ``[(0, 30), (31 + gap, n_frames - 1)]``. Use it to test re-activation within / beyond a tracker buffer.
    """
    w, h = size
    leave = 30
    back = leave + 1 + gap
    total = n_frames or back + 30
    x0, x1 = 0.08 * w, 0.92 * w
    speed = (x1 - x0) / (total - 1)
    foot, body = 0.85 * h, 0.5 * h
    people = [
        PersonSpec(
            1,
            (
                Visit(0, leave, (x0, foot), (x0 + speed * leave, foot), (body, body)),
                Visit(back, total - 1, (x0 + speed * back, foot), (x1, foot), (body, body)),
            ),
        ),
        PersonSpec(2, (Visit(0, total - 1, (0.95 * w, 0.6 * h), (0.05 * w, 0.6 * h), (0.33 * h, 0.33 * h)),)),
    ]
    return render_scene(people, total, size, 10.0, seed)


# ----------------------------------------------------------------------------------------- detections


def gt_detections(
    scene: Scene,
    frame_index: int,
    noise: float = 0.02,
    drop_rate: float = 0.0,
    seed: int = 0,
    *,
    min_visibility: float = 0.3,
    low_score_rate: float = 0.0,
    false_positives: float = 0.0,
) -> Detections:
    """Detector-like output from the truth of one frame.

    * people with visibility below ``min_visibility`` are missed (heavily occluded);
    * the rest are missed with probability ``drop_rate``;
    * box corners are jittered by Gaussian noise of ``noise`` x box height;
    * scores: ~0.75-0.95 for fully visible people, scaled down with visibility (a half-hidden person
      scores ~0.4, i.e. a ByteTrack "low" detection); with probability ``low_score_rate`` a detection
      gets a low score 0.15-0.45 anyway;
    * ``false_positives``: expected number of spurious low-score boxes per frame.

    Deterministic for a given ``(seed, frame_index)``.
    """
    rng = np.random.default_rng([seed, frame_index])
    _, boxes, vis = scene.boxes_at(frame_index)
    keep = (vis >= min_visibility) & (rng.random(len(boxes)) >= drop_rate)
    boxes, vis = boxes[keep].astype(np.float64), vis[keep]
    heights = (boxes[:, 3] - boxes[:, 1])[:, None]
    boxes = boxes + rng.normal(0.0, noise, size=boxes.shape) * heights
    scores = rng.uniform(0.75, 0.95, size=len(boxes)) * np.clip(vis / 0.85, 0.3, 1.0)
    low = rng.random(len(boxes)) < low_score_rate
    scores[low] = rng.uniform(0.15, 0.45, size=int(low.sum()))
    n_false = int(rng.poisson(false_positives)) if false_positives > 0 else 0
    if n_false:
        width, height = scene.size
        h = rng.uniform(0.15, 0.4, n_false) * height
        x = rng.uniform(0, width - 0.4 * h)
        y = rng.uniform(0, height - h)
        boxes = np.vstack([boxes, np.stack([x, y, x + 0.4 * h, y + h], axis=1)])
        scores = np.concatenate([scores, rng.uniform(0.1, 0.4, n_false)])
    # Keep boxes valid: inside the frame and at least 2 px wide and high.
    width, height = scene.size
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    valid = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
    return Detections(boxes[valid].astype(np.float32), scores[valid].astype(np.float32))


# ----------------------------------------------------------------------------------------- files


def write_video(scene: Scene, path: str | Path, fourcc: str = "mp4v") -> Path:
    """Encode ``scene.frames`` with OpenCV (``mp4v`` by default) at ``scene.fps``; returns the path."""
    path = Path(path)
    width, height = scene.size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), scene.fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with fourcc {fourcc!r}")
    try:
        for image in scene.frames:
            writer.write(image)
    finally:
        writer.release()
    return path


def query_image(identity: int, height: int = 256, width: int = 128, background: int = 128) -> np.ndarray:
    """A clean ``height x width`` BGR picture of ``identity`` (a "photo of the person to find")."""
    canvas = np.full((height, width, 3), background, np.uint8)
    body = 0.92 * height
    _draw_person(canvas, None, 0, appearance(identity), width / 2, height - 0.04 * height, body, 0.0)
    return canvas


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decompression_bomb_png(width: int, height: int) -> bytes:
    """A grey PNG whose header declares ``width x height`` pixels, with only a few rows of data.

    What a decoder does first, it does here too: allocate the full image. A real bomb would hold all the
    (highly compressible) rows; a header check must refuse either before decoding anything.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")
    )
