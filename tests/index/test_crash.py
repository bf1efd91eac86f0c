"""kill -9 of the indexer and of `reidkit remove` at random points, then resume: the short version of
bench/library_crash.py (same checks, fewer rounds)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from library_crash import crash_rounds


def test_kills_of_the_indexer_and_of_remove_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    _, kills = crash_rounds(tmp_path, rounds=1, files=8, seed=3, log=False, min_kills=2)
    assert kills >= 2  # the random moments fall inside the work (a few may come after it ended)
