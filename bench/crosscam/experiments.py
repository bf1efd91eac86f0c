"""Search variants measured on an indexed library, outside the product code.

Each variant ranks the library's tracklets (or linked groups of them) for a query photo:

* scoring a tracklet — ``pooled``: cosine to the tracklet's pooled vector (what ``Library.search`` ranks
  by); ``max``: the best of its per-crop cosines; ``mean``: the mean of its per-crop cosines;
* ``link``: tracklets of one video are joined into one moment when they follow each other within
  ``max_gap`` seconds without overlapping and their pooled vectors agree (cosine >= ``min_link``);
  the query is not used, so a link is the index's own claim that two pieces are one person;
* ``qe``: average query expansion — the query vector plus the pooled vectors of the top-k moments of
  a first pass, renormalised, then a second pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from crosscam.metrics import Moment, MomentMetrics, evaluate_moments


@dataclass
class Piece:
    """A candidate moment: one or more tracklets of one video."""

    video: str
    start_frame: int
    end_frame: int
    start: float
    end: float
    pooled: np.ndarray  # (D,) unit
    crops: np.ndarray  # (k, D) per-crop unit vectors of all members


def unit(x: np.ndarray) -> np.ndarray:
    return (x / max(float(np.linalg.norm(x)), 1e-12)).astype(np.float32)


def tracklet_pieces(library: Any) -> list[Piece]:
    names = {m.id: Path(m.path).name for m in library.media_list()}
    pieces = []
    for t in library.tracklets():
        crops = np.asarray(library.crop_vectors(t.id), np.float32).reshape(-1, library.dim)
        pieces.append(
            Piece(names[t.media_id], t.start_frame, t.end_frame, t.start, t.end, unit(crops.mean(0)), crops)
        )
    return pieces


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)


def stand_in_pieces(
    boxes: dict[str, list[np.ndarray]],
    vectors: dict[str, list[np.ndarray]],
    fps: float,
    min_iou: float = 0.3,
    max_lost: int = 2,
    min_length: int = 3,
    crops_per_tracklet: int = 8,
) -> list[Piece]:
    """Tracklets from a bare greedy IoU tracker over the naive baseline's per-frame boxes and vectors.

    A stand-in for the product's tracker and library while those are not on main: it lets the search
    variants be measured on the same detections, with a deliberately weak tracker.
    """
    pieces = []
    for video, frames in boxes.items():
        open_tracks: list[dict] = []
        done: list[dict] = []
        for f, (b, v) in enumerate(zip(frames, vectors[video], strict=True)):
            free = list(range(len(b)))
            done.extend(t for t in open_tracks if f - t["frames"][-1] > max_lost + 1)
            open_tracks = [t for t in open_tracks if f - t["frames"][-1] <= max_lost + 1]
            if open_tracks and len(b):
                ious = iou_matrix(np.stack([t["boxes"][-1] for t in open_tracks]), b)
                for ti, di in sorted(np.ndindex(*ious.shape), key=lambda ij: -ious[ij]):
                    if ious[ti, di] < min_iou:
                        break
                    t = open_tracks[ti]
                    if di in free and t["frames"][-1] != f:
                        free.remove(di)
                        t["frames"].append(f)
                        t["boxes"].append(b[di])
                        t["vectors"].append(v[di])
            open_tracks.extend({"frames": [f], "boxes": [b[d]], "vectors": [v[d]]} for d in free)
        done.extend(open_tracks)
        for t in done:
            if len(t["frames"]) < min_length:
                continue
            pick = np.linspace(0, len(t["frames"]) - 1, min(crops_per_tracklet, len(t["frames"]))).round()
            crops = np.stack([t["vectors"][int(i)] for i in pick])
            first, last = t["frames"][0], t["frames"][-1]
            pieces.append(Piece(video, first, last, first / fps, last / fps, unit(crops.mean(0)), crops))
    return pieces


def link_pieces(pieces: Sequence[Piece], min_link: float = 0.6, max_gap: float = 4.0) -> list[Piece]:
    """Greedy in time order: each tracklet joins the best-agreeing earlier group it may follow."""
    by_video: dict[str, list[Piece]] = {}
    for p in pieces:
        by_video.setdefault(p.video, []).append(p)
    linked = []
    for video, members in by_video.items():
        groups: list[list[Piece]] = []
        for p in sorted(members, key=lambda p: (p.start, p.end)):
            best, best_link = None, min_link
            for group in groups:
                if p.start - max(m.end for m in group) > max_gap:
                    continue
                if any(min(m.end, p.end) - max(m.start, p.start) > 0.3 for m in group):
                    continue
                link = float(np.mean([p.pooled @ m.pooled for m in group]))
                if link >= best_link:
                    best, best_link = group, link
            if best is None:
                groups.append([p])
            else:
                best.append(p)
        for group in groups:
            crops = np.concatenate([m.crops for m in group])
            linked.append(
                Piece(
                    video,
                    min(m.start_frame for m in group),
                    max(m.end_frame for m in group),
                    min(m.start for m in group),
                    max(m.end for m in group),
                    unit(np.stack([m.pooled for m in group]).mean(0)),
                    crops,
                )
            )
    return linked


def score_pieces(query: np.ndarray, pieces: Sequence[Piece], how: str) -> np.ndarray:
    if how == "pooled":
        return np.array([p.pooled @ query for p in pieces])
    per_crop = [p.crops @ query for p in pieces]
    if how == "max":
        return np.array([s.max() for s in per_crop])
    if how == "mean":
        return np.array([s.mean() for s in per_crop])
    raise ValueError(how)


def rank(query: np.ndarray, pieces: Sequence[Piece], how: str, qe: int, top: int) -> list[Moment]:
    scores = score_pieces(query, pieces, how)
    if qe > 0:
        first = np.argsort(-scores)[:qe]
        expanded = unit(query + sum(pieces[i].pooled for i in first))
        scores = score_pieces(expanded, pieces, how)
    order = np.argsort(-scores, kind="stable")[:top]
    return [
        Moment(pieces[i].video, pieces[i].start_frame, pieces[i].end_frame, float(scores[i])) for i in order
    ]


def run_experiments(
    bench: Any, tracklets: Sequence[Piece], model: str, top: int
) -> dict[str, MomentMetrics]:
    from reidkit.embed.onnx import OnnxEmbedder

    embedder = OnnxEmbedder(model)
    queries = {pid: embedder.embed([cv2.imread(str(p))])[0] for pid, p in bench.queries.items()}
    candidates = {"none": tracklets, **{f"{t:.1f}": link_pieces(tracklets, t) for t in (0.5, 0.6, 0.7)}}
    out: dict[str, MomentMetrics] = {}
    for link, pieces in candidates.items():
        for how in ("pooled", "max", "mean"):
            for qe in (0, 1, 2):
                results = {pid: rank(q, pieces, how, qe, top) for pid, q in queries.items()}
                out[f"{how} link={link} qe={qe}"] = evaluate_moments(results, bench.truth)
    return out
