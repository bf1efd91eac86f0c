"""Search variants measured on an indexed library, outside the product code.

Each variant ranks the library's tracklets (or linked groups of them) for a query photo:

* scoring a tracklet — ``pooled``: cosine to the tracklet's pooled vector (what ``Library.search`` ranks
  by); ``max``: the best of its per-crop cosines; ``mean``: the mean of its per-crop cosines;
* ``link``: tracklets of one video are joined into visits by the product's own rule
  (``reidkit.index.visits.link_records``: time, place and appearance, at a given link threshold);
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
from reidkit.core.vectors import l2_normalise


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
    record: Any = None  # the library's TrackletRecord of a tracklet (None for a linked piece)
    media: Any = None  # the library's MediaRecord of its video
    stored: np.ndarray | None = None  # the library's pooled vector (quality-weighted mean of crops)
    members: list[Piece] | None = None  # the tracklets of a linked piece


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
                l2_normalise(crops.mean(0)),
                crops,
                t,
                m,
                stored[t.id],
            )
        )
    return pieces


def link_pieces(pieces: Sequence[Piece], min_link: float) -> list[Piece]:
    """The product's visits over ``pieces`` (``reidkit.index.visits.link_records`` at ``min_link``), as linked pieces."""
    from reidkit.index.visits import link_records

    by_video: dict[str, list[Piece]] = {}
    for p in pieces:
        by_video.setdefault(p.video, []).append(p)
    linked = []
    for video, members in by_video.items():
        by_id = {p.record.id: p for p in members}
        vectors = {i: p.pooled for i, p in by_id.items()}
        for visit in link_records([p.record for p in members], vectors, members[0].media, min_link):
            group = [by_id[r.id] for r in visit]
            linked.append(
                Piece(
                    video,
                    min(m.start_frame for m in group),
                    max(m.end_frame for m in group),
                    min(m.start for m in group),
                    max(m.end for m in group),
                    l2_normalise(np.stack([m.pooled for m in group]).mean(0)),
                    np.concatenate([m.crops for m in group]),
                    media=group[0].media,
                    stored=None
                    if group[0].stored is None
                    else l2_normalise(np.stack([m.stored for m in group]).mean(0)),
                    members=group,
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
        expanded = l2_normalise(query + sum(pieces[i].pooled for i in first))
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
    # Linking thresholds: a fixed 0.7, and the model's own "same person" cosine at FPR 1e-2 / 1e-3 on
    # CUHK03 train pairs, which adapts to each model's scale (the product links at FPR 1e-3).
    links = {
        "0.7": 0.7,
        **{f"fpr{fpr:g}({t:.2f})": t for fpr, t in same_person.items()},
    }
    candidates = {"none": tracklets, **{name: link_pieces(tracklets, t) for name, t in links.items()}}
    out: dict[str, tuple[MomentMetrics, float]] = {}
    for link, pieces in candidates.items():
        ceiling = coverage([Moment(p.video, p.start_frame, p.end_frame) for p in pieces], bench.truth)
        for how in ("stored", "member-max", "pooled", "max", "mean"):
            for qe in (0, 1):
                results = {pid: rank(q, pieces, how, qe, top) for pid, q in queries.items()}
                out[f"{how} link={link} qe={qe}"] = (evaluate_moments(results, bench.truth), ceiling)
    return out
