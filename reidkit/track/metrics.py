"""Tracking accuracy against ground truth: CLEAR-MOT and identity metrics via ``motmetrics``, HOTA via
``trackeval`` when it is installed.

Both libraries are development tools, imported only when scoring. ``trackeval`` declares
``opencv-python`` as a dependency, which clashes with the headless OpenCV reidkit uses; install it with
``pip install --no-deps trackeval`` (its HOTA code needs only numpy and scipy).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import asdict, dataclass

import numpy as np

from reidkit.detect.boxes import box_iou
from reidkit.track.mot import FRAME, ID, mot_to_boxes


@dataclass(frozen=True)
class TrackingScores:
    idf1: float  # fractions 0-1
    mota: float
    motp: float  # mean IoU of matched pairs
    precision: float
    recall: float
    id_switches: int
    fragmentations: int
    n_gt_ids: int
    n_hyp_ids: int
    n_frames: int
    hota: float | None = None  # None when trackeval is not installed
    deta: float | None = None
    assa: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def score_tracking(gt: np.ndarray, hyp: np.ndarray, iou_threshold: float = 0.5) -> TrackingScores:
    """Score tracker rows ``hyp`` against ground-truth rows ``gt`` (both ``(N, >=6)`` MOT arrays).

    Every frame that appears in either array is evaluated; pairs overlapping less than
    ``iou_threshold`` can not match. Filter ``gt`` (ignored classes, zero-marked rows) before calling.
    """
    try:
        import motmetrics as mm
    except ImportError as exc:  # pragma: no cover - a dev dependency
        raise ImportError("scoring tracks needs motmetrics: pip install motmetrics") from exc

    frames = np.union1d(gt[:, FRAME], hyp[:, FRAME]).astype(np.int64)
    acc = mm.MOTAccumulator(auto_id=False)
    for frame in frames:
        g = gt[gt[:, FRAME] == frame]
        h = hyp[hyp[:, FRAME] == frame]
        overlap = box_iou(mot_to_boxes(g), mot_to_boxes(h))
        # motmetrics wants distances with NaN for "cannot match"; its own iou helper predates numpy 2.
        dist = np.where(overlap >= iou_threshold, 1.0 - overlap, np.nan)
        acc.update(
            g[:, ID].astype(np.int64).tolist(), h[:, ID].astype(np.int64).tolist(), dist, frameid=int(frame)
        )
    names = ["idf1", "mota", "motp", "precision", "recall", "num_switches", "num_fragmentations"]
    summary = mm.metrics.create().compute(acc, metrics=names, name="seq")
    row = summary.loc["seq"]
    hota = _hota(gt, hyp, frames)

    def _f(value: object) -> float:
        out = float(value)  # type: ignore[arg-type]
        return 0.0 if np.isnan(out) else out

    return TrackingScores(
        idf1=_f(row["idf1"]),
        mota=_f(row["mota"]),
        motp=1.0 - _f(row["motp"]) if len(hyp) else 0.0,
        precision=_f(row["precision"]),
        recall=_f(row["recall"]),
        id_switches=int(row["num_switches"]),
        fragmentations=int(row["num_fragmentations"]),
        n_gt_ids=len(np.unique(gt[:, ID])),
        n_hyp_ids=len(np.unique(hyp[:, ID])),
        n_frames=len(frames),
        hota=None if hota is None else hota[0],
        deta=None if hota is None else hota[1],
        assa=None if hota is None else hota[2],
    )


def hota_available() -> bool:
    return _import_hota() is not None


def _import_hota() -> type | None:
    try:
        # trackeval prints a line about optional dataset dependencies when imported; keep stdout clean.
        with contextlib.redirect_stdout(io.StringIO()):
            from trackeval.metrics import HOTA
    except Exception:
        return None
    return HOTA


def _hota(gt: np.ndarray, hyp: np.ndarray, frames: np.ndarray) -> tuple[float, float, float] | None:
    """HOTA, DetA and AssA averaged over IoU thresholds 0.05..0.95 (TrackEval's definition)."""
    hota_cls = _import_hota()
    if hota_cls is None:
        return None
    gt_ids, gt_index = np.unique(gt[:, ID], return_inverse=True)
    hyp_ids, hyp_index = np.unique(hyp[:, ID], return_inverse=True)
    data: dict[str, object] = {
        "num_gt_ids": len(gt_ids),
        "num_tracker_ids": len(hyp_ids),
        "num_gt_dets": len(gt),
        "num_tracker_dets": len(hyp),
        "num_timesteps": len(frames),
        "gt_ids": [],
        "tracker_ids": [],
        "similarity_scores": [],
    }
    for frame in frames:
        g = gt[:, FRAME] == frame
        h = hyp[:, FRAME] == frame
        data["gt_ids"].append(gt_index[g].astype(np.int64))  # type: ignore[attr-defined]
        data["tracker_ids"].append(hyp_index[h].astype(np.int64))  # type: ignore[attr-defined]
        data["similarity_scores"].append(box_iou(mot_to_boxes(gt[g]), mot_to_boxes(hyp[h])))  # type: ignore[attr-defined]
    res = hota_cls().eval_sequence(data)
    return float(np.mean(res["HOTA"])), float(np.mean(res["DetA"])), float(np.mean(res["AssA"]))
