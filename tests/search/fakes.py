"""A small in-memory gallery (reidkit.core.gallery.Gallery), for tests that must not need real models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from reidkit.core.gallery import LinkRule, MediaRecord, TrackletHit, TrackletRecord, Visit, VisitHead
from reidkit.core.head import VerdictHead
from reidkit.core.types import Detections
from reidkit.core.vectors import mean_direction
from reidkit.index.footage import FootageScores, media_footage_scores
from reidkit.index.library import Library
from reidkit.index.visits import link_threshold, linked_visits

DIM = 16


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def identity(seed: int) -> np.ndarray:
    """A random unit appearance vector for one synthetic person."""
    return unit(np.random.default_rng(seed).normal(size=DIM))


def mix(a: np.ndarray, b: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector with cosine ``cos`` to ``a``, in the plane of ``a`` and ``b``."""
    b_perp = unit(b - (b @ a) * a)
    return unit(cos * a + np.sqrt(1 - cos**2) * b_perp)


def add_crowd(
    lib: FakeLibrary, person: Callable[[int], np.ndarray], noise: float, videos: int = 12, per_video: int = 5
) -> None:
    """``videos`` videos of 60 s, each with ``per_video`` people walking once, 5 s each, one after the
    other: person ``person(i)`` for the i-th walk overall."""
    for v in range(videos):
        video = lib.add_video(f"/v{v}.mp4", duration=60.0)
        for k in range(per_video):
            lib.add_tracklet(video, 10.0 * k, 10.0 * k + 5.0, person(per_video * v + k), noise=noise)


