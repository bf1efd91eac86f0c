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

import numpy as np

from crosscam.compose import imread
from crosscam.metrics import Moment, MomentMetrics, coverage, evaluate_moments


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
    first_box: np.ndarray | None = None  # (4,) box at start_frame
    last_box: np.ndarray | None = None  # (4,) box at end_frame
    frame_size: tuple[int, int] = (0, 0)  # width, height
    stored: np.ndarray | None = None  # the library's pooled vector (quality-weighted mean of crops)
    members: list[Piece] | None = None  # the tracklets of a linked piece


def unit(x: np.ndarray) -> np.ndarray:
    return (x / max(float(np.linalg.norm(x)), 1e-12)).astype(np.float32)


def tracklet_pieces(library: Any) -> list[Piece]:
    media = {m.id: m for m in library.media_list()}
    ids, vectors = library.tracklet_vectors()
    stored = dict(zip(ids.tolist(), vectors, strict=True))
    pieces = []
    for t in library.tracklets():
        crops = np.asarray(library.crop_vectors(t.id), np.float32).reshape(-1, library.dim)
        m = media[t.media_id]
        pieces.append(
            Piece(
                Path(m.path).name,
                t.start_frame,
                t.end_frame,
                t.start,
                t.end,
                unit(crops.mean(0)),
                crops,
                np.asarray(t.boxes[0], np.float32),
                np.asarray(t.boxes[-1], np.float32),
                (m.width, m.height),
                stored[t.id],
            )
        )
    return pieces


def stand_in_pieces(
    detections: dict[str, list[Any]],
    vectors: dict[str, list[np.ndarray]],
    fps: float,
    crops_per_tracklet: int = 8,
) -> list[Piece]:
    """Tracklets from reidkit's ByteTracker over the naive baseline's cached detections and box vectors.

    A stand-in for the product's indexer while it is not on main: same detections, same tracker, and
    ``crops_per_tracklet`` evenly spaced crops per tracklet (the vector of the detection each tracked box
    came from).
    """
    from reidkit.core.types import Frame
    from reidkit.detect import box_iou
    from reidkit.track import ByteTracker, TrackerConfig, TrackletBuilder

    pieces = []
    for video, frames in detections.items():
        tracker = ByteTracker(TrackerConfig.for_detector("yolox-nano"))
        builder = TrackletBuilder(min_length=3, max_idle=tracker.config.buffer)
        blank = np.zeros((1, 1, 3), np.uint8)
        for f, dets in enumerate(frames):
            builder.add(Frame(blank, f, f / fps), tracker.update(dets, f))
        for t in builder.finish():
            pick = np.linspace(0, len(t) - 1, min(crops_per_tracklet, len(t))).round().astype(int)
            crops = []
            for i in pick:
                f = int(t.frames[i])
                if len(frames[f]) == 0:
                    continue
                overlap = box_iou(t.boxes[i : i + 1], frames[f].boxes)[0]
                if overlap.max() > 0.5:
                    crops.append(vectors[video][f][int(overlap.argmax())])
            if crops:
                stacked = np.stack(crops)
                pieces.append(
                    Piece(video, t.start_frame, t.end_frame, t.start, t.end, unit(stacked.mean(0)), stacked)
                )
    return pieces


def plausible(a: Piece, b: Piece) -> bool:
    """Could the person at the end of ``a`` be the one at the start of ``b``? The product's rule."""
    from reidkit.search.moments import plausible_move

    if a.last_box is None or b.first_box is None:
        return True
    return plausible_move(a.last_box, b.first_box, max(0.0, b.start - a.end), a.frame_size[0])


def link_pieces(
    pieces: Sequence[Piece], min_link: float = 0.6, max_gap: float = 4.0, spatial: bool = False
) -> list[Piece]:
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
                if spatial and not plausible(max(group, key=lambda m: m.end), p):
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
                    stored=None
                    if group[0].stored is None
                    else unit(np.stack([m.stored for m in group]).mean(0)),
                    members=[m for g in group for m in (g.members or [g])],
                )
            )
    return linked


def score_pieces(query: np.ndarray, pieces: Sequence[Piece], how: str) -> np.ndarray:
    if how == "pooled":
        return np.array([p.pooled @ query for p in pieces])
    if how == "stored":  # the library's quality-weighted pooled vector (the group mean for linked pieces)
        return np.array([(p.stored if p.stored is not None else p.pooled) @ query for p in pieces])
    if how == "member-max":  # a linked piece scores as its best tracklet (by stored vector)
        return np.array(
            [
                max(
                    float((m.stored if m.stored is not None else m.pooled) @ query)
                    for m in (p.members or [p])
                )
                for p in pieces
            ]
        )
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
    bench: Any, tracklets: Sequence[Piece], model: str, top: int, same_person: dict[float, float]
) -> dict[str, tuple[MomentMetrics, float]]:
    """Metrics of every variant, with the coverage (recall ceiling) of the candidate moments it ranks."""
    from reidkit.embed import build_embedder

    embedder = build_embedder(model)
    queries = {pid: embedder.embed([imread(p)])[0] for pid, p in bench.queries.items()}
    # Linking thresholds: fixed 0.6 (search-app's MomentRule default) and 0.7, and the model's own
    # "same person" cosine at FPR 1e-2 / 1e-3 on CUHK03 train pairs, which adapts to each model's scale.
    links = {
        "0.7": 0.7,
        **{f"fpr{fpr:g}({t:.2f})": t for fpr, t in same_person.items()},
    }
    candidates = {"none": tracklets, **{name: link_pieces(tracklets, t) for name, t in links.items()}}
    for fpr, t in same_person.items():
        candidates[f"fpr{fpr:g}({t:.2f})+spatial"] = link_pieces(tracklets, t, spatial=True)
    out: dict[str, tuple[MomentMetrics, float]] = {}
    for link, pieces in candidates.items():
        ceiling = coverage([Moment(p.video, p.start_frame, p.end_frame) for p in pieces], bench.truth)
        for how in ("stored", "member-max", "pooled", "max", "mean"):
            for qe in (0, 1):
                results = {pid: rank(q, pieces, how, qe, top) for pid, q in queries.items()}
                out[f"{how} link={link} qe={qe}"] = (evaluate_moments(results, bench.truth), ceiling)
    return out
