"""The Python API exactly as README.md and reidkit/api.py document it, on real Market-1501 frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shared_path


def test_index_then_find_person_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = shared_path("data", "market-frames", "frames")
    photo = shared_path("data", "market-frames", "query", "0001_c1s1_001051_00.jpg")
    shared_path("models", "yolox_nano_416x416.onnx")
    monkeypatch.chdir(tmp_path)  # the documented relative "lib/" lands here

    import reidkit.api as rk
    from reidkit.search import MomentRule

    report = rk.index([frames, frames / "c1s1_001051.jpg"], "lib/")  # a folder and a file in it
    assert len(report.indexed) == 16 and not report.failed  # the file is not indexed twice
    assert rk.index(frames, "lib/").skipped  # same content: skipped on the second run

    result = rk.find_person(photo, "lib/")
    best = result.moments[0]
    # The query was cut from this very frame: it must come first, with a high cosine score.
    assert Path(best.media).name == "c1s1_001051.jpg" and best.score > 0.8
    assert best.kind == "image" and best.start == best.end == 0.0
    # Ranked with the found person's own look (query expansion); without it, by the photo's cosine.
    assert max(m.score for m in result.moments) == best.score
    plain = rk.find_person(photo, "lib/", rule=MomentRule(expand_query=0)).moments
    assert [m.score for m in plain] == sorted((m.score for m in plain), reverse=True)
    assert plain[0] == best
    # The verdict depends on the photo, not on the ranking: the best match clears the threshold and
    # the likely moments are the same either way (the best match's person, reidkit.search.one_person).
    assert result.found and best.score >= result.verdict.threshold
    assert {m.media for m in plain if m.likely} == {m.media for m in result.moments if m.likely}
    assert json.loads(result.to_json())["moments"][0]["media"] == best.media

    page = rk.write_report(result, "report/")
    assert Path(page).resolve() == (tmp_path / "report" / "index.html").resolve()
    assert "c1s1_001051.jpg" in Path(page).read_text()


def test_watch_a_camera_as_documented(tmp_path: Path) -> None:
    import reidkit.api as rk
    from tests.index.test_indexer import BlobDetector, ColourEmbedder, write_scene

    camera = write_scene(tmp_path / "door.mp4", n_frames=30, fps=10.0)  # a file plays as a camera
    report = rk.watch(
        str(camera), tmp_path / "lib", name="door", segment_seconds=2.0,
        detector=BlobDetector(), model=ColourEmbedder(), stride=1,
    )  # fmt: skip
    assert [Path(f.path).parent for f in report.indexed] == [tmp_path / "lib" / "cameras" / "door"] * 2
