"""Measure a ReID model's "same person" calibration on people no benchmark uses.

    PYTHONPATH=. python bench/calibrate.py [--models m1,m2|all] [--root ../shared/data/cuhk03] [--holdout 100]

Split: ``build_dataset("cuhk03", root, holdout=100)``, i.e. the LAST 100 identities of CUHK03 ``train/``
(query camera A, gallery camera B). Neither CUHK03 ``val/`` (the published numbers) nor the cross-camera
benchmark (built from ``val/`` people) is touched, so the numbers can be used on both without leaking.

For every (query, gallery) pair of different cameras, positives share the identity. Printed per model:

* ``threshold``: the cosine at FPR = 1e-2 (``reidkit.evaluate.evaluate_features``; a pair is accepted when
  strictly above it), i.e. 1 in 100 different-person pairs passes;
* ``link_threshold``: the cosine at FPR = 1e-3, used to join tracklets of one video into a visit
  without the query (``reidkit.index.visits.link``): a wrong link hides a person;
* ``logit_slope`` / ``logit_bias``: a logistic fit of P(same | cosine) with positives and negatives
  weighted equally (a 50/50 prior: the probability answers "which is more likely, same or different?",
  not "how many of the library's people are this one", which depends on the library's size).

The measurement is the package's (``reidkit.evaluate.calibrate``, also ``reidkit calibrate``, whose
``--write`` stores it in a model's sidecar); this script runs it over every registered model. The public
models' numbers live in their ``ModelSpec.calibration`` (their files are third-party and carry no sidecar);
``--json`` writes them too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
FPR = 1e-2


def calibrate(model: str, root: Path, holdout: int = 100, threads: int | None = 1) -> dict[str, float]:
    """The calibration numbers of one model on the held-out CUHK03 train identities."""
    from reidkit.evaluate.calibrate import measure_calibration

    return measure_calibration(model, "cuhk03", root, {"holdout": holdout}, threads=threads)


def reid_models() -> list[str]:
    from reidkit.zoo.registry import MODELS

    return [spec.name for spec in MODELS.values() if spec.task == "reid"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default="all", help="comma-separated ReID models or .onnx paths; all = registry"
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_SHARED / "data" / "cuhk03")
    parser.add_argument("--holdout", type=int, default=100, help="last N train identities to measure on")
    parser.add_argument("--json", type=Path, help="also write {model: numbers} here")
    args = parser.parse_args(argv)
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(DEFAULT_SHARED / "models"))
    models = reid_models() if args.models == "all" else [m for m in args.models.split(",") if m]
    results = {}
    for model in models:
        numbers = calibrate(model, args.root, args.holdout)
        results[model] = numbers
        print(f"{model}: {json.dumps(numbers)}")
        keys = ("threshold", "logit_slope", "logit_bias", "link_threshold")
        print(f"    calibration={{{', '.join(f'{k!r}: {numbers[k]}' for k in keys)}}},")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