class FakeLibrary:
    def __init__(self, root: Path, model: str = "fake-reid", dim: int = DIM):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.dim = dim
        self._media: list[MediaRecord] = []
        self._tracklets: list[TrackletRecord] = []
        self._vectors: dict[int, np.ndarray] = {}
        self.model_file: str | None = None  # the model file's path and sha256, as Library records them
        self.model_sha256: str | None = None
        self.verdict_head: VerdictHead | None = None  # as Library.set_verdict_head records it

    # The real check, on the fake's recorded model file.
    check_model_file = Library.check_model_file

    def add_video(
        self, path: str, duration: float = 60.0, fps: float = 10.0, recorded_at: float | None = None
    ) -> MediaRecord:
        media = MediaRecord(
            len(self._media) + 1,
            path,
            f"sha{len(self._media)}",
            "video",
            fps,
            round(duration * fps),
            duration,
            768,
            432,
            recorded_at,
        )
        self._media.append(media)
        return media

    def add_image(self, path: str) -> MediaRecord:
        media = MediaRecord(
            len(self._media) + 1, path, f"sha{len(self._media)}", "image", 0.0, 1, 0.0, 640, 480
        )
        self._media.append(media)
        return media

    def add_tracklet(
        self,
        media: MediaRecord,
        start: float,
        end: float,
        vector: np.ndarray,
        noise: float = 0.05,
        seed: int = 0,
    ) -> TrackletRecord:
        fps = media.fps or 1.0
        frames = np.arange(round(start * fps), round(end * fps) + 1, max(1, round(fps / 2)), dtype=np.int64)
        boxes = np.tile(np.array([100, 50, 160, 230], np.float32), (len(frames), 1))
        tid = len(self._tracklets) + 1
        thumb = f"thumbs/{tid}.jpg"
        (self.root / "thumbs").mkdir(exist_ok=True)
        cv2.imwrite(str(self.root / thumb), np.full((64, 32, 3), (40 * tid) % 255, np.uint8))
        record = TrackletRecord(
            tid,
            media.id,
            tid,
            int(frames[0]),
            int(frames[-1]),
            start,
            end,
            frames,
            boxes,
            int(frames[len(frames) // 2]),
            boxes[0],
            thumb,
            len(frames),
            1.0,
        )
        self._tracklets.append(record)
        rng = np.random.default_rng(seed + tid)
        self._vectors[tid] = unit(vector + rng.normal(scale=noise, size=(len(frames), self.dim)))
        return record

    def add_observed(
        self, media: MediaRecord, frames: np.ndarray, boxes: np.ndarray, vectors: np.ndarray
    ) -> TrackletRecord:
        """A tracklet from observed boxes and per-crop vectors (one per frame)."""
        tid = len(self._tracklets) + 1
        thumb = f"thumbs/{tid}.jpg"
        (self.root / "thumbs").mkdir(exist_ok=True)
        cv2.imwrite(str(self.root / thumb), np.zeros((64, 32, 3), np.uint8))
        frames = np.asarray(frames, np.int64)
        middle = len(frames) // 2
        record = TrackletRecord(
            tid, media.id, tid, int(frames[0]), int(frames[-1]), frames[0] / media.fps,
            frames[-1] / media.fps, frames, np.asarray(boxes, np.float32), int(frames[middle]),
            np.asarray(boxes[middle], np.float32), thumb, len(frames), 1.0,
        )  # fmt: skip
        self._tracklets.append(record)
        self._vectors[tid] = unit(vectors)
        return record

    def __len__(self) -> int:
        return len(self._tracklets)

    def media_list(self) -> list[MediaRecord]:
        return list(self._media)

    def tracklets(self, media_id: int | None = None) -> list[TrackletRecord]:
        return [t for t in self._tracklets if media_id is None or t.media_id == media_id]

    def tracklet_ids(self, media_id: int) -> list[int]:
        return [t.id for t in self._tracklets if t.media_id == media_id]

    def tracklet(self, tracklet_id: int) -> TrackletRecord:
        if not 1 <= tracklet_id <= len(self._tracklets):
            raise KeyError(f"no tracklet with id {tracklet_id}")
        return self._tracklets[tracklet_id - 1]

    def crop_vectors(self, tracklet_id: int) -> np.ndarray:
        return self._vectors[tracklet_id]

    def vector(self, tracklet_id: int) -> np.ndarray:
        """The tracklet's vector, made from its crops as the library makes it."""
        return mean_direction(self._vectors[tracklet_id])

    def vectors_of(self, tracklet_ids: Sequence[int]) -> np.ndarray:
        ids = [int(i) for i in tracklet_ids]
        for i in ids:
            self.tracklet(i)  # KeyError for an unknown id
        return np.stack([self.vector(i) for i in ids]) if ids else np.zeros((0, self.dim), np.float32)

    def visits_of(self, tracklet_ids: Sequence[int], rule: LinkRule | None = None) -> list[Visit]:
        wanted = {int(i) for i in tracklet_ids}
        media_ids = {self.tracklet(i).media_id for i in wanted}
        visits = [v for m in self._media if m.id in media_ids for v in self._linked(m, rule)]
        return sorted((v for v in visits if any(t.id in wanted for t in v.tracklets)), key=lambda v: v.id)

    def visit_heads_of(self, tracklet_ids: Sequence[int], rule: LinkRule | None = None) -> list[VisitHead]:
        return [VisitHead.of(v) for v in self.visits_of(tracklet_ids, rule)]

    def visits(self, rule: LinkRule | None = None) -> list[Visit]:
        return [v for m in self._media for v in self._linked(m, rule)]

    def _linked(self, media: MediaRecord, rule: LinkRule | None) -> list[Visit]:
        rule = rule or LinkRule()
        pairs = [(t, self.vector(t.id)) for t in self.tracklets(media.id)]
        return linked_visits(media, pairs, link_threshold(rule, self.model), rule)

    def cohort_vectors(self) -> np.ndarray:
        pooled = [self.vector(t.id) for t in self._tracklets]
        return np.stack(pooled) if pooled else np.zeros((0, self.dim), np.float32)

    def footage_scores(self) -> FootageScores:
        scores = FootageScores()
        for media in self._media:
            records = self.tracklets(media.id)
            pooled = np.stack([self.vector(t.id) for t in records]) if records else []
            scores.merge(media_footage_scores(records, pooled, [self._vectors[t.id] for t in records]))
        return scores

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        return [(h.tracklet.id, h.score) for h in self.search(query, k)]

    def search(self, query: np.ndarray, k: int) -> list[TrackletHit]:
        media = {m.id: m for m in self._media}
        query = unit(np.asarray(query, np.float32).reshape(-1))
        hits = [TrackletHit(t, media[t.media_id], float(self.vector(t.id) @ query)) for t in self._tracklets]
        return sorted(hits, key=lambda h: -h.score)[:k]


class FakeEmbedder:
    """Embeds every crop as a fixed vector (the test's query identity)."""

    def __init__(self, vector: np.ndarray, name: str = "fake-reid", path: Path | None = None):
        self.vector = unit(vector)
        self.name = name
        self.path = path  # the model file, when the test gives the fake one
        self.dim = int(self.vector.shape[0])
        self.seen: list[np.ndarray] = []

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        self.seen.extend(crops)
        return np.tile(self.vector, (len(crops), 1))


class FakeDetector:
    name = "fake-detector"

    def __init__(self, boxes: Sequence[Sequence[float]] = ()):
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)

    def detect(self, image: np.ndarray) -> Detections:
        return Detections(self.boxes.copy(), np.full(len(self.boxes), 0.9, np.float32))


def as_library(fake: FakeLibrary, root: Path) -> Library:
    """The fake's media and tracklets added to a real Library through its public API (same ids)."""
    from reidkit.index.library import stored_file

    library = Library.create_or_open(root, model=fake.model, dim=fake.dim)
    for media in fake.media_list():
        library.add_media(*stored_file(fake, media))
    if fake.verdict_head is not None:
        library.set_verdict_head(fake.verdict_head)
    return library
