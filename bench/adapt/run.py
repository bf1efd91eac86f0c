"""Before/after ``reidkit adapt`` on cross-camera footage: moment mAP, R1 and the verdicts' precision.

    PYTHONPATH=. python bench/adapt/run.py --people dev --model runs/r0287_dev6.onnx
    PYTHONPATH=. python bench/adapt/run.py --people dev --model runs/r0287_dev6.onnx --light dim

The library is the one bench/crosscam builds (``<out>/cache/library_<model>``, indexed when missing);
it is copied, the copy is adapted (``reidkit.adapt.adapt_library``, adapted models go to
``<out>/cache/adapted``; by default the library judges its verdicts with the adapted model and ranks
as before, or with the cameras' light removed when adapt found some: then a copy without the verdict
head shows what removing it alone does), a second copy is re-embedded with the same model
(``--apply all``), and all of them are
searched with every query of the footage, as
``bench/crosscam/run.py`` and ``bench/crosscam/verdicts.py`` search them. ``--light`` composes the same
people and walks under another lighting (a second dev set). ``--set key=value`` overrides an
``AdaptConfig`` field (settings are chosen on dev footage only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.compose import add_footage_arguments, compose, footage_config  # noqa: E402
from crosscam.metrics import Moment, evaluate_moments  # noqa: E402
from crosscam.run import load_bench, print_table, register_file  # noqa: E402
from crosscam.verdicts import ABSENT_PEOPLE, Judging, absent_photos, ensure_library, run_queries, summarise  # noqa: E402


def search_metrics(
    bench: Any, truth: dict, library: Any, absent: dict, top: int, judging: Judging = Judging()
) -> dict[str, Any]:
    """Moment mAP / R1 (bench/crosscam/run.py) and verdict precision / recall / absent (verdicts.py)."""
    outcomes, results = run_queries(bench.root, truth, library, absent, top, judging)
    moments = {
        pid: [
            Moment(Path(m.media).name, int(m.start_frame), int(m.end_frame), float(m.score))
            for m in r.moments
        ]
        for pid, r in results.items()
        if pid in bench.truth
    }
    return {**evaluate_moments(moments, bench.truth).as_row(), **summarise(outcomes)}


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every adapt bench takes: the library model, the footage, how many moments."""
    parser.add_argument(
        "--model", default="runs/r0287_dev6.onnx", help="library model: registry name or .onnx"
    )
    parser.add_argument("--calibrated-like", default="reidkit-retail-0287-cuhk03")
    add_footage_arguments(parser)
    parser.add_argument("--top", type=int, default=50)


def prepare(args: argparse.Namespace) -> tuple[Path, dict[str, Any], Any, Path, str, dict[str, Path]]:
    """The dev footage (composed when missing), its ground truth and bench, the cache folder (adapted
    models are registered under it), the registered base model and the absent people's photos."""
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(args.shared / "models"))
    truth_path = compose(footage_config(args), args.out, args.shared)
    truth = json.loads(truth_path.read_text())
    cache = args.out / "cache"
    os.environ["REIDKIT_ADAPTED_DIR"] = str(cache / "adapted")
    model = register_file(args.model, args.calibrated_like)
    absent = absent_photos(args.people, args.shared, ABSENT_PEOPLE, args.seed)
    return truth_path, truth, load_bench(truth_path), cache, model, absent


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_bench_arguments(parser)
    parser.add_argument(
        "--set", action="append", default=[], help="AdaptConfig override, e.g. epochs=6 or head.lr=1e-3"
    )
    parser.add_argument("--tag", default="", help="name of this variant's library copy")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    truth_path, truth, bench, cache, model, absent = prepare(args)

    from reidkit.adapt import AdaptConfig, adapt_library
    from reidkit.core.config import load_config
    from reidkit.index.library import Library

    base = ensure_library(truth_path.parent, truth, model, cache)
    rows = [
        {
            "library": f"{model} (before)",
            "tracklets": len(base),
            **search_metrics(bench, truth, base, absent, args.top),
        }
    ]
    base.close()
    config = load_config(AdaptConfig, None, args.set)
    copy = cache / f"adapt_{model}{'_' + args.tag if args.tag else ''}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(cache / f"library_{model}", copy)
    started = time.perf_counter()
    report = adapt_library(copy, config=config, progress=lambda m: print(m, file=sys.stderr))
    wall = time.perf_counter() - started
    adapted = Library.open(copy)
    rows.append(
        {
            "library": f"adapted, verdicts ({report.model_name}; the default)",
            "tracklets": len(adapted),
            **search_metrics(bench, truth, adapted, absent, args.top),
        }
    )
    adapted.close()
    if report.debiased_name:
        # What removing the cameras' light alone does: the same copy without the verdict head.
        debiased = copy.with_name(copy.name + "_debiased")
        shutil.rmtree(debiased, ignore_errors=True)
        shutil.copytree(copy, debiased)
        with Library.open_for_writing(debiased) as lib:
            lib.set_verdict_head(None)
        lib = Library.open(debiased)
        rows.insert(
            1,
            {
                "library": f"the cameras' light removed ({report.debiased_name})",
                "tracklets": len(lib),
                **search_metrics(bench, truth, lib, absent, args.top),
            },
        )
        lib.close()
    # The same adapted model applied to ranking too (``--apply all``): a copy re-embedded as adapt does.
    everything = copy.with_name(copy.name + "_all")
    shutil.rmtree(everything, ignore_errors=True)
    shutil.copytree(copy, everything)
    with Library.open_for_writing(everything) as lib:
        head = lib.verdict_head
        assert head is not None and head.model == report.model_name
        crops = {t.id: head.map(lib.crop_vectors(t.id)) for t in lib.tracklets()}
        lib.replace_vectors(report.model_name, report.model_path, crops)
    adapted = Library.open(everything)
    rows.append(
        {
            "library": "adapted, re-embedded (--apply all)",
            "tracklets": len(adapted),
            **search_metrics(bench, truth, adapted, absent, args.top),
        }
    )
    print(
        f"adapt: {wall:.0f} s {json.dumps({k: round(v, 1) for k, v in report.seconds.items()})}; {report.stopped}"
    )
    for r in report.rounds:
        print(
            f"  round {r.round}: {r.people} people, {r.cross_camera_people} in several videos, agreement {r.agreement}, losses {[round(x, 3) for x in r.losses]}"
        )
    print(f"  calibration {report.calibration}")
    print(f"  the cameras' light: {report.camera_bias['summary']}")
    print()
    print_table(rows, list(rows[0]))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "report": report.to_dict()}, indent=1, default=str))


if __name__ == "__main__":
    main()
