"""Try AdaptConfig variants on dev footage, with the training views embedded once and cached.

    PYTHONPATH=. python bench/adapt/tune.py --people dev --model runs/r0287_dev6.onnx \
        --variant "" --variant "head.lr=3e-4" --variant "head.hidden=256,epochs=6"

Each variant adapts a fresh copy of the library and reports moment mAP / R1 (and, with --verdicts,
the verdicts' precision and recall). Dev footage only: this is where settings are chosen.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.run import print_table  # noqa: E402
from crosscam.verdicts import ensure_library  # noqa: E402

from adapt.run import add_bench_arguments, prepare, search_metrics  # noqa: E402


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_bench_arguments(parser)
    parser.add_argument("--variant", action="append", default=[], help="comma-separated field=value")
    parser.add_argument("--no-base", action="store_true", help="skip the unadapted row")
    args = parser.parse_args(argv)
    truth_path, truth, bench, cache, model, absent = prepare(args)

    from reidkit.adapt import AdaptConfig, adapt_library
    from reidkit.adapt.adapt import training_views
    from reidkit.adapt.labels import LibraryView
    from reidkit.core.config import load_config
    from reidkit.embed.factory import build_embedder
    from reidkit.index.library import Library

    base = ensure_library(truth_path.parent, truth, model, cache)
    rows = []
    if not args.no_base:
        rows.append({"variant": "before", **search_metrics(bench, truth, base, absent, args.top)})
    views_by_key: dict[tuple[int, bool], tuple] = {}
    for variant in args.variant or [""]:
        config = load_config(AdaptConfig, None, [p for p in variant.split(",") if p])
        key = (config.crops_per_tracklet, config.flip, config.augment)
        if key not in views_by_key:
            path = cache / f"adapt_views_{model}_{key[0]}_{int(key[1])}_{key[2]}.npz"
            if path.is_file():
                data = np.load(path)
                views_by_key[key] = (data["x"], data["owner"], [])
            else:
                view = LibraryView.of(base)
                stored = {r.id: base.crop_vectors(r.id) for r in view.tracklets}
                x, owner, _ = training_views(base, view, stored, build_embedder(args.model), config)
                np.savez(path, x=x, owner=owner)
                views_by_key[key] = (x, owner, [])
        copy = cache / f"tune_{model}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(cache / f"library_{model}", copy)
        started = time.perf_counter()
        # Re-embedded, as the variants in docs/adapt.md were compared (mAP moves only then).
        report = adapt_library(copy, config=config, views=views_by_key[key], apply="all")
        wall = time.perf_counter() - started
        adapted = Library.open(copy)
        rows.append(
            {
                "variant": variant or "default",
                **search_metrics(bench, truth, adapted, absent, args.top),
                "rounds": len(report.rounds) - 1,
                "people": report.rounds[-1].people,
                "s": f"{wall:.0f}",
            }
        )
        adapted.close()
        print_table(rows, list(rows[-1]))
        print(flush=True)


if __name__ == "__main__":
    main()
