"""What a camera sees now: its newest frame, the people in it boxed, the watchlist's people named.

The page's live preview asks for it about once a second while it is shown, so a camera nobody watches
costs nothing. A live name is a hint for the person watching, not a verdict: one frame's crop against a
saved person's vector, at that person's own search threshold in this library (what "likely" means for
a search of them, never below the model's calibration). One crop scores lower than a tracklet's
pooled crops, so a live name errs towards silence; the alert that counts comes when the segment is
indexed and searched as a whole (:meth:`reidkit.app.state.AppState._alert`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from reidkit.app.video import BOX_COLOUR, draw_box
from reidkit.core.head import VerdictHead
from reidkit.core.types import Detector, Embedder
from reidkit.core.vectors import l2_normalise
from reidkit.embed.crops import cut_crop
from reidkit.index.indexer import IMAGE_MIN_SCORE

PREVIEW_WIDTH = 640  # pixels: a live preview is a glance, not the recording
_OTHERS = (200, 200, 200)  # BGR: light grey for people not on the watchlist (they are amber)


@dataclass(frozen=True)
class Watched:
    """A watchlist person as a live frame is matched against them."""

    name: str
    vector: np.ndarray  # unit, in the library's verdict space (reidkit.search.verdict_space)
    threshold: float  # their search verdict's threshold in this library


@dataclass(frozen=True)
class LiveBox:
    box: tuple[float, float, float, float]  # in the frame's pixels
    person: str | None  # the watchlist person this crop is above the threshold of (the best such)
    score: float | None  # its cosine to that person

    def to_dict(self) -> dict[str, object]:
        return {"box": [round(v, 1) for v in self.box], "person": self.person, "score": self.score}


def look(
    frame: np.ndarray,
    detector: Detector,
    embedder: Embedder | None,
    watched: Sequence[Watched],
    head: VerdictHead | None = None,
) -> list[LiveBox]:
    """The people in ``frame``, each named when their crop clears a watched person's threshold; the
    crops' vectors are mapped by the library's verdict ``head`` where it has one, as searches are."""
    detections = detector.detect(frame)
    keep = detections.scores >= IMAGE_MIN_SCORE  # one frame: no tracker to confirm a weak box
    boxes = detections.boxes[keep]
    crops = [cut_crop(frame, box) for box in boxes]
    named: list[tuple[str | None, float | None]] = [(None, None)] * len(boxes)
    usable = [i for i, crop in enumerate(crops) if crop.size]
    if watched and embedder is not None and usable:
        vectors = l2_normalise(np.asarray(embedder.embed([crops[i] for i in usable]), np.float32))
        if head is not None:
            vectors = head.map(vectors)
        people = np.stack([w.vector for w in watched]).astype(np.float32)
        margins = vectors @ people.T - np.array([w.threshold for w in watched], np.float32)
        for row, i in enumerate(usable):
            best = int(np.argmax(margins[row]))
            if margins[row, best] >= 0:
                named[i] = (watched[best].name, round(float(vectors[row] @ people[best]), 3))
    return [
        LiveBox((float(b[0]), float(b[1]), float(b[2]), float(b[3])), person, score)
        for b, (person, score) in zip(boxes, named, strict=True)
    ]


def preview_jpeg(frame: np.ndarray, boxes: Sequence[LiveBox] = (), max_width: int = PREVIEW_WIDTH) -> bytes:
    """``frame`` at most ``max_width`` wide as a JPEG, with ``boxes`` drawn (named people in amber)."""
    height, width = frame.shape[:2]
    scale = min(1.0, max_width / width)
    if scale < 1.0:
        size = (max_width, max(1, round(height * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    elif boxes:
        frame = frame.copy()  # the recorder's frame is drawn on only as a copy
    for live in sorted(boxes, key=lambda b: b.person is not None):  # named people drawn last, on top
        box = (live.box[0] * scale, live.box[1] * scale, live.box[2] * scale, live.box[3] * scale)
        if live.person:
            draw_box(frame, box, f"{live.person} {live.score:.2f}", BOX_COLOUR, 3)
        else:
            draw_box(frame, box, colour=_OTHERS, thickness=1)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return data.tobytes()
