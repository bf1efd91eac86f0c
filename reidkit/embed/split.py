"""Cut a tracklet where its crops stop looking like one person.

An IoU tracker follows boxes, not people: when two people cross, or one leaves at a frame border just
as another comes in there, the track can jump from one to the other. The tracklet then pools two
people into one vector that matches neither well, and its moment spans both. The crops sampled along
the tracklet show the jump: those before it and those after it look like different people.

:func:`split_on_appearance` cuts where the pooled crops before and after a point agree least, when
that agreement is below a threshold (the model's calibrated "same person" cosine, so two people are
told apart at a known false-positive rate; one person's crops in one camera and a few seconds agree far
more). On bench/crosscam it cut most of the tracklets that held two people and almost none of those
that held one (round 3 in bench/crosscam/README.md).
"""

from __future__ import annotations

import numpy as np

from reidkit.core.types import Tracklet
from reidkit.core.vectors import mean_direction
from reidkit.embed.pooling import TrackletEmbedding


def appearance_cut(vectors: np.ndarray, threshold: float) -> int | None:
    """Index ``j`` that splits time-ordered unit ``vectors`` into ``[:j]`` and ``[j:]`` of different people.

    The cut is where the mean vectors of the two sides agree least; None when even that agreement
    reaches ``threshold`` (one person) or there are fewer than two vectors.
    """
    vectors = np.asarray(vectors, np.float32)
    if len(vectors) < 2:
        return None
    agreement = [
        float(mean_direction(vectors[:j]) @ mean_direction(vectors[j:])) for j in range(1, len(vectors))
    ]
    best = int(np.argmin(agreement))
    return best + 1 if agreement[best] < threshold else None


def split_on_appearance(
    tracklet: Tracklet, embedding: TrackletEmbedding, threshold: float, max_depth: int = 2
) -> list[tuple[Tracklet, TrackletEmbedding]]:
    """The tracklet as one or more (tracklet, embedding) pieces, one person each (see the module doc).

    The cut goes between the last crop of one person and the first of the next, at the observation
    where the box moves most (a track jumping to another person jumps in place); pieces keep their own
    crops, pooled as :func:`~reidkit.embed.pooling.embed_tracklets` pools them. Each piece is checked
    again, ``max_depth`` cuts deep (at most 4 pieces by default).
    """
    order = np.argsort([c.frame for c in embedding.crops], kind="stable")
    cut = appearance_cut(embedding.crop_vectors[order], threshold)
    if cut is None or max_depth < 1:
        return [(tracklet, embedding)]
    before_frame = embedding.crops[int(order[cut - 1])].frame
    after_frame = embedding.crops[int(order[cut])].frame
    at = _jump(tracklet, before_frame, after_frame)
    pieces = []
    for keep_obs, keep_crop in (
        (tracklet.frames < at, lambda f: f < at),
        (tracklet.frames >= at, lambda f: f >= at),
    ):
        rows = [i for i, c in enumerate(embedding.crops) if keep_crop(c.frame)]
        part = Tracklet(
            tracklet.track_id,
            tracklet.frames[keep_obs],
            tracklet.times[keep_obs],
            tracklet.boxes[keep_obs],
            tracklet.scores[keep_obs],
        )
        vectors = embedding.crop_vectors[rows]
        crops = [embedding.crops[i] for i in rows]  # still best first
        pieces.append((part, TrackletEmbedding(mean_direction(vectors), vectors, crops)))
    return [out for piece in pieces for out in split_on_appearance(*piece, threshold, max_depth - 1)]


def _jump(tracklet: Tracklet, after: int, until: int) -> int:
    """The first frame of the second person: the observation in (after, until] the box jumped to."""
    inside = np.flatnonzero((tracklet.frames > after) & (tracklet.frames <= until))
    if len(inside) == 0:
        return until
    boxes = tracklet.boxes
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    moves = [float(np.linalg.norm(centre[i] - centre[i - 1]) / height[i]) for i in inside]
    return int(tracklet.frames[inside[int(np.argmax(moves))]])
