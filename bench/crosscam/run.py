"""Cross-camera search benchmark: reidkit vs a naive per-frame baseline vs an identity-blind control.

    PYTHONPATH=. python bench/crosscam/run.py [--models m1,m2] [--out DIR] [--top 50] [--experiments]
    PYTHONPATH=. python bench/crosscam/run.py --people dev --models runs/r0287_dev/model.onnx

``--people dev`` runs the dev footage (CUHK03 train's last 100 identities, see compose.py) where search
settings are chosen; give it a model trained without those people. A model *file* in ``--models``
is scored with the calibration of ``--calibrated-like`` (default: the default model, whose numbers were
measured on exactly such a dev-split sibling).

For each ReID model:

* ``reidkit``: index the videos into a fresh library (``reidkit.index.indexer.index_media``) and ask
  ``reidkit.api.find_person`` for each camera-A query photo (top ``--top`` moments);
* ``naive``: detect people in every frame, embed every box, keep frames whose best box is at least the
  model's "same person" threshold and merge runs of consecutive frames into moments scored by their
  best similarity. The threshold is the registry's measured calibration when there is one, else the
  cosine at FPR=1e-2 over cross-camera pairs of CUHK03 *train* identities (different people from the
  benchmark's val identities), so nothing is tuned on this benchmark;
* ``blind``: every tracklet in the library, in a seeded random order that ignores the query (mean of
  20 orders). It must score near zero, which shows the benchmark measures identity rather than "there
  is a person".

``--experiments`` also re-ranks the library's tracklets in the bench itself (tracklet scoring, linking
tracklets of one person within a video, query expansion) to measure what helps search.

Detections and per-box vectors of the naive baseline are cached in ``<out>/cache`` (delete to re-time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.compose import add_footage_arguments, compose, footage_config, imread  # noqa: E402
from crosscam.metrics import (  # noqa: E402
    Moment,
    MomentMetrics,
    coverage,
    evaluate_moments,
    identity_blind_results,
)
from reidkit.core.types import Detections  # noqa: E402
from reidkit.detect.yolox import DEFAULT_INPUT_SIDE  # noqa: E402

DEFAULT_MODELS = (
    "reidkit-retail-0287-cuhk03,reidkit-osnet-x0_25-cuhk03,osnet_x0_25_msmt17,"
    "person-reidentification-retail-0287,person-reidentification-retail-0248"
)


@dataclass
class Bench:
    root: Path
    videos: list[Path]
    fps: float
    queries: dict[str, Path]  # pid -> camera-A photo
    truth: dict[str, list[Moment]]  # pid -> ground-truth intervals


def load_bench(truth_path: Path) -> Bench:
    data = json.loads(truth_path.read_text())
    root = truth_path.parent
    truth = {
        p["pid"]: [Moment(a["video"], a["start_frame"], a["end_frame"]) for a in p["appearances"]]
        for p in data["people"]
        if p["queried"]
    }
    return Bench(
        root=root,
        videos=[root / v["name"] for v in data["videos"]],
        fps=float(data["videos"][0]["fps"]),
        queries={q["pid"]: root / q["image"] for q in data["queries"]},
        truth=truth,
    )


def read_frames(video: Path) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


class CountingEmbedder:
    """Wraps an embedder to count ReID forward passes (one per crop)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.calls = 0

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        self.calls += len(crops)
        return self.inner.embed(crops)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    return frame[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]


# ---------------------------------------------------------------------------------------- naive

# Cached detections and box vectors are only valid for the detector input they were made with.
DETECTOR_TAG = f"in{DEFAULT_INPUT_SIDE}"


def detect_all(
    bench: Bench, cache: Path, detector_name: str = "yolox-nano"
) -> tuple[dict[str, list[Detections]], float]:
    """People in every frame of every video (cached per detector): video name -> per-frame detections."""
    path = cache / f"detections_{detector_name}_{DETECTOR_TAG}.npz"
    if path.is_file():
        stored = np.load(path)
        frames = {str(k): int(n) for k, n in zip(stored["videos"], stored["frames"], strict=True)}
        out = {
            v.name: [
                Detections(stored[f"{v.name}/{i}/b"], stored[f"{v.name}/{i}/s"])
                for i in range(frames[v.name])
            ]
            for v in bench.videos
        }
        return out, float(stored["seconds"])
    from reidkit.detect import build_detector

    detector = build_detector(detector_name)
    started = time.perf_counter()
    out = {v.name: [detector.detect(frame) for frame in read_frames(v)] for v in bench.videos}
    seconds = time.perf_counter() - started
    cache.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for video, dets in out.items():
        for i, d in enumerate(dets):
            arrays[f"{video}/{i}/b"], arrays[f"{video}/{i}/s"] = d.boxes, d.scores
    np.savez_compressed(
        path,
        videos=np.array(list(out)),
        frames=np.array([len(d) for d in out.values()]),
        seconds=np.float64(seconds),
        **arrays,  # type: ignore[arg-type]
    )
    return out, seconds


