"""No harm where adaptation is not needed: the verdicts on the two real shared videos, before and after.

    PYTHONPATH=. python bench/adapt/shared_videos.py [--model reidkit-retail-0287-cuhk03]

``bench/annotate/verdicts.py``'s library of the two shared videos (hand-labelled people) is copied, the
copy adapted with the default settings and both are scored the same way: precision, recall and absent
people of the verdicts. The library is small (two rooms, a dozen people), which is the point: adapting
must not make a library's answers worse when its model already fits it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for _p in (REPO, REPO / "bench", REPO / "bench" / "annotate"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from crosscam.run import print_table  # noqa: E402
from crosscam.verdicts import summarise  # noqa: E402

HERE = REPO / "bench" / "annotate"


def main(argv: Sequence[str] | None = None) -> None:
    import verdicts as annotate  # bench/annotate/verdicts.py

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="reidkit-retail-0287-cuhk03")
    parser.add_argument("--shared", type=Path, default=annotate.DEFAULT_SHARED)
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument(
        "--force", action="store_true", help="adapt even below AdaptConfig's minimum of tracklets and pairs"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(args.shared / "models"))
    os.environ["REIDKIT_ADAPTED_DIR"] = str(HERE / "out" / "adapted")
    from reidkit.adapt import AdaptConfig, adapt_library

    outcomes, library = annotate.run(args.model, args.shared, args.top, None)
    n = len(library)  # type: ignore[arg-type]
    library.close()  # type: ignore[attr-defined]
    rows = [
        {
            "library": f"{args.model} (before)",
            "tracklets": n,
            **summarise(outcomes, ("other video", "other people")),
        }
    ]
    work = HERE / "out" / "adapt_work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(HERE / "out" / f"library_{args.model}", work)
    from reidkit.core.errors import LibraryError

    config = replace(AdaptConfig(), min_tracklets=0, min_impostor_pairs=0) if args.force else AdaptConfig()
    try:
        report = adapt_library(work, config=config, apply="all")  # scored as its own model's library
    except LibraryError as exc:
        print(f"adapt refused: {exc}")
        print_table(rows, list(rows[0]))
        return
    target = HERE / "out" / f"library_{report.model_name}"
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    outcomes, library = annotate.run(report.model_name, args.shared, args.top, None)
    rows.append(
        {
            "library": f"adapted ({report.model_name})",
            "tracklets": n,
            **summarise(outcomes, ("other video", "other people")),
        }
    )
    print(f"adapt: {report.seconds['total']:.0f} s, {report.stopped}; calibration {report.calibration}")
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