def embed_all_boxes(
    bench: Bench, detections: dict[str, list[Detections]], model: str, cache: Path
) -> tuple[dict[str, list[np.ndarray]], float, int]:
    """Vectors of every detected box (cached per model): video name -> per-frame (N, D) arrays."""
    path = cache / f"box_vectors_{model}_{DETECTOR_TAG}.npz"
    n_boxes = sum(len(d) for frames in detections.values() for d in frames)
    if path.is_file():
        stored = np.load(path)
        seconds = float(stored["__seconds__"])
        cached = {v: [stored[f"{v}/{i}"] for i in range(len(f))] for v, f in detections.items()}
        return cached, seconds, n_boxes
    from reidkit.embed import build_embedder

    embedder = build_embedder(model)
    started = time.perf_counter()
    vectors: dict[str, list[np.ndarray]] = {}
    for video in bench.videos:
        per_frame = detections[video.name]
        vectors[video.name] = [
            embedder.embed([crop(frame, b) for b in per_frame[i].boxes])
            for i, frame in enumerate(read_frames(video))
        ]
    seconds = time.perf_counter() - started
    arrays = {f"{v}/{i}": x for v, frames in vectors.items() for i, x in enumerate(frames)}
    np.savez_compressed(path, __seconds__=np.float64(seconds), **arrays)  # type: ignore[arg-type]
    return vectors, seconds, n_boxes


def same_person_thresholds(
    model: str, shared: Path, fprs: Sequence[float] = (1e-2, 1e-3), n_ids: int = 150
) -> dict[float, float]:
    """Cosine at each false-positive rate over camera-A x camera-B pairs of CUHK03 *train* identities
    (other people than the benchmark's val identities)."""
    from reidkit.embed import build_embedder

    train = shared / "data" / "cuhk03" / "labeled" / "train"
    files = sorted(train.glob("*.jpg"))
    keep = set(sorted({f.stem.split("_")[0] for f in files})[:n_ids])
    files = [f for f in files if f.stem.split("_")[0] in keep]
    vectors = build_embedder(model).embed([imread(f) for f in files])
    ids = np.array([f.stem.split("_")[0] for f in files])
    cam_b = np.array([int(f.stem.split("_")[1]) >= 5 for f in files])
    sims = vectors[~cam_b] @ vectors[cam_b].T
    negatives = sims[ids[~cam_b][:, None] != ids[cam_b][None, :]]
    return {fpr: float(np.quantile(negatives, 1 - fpr)) for fpr in fprs}


def register_file(model: str, like: str) -> str:
    """A registry name for ``model``: an .onnx file is registered as a copy of ``like`` (its calibration)."""
    if not model.endswith(".onnx"):
        return model
    from reidkit.zoo.registry import MODELS, register_model

    path = Path(model).resolve()
    if not path.is_file():
        raise SystemExit(f"{path}: no such model file")
    from reidkit.zoo.calibration import calibration_for

    borrowed = calibration_for(like)  # from its sidecar or the registry
    numbers = {
        "threshold": borrowed.threshold,
        "logit_slope": borrowed.slope,
        "logit_bias": borrowed.bias,
        "link_threshold": borrowed.link_threshold,
    }
    spec = replace(
        MODELS[like], name=path.stem, filename=str(path), sha256=None, url=None, calibration=numbers
    )
    return register_model(spec).name


def naive_threshold(model: str, measured: dict[float, float]) -> tuple[float, str]:
    """The model's "same person" cosine: its calibration, else FPR=1e-2 on CUHK03 train pairs."""
    from reidkit.zoo.calibration import calibration_for

    calibration = calibration_for(model)
    if calibration.measured:
        return calibration.threshold, "calibration"
    return measured[1e-2], "FPR=1e-2 on 150 CUHK03 train ids"


def naive_moments(
    query: np.ndarray, vectors: dict[str, list[np.ndarray]], threshold: float, top: int
) -> list[Moment]:
    moments = []
    for video, frames in vectors.items():
        best = np.array([float((v @ query).max()) if len(v) else -1.0 for v in frames])
        above = best >= threshold
        i = 0
        while i < len(above):
            if not above[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(above) and above[j + 1]:
                j += 1
            moments.append(Moment(video, i, j, float(best[i : j + 1].max())))
            i = j + 1
    moments.sort(key=lambda m: -m.score)
    return moments[:top]


# ---------------------------------------------------------------------------------------- reidkit


def run_reidkit(
    bench: Bench, model: str, library_root: Path, top: int
) -> tuple[dict[str, list[Moment]], float, int, Any]:
    """Index into a fresh library and search every query. Returns results, index seconds, ReID calls, library."""
    from reidkit.api import find_person
    from reidkit.embed import build_embedder
    from reidkit.index.indexer import index_media
    from reidkit.index.library import Library

    shutil.rmtree(library_root, ignore_errors=True)
    embedder = CountingEmbedder(build_embedder(model))
    started = time.perf_counter()
    index_media([str(v) for v in bench.videos], library_root, model=embedder)
    calls = embedder.calls
    index_seconds = time.perf_counter() - started
    library = Library.open(library_root)
    results = {}
    for pid, photo in bench.queries.items():
        found = find_person(str(photo), library, top=top)
        results[pid] = [
            Moment(Path(m.media).name, int(m.start_frame), int(m.end_frame), float(m.score))
            for m in found.moments
        ]
    return results, index_seconds, calls, library


def library_stretches(library: Any) -> list[Moment]:
    names = {m.id: Path(m.path).name for m in library.media_list()}
    return [Moment(names[t.media_id], t.start_frame, t.end_frame) for t in library.tracklets()]


def blind_metrics(stretches: list[Moment], bench: Bench, seed: int, repeats: int = 20) -> MomentMetrics:
    """The identity-blind control, averaged over ``repeats`` seeded orders (one order is noisy)."""
    runs = [
        evaluate_moments(identity_blind_results(stretches, list(bench.queries), seed + r), bench.truth)
        for r in range(repeats)
    ]
    return MomentMetrics(
        mAP=float(np.mean([m.mAP for m in runs])),
        rank1=float(np.mean([m.rank1 for m in runs])),
        n_queries=runs[0].n_queries,
    )


# ---------------------------------------------------------------------------------------- report


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)))


def row(method: str, model: str, metrics: MomentMetrics, seconds: float | None, calls: int | None) -> dict:
    return {
        "method": method,
        "model": model,
        **metrics.as_row(),
        "index s": "" if seconds is None else f"{seconds:.0f}",
        "ReID calls": "" if calls is None else calls,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated ReID models or .onnx files")
    parser.add_argument("--calibrated-like", default=DEFAULT_MODELS.split(",")[0], help="see the docstring")
    add_footage_arguments(parser)
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--skip", default="", help="comma-separated methods to skip: reidkit,naive")
    parser.add_argument("--experiments", action="store_true", help="also measure search variants")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(args.shared / "models"))
    skip = set(filter(None, args.skip.split(",")))

    config = footage_config(args)
    bench = load_bench(compose(config, args.out, args.shared))
    cache = args.out / "cache"
    n_gt = sum(len(v) for v in bench.truth.values())
    print(
        f"{len(bench.videos)} videos, {len(bench.queries)} queries, {n_gt} ground-truth intervals",
        file=sys.stderr,
    )
    rows: list[dict[str, Any]] = []
    experiment_rows: list[dict[str, Any]] = []
    for model in (register_file(m, args.calibrated_like) for m in args.models.split(",")):
        library = None
        thresholds = same_person_thresholds(model, args.shared)
        print(
            f"{model}: cosine at FPR 1e-2 / 1e-3 = {thresholds[1e-2]:.3f} / {thresholds[1e-3]:.3f}",
            file=sys.stderr,
        )
        if "reidkit" not in skip:
            results, seconds, calls, library = run_reidkit(bench, model, cache / f"library_{model}", args.top)
            reidkit_row = row("reidkit", model, evaluate_moments(results, bench.truth), seconds, calls)
            rows.append(reidkit_row)
        if "naive" not in skip:
            from reidkit.embed import build_embedder

            detections, detect_seconds = detect_all(bench, cache)
            vectors, embed_seconds, n_boxes = embed_all_boxes(bench, detections, model, cache)
            threshold, source = naive_threshold(model, thresholds)
            print(f"naive {model}: threshold {threshold:.3f} ({source})", file=sys.stderr)
            embedder = build_embedder(model)
            results = {
                pid: naive_moments(embedder.embed([imread(photo)])[0], vectors, threshold, args.top)
                for pid, photo in bench.queries.items()
            }
            metrics = evaluate_moments(results, bench.truth)
            rows.append(row("naive", model, metrics, detect_seconds + embed_seconds, n_boxes))
        if library is not None:
            stretches = library_stretches(library)
            reidkit_row["coverage"] = round(100 * coverage(stretches, bench.truth), 1)
            rows.append(row("blind", model, blind_metrics(stretches, bench, args.seed), None, None))
            if args.experiments:
                from crosscam.experiments import run_experiments, tracklet_pieces

                pieces = tracklet_pieces(library)
                for name, (metrics, ceiling) in run_experiments(
                    bench, pieces, model, args.top, thresholds
                ).items():
                    experiment_rows.append(
                        {**row(name, model, metrics, None, None), "coverage": round(100 * ceiling, 1)}
                    )

    print()
    print_table(rows, ["method", "model", "mAP", "R1", "coverage", "index s", "ReID calls"])
    if experiment_rows:
        print()
        print_table(experiment_rows, ["method", "model", "mAP", "R1", "coverage"])
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "experiments": experiment_rows}, indent=1))


if __name__ == "__main__":
    main()
