"""find_person, the `reidkit search` command and the HTML report, over an in-memory library."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.cli import main
from reidkit.core.errors import LibraryError
from reidkit.search import engine, find_person, query, write_report
from tests.search.fakes import FakeDetector, FakeEmbedder, FakeLibrary, identity, mix


@pytest.fixture
def library(tmp_path: Path) -> FakeLibrary:
    lib = FakeLibrary(tmp_path / "lib")
    a = identity(1)
    video = lib.add_video("/videos/hall.mp4", duration=90.0)
    lib.add_tracklet(video, 3.0, 12.5, a)
    lib.add_tracklet(video, 30.0, 41.0, mix(a, identity(2), 0.2))
    lib.add_tracklet(video, 70.0, 75.0, a)
    photo = lib.add_image("/photos/party.jpg")
    lib.add_tracklet(photo, 0.0, 0.0, mix(a, identity(4), 0.8))
    return lib


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "me.jpg"
    cv2.imwrite(str(path), np.full((128, 64, 3), 120, np.uint8))
    return path


def route_cli_to(monkeypatch: pytest.MonkeyPatch, library: FakeLibrary, embedder: FakeEmbedder) -> None:
    """Route the CLI's library path, embedder and detector to fakes, so no real model is loaded."""
    monkeypatch.setattr(engine, "open_library", lambda _lib: library)
    monkeypatch.setattr(engine, "build_embedder", lambda _model: embedder)
    monkeypatch.setattr(query, "_default_detector", lambda: FakeDetector([]))


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, library: FakeLibrary) -> FakeEmbedder:
    embedder = FakeEmbedder(identity(1))
    route_cli_to(monkeypatch, library, embedder)
    return embedder


def test_find_person_with_a_library_object(library: FakeLibrary, photo: Path) -> None:
    embedder = FakeEmbedder(identity(1))
    result = find_person(photo, library, top=5, detector=FakeDetector([]), embedder=embedder)
    assert embedder.seen[0].shape == (128, 64, 3)
    assert [(m.start, m.end) for m in result.moments[:2]] == [(3.0, 12.5), (70.0, 75.0)] or [
        (m.start, m.end) for m in result.moments[:2]
    ] == [(70.0, 75.0), (3.0, 12.5)]
    assert result.moments[2].kind == "image"
    assert result.model == "fake-reid" and result.query == str(photo.resolve())


def test_model_mismatch_is_refused(library: FakeLibrary, photo: Path) -> None:
    with pytest.raises(LibraryError, match="built with 'fake-reid'"):
        find_person(photo, library, embedder=FakeEmbedder(identity(1), name="other"), detector=FakeDetector())


def test_a_model_file_with_other_content_than_the_indexed_one_is_refused(
    library: FakeLibrary, photo: Path, tmp_path: Path
) -> None:
    """Same model name, other file: the vectors would not be comparable, so search refuses."""
    from reidkit.core.files import sha256_file

    indexed, other = tmp_path / "a" / "mine.onnx", tmp_path / "b" / "mine.onnx"
    for path, content in ((indexed, b"weights A"), (other, b"weights B")):
        path.parent.mkdir()
        path.write_bytes(content)
    library.model_file, library.model_sha256 = str(indexed), sha256_file(indexed)
    same = FakeEmbedder(identity(1), path=indexed)
    assert find_person(photo, library, embedder=same, detector=FakeDetector()).moments
    with pytest.raises(LibraryError) as err:
        find_person(photo, library, embedder=FakeEmbedder(identity(1), path=other), detector=FakeDetector())
    message = str(err.value)
    assert str(indexed) in message and str(other) in message and "--model" in message
    assert "\n" not in message


def test_empty_library_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(LibraryError) as err:
        engine.open_library(FakeLibrary(tmp_path / "empty"))
    assert "reidkit index" in str(err.value) and "\n" not in str(err.value)


def test_cli_json_prints_only_json(fakes, photo: Path, tmp_path: Path, capsys) -> None:
    assert main(["search", str(photo), "--library", str(tmp_path / "lib"), "--json", "--top", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["moments"]) == 3 and data["moments"][0]["score"] > 0.9


def test_cli_table_and_report(fakes, photo: Path, tmp_path: Path, capsys) -> None:
    lib = tmp_path / "lib"
    assert main(["search", str(photo), "--library", str(lib), "--min-score", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "hall.mp4" in out and "00:03.0 – 00:12.5" in out and "party.jpg" in out
    assert "00:30.0" not in out  # the other person scores below --min-score
    report = lib / "reports" / "me" / "index.html"
    assert f"report: {report}" in out
    assert report.is_file() and (report.parent / "query.jpg").is_file()


def test_cli_bad_box_and_empty_library(fakes, photo: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    assert main(["search", str(photo), "--library", str(tmp_path / "lib"), "--box", "1,2"]) == 2
    assert "--box x1,y1,x2,y2" in capsys.readouterr().err
    monkeypatch.setattr(engine, "open_library", _empty)
    assert main(["search", str(photo), "--library", str(tmp_path / "lib")]) == 2
    assert "error: " in capsys.readouterr().err


def _empty(_lib: object) -> None:
    raise LibraryError("the library has no people indexed yet", path="lib", hint="run `reidkit index` first")


def test_report_shows_every_moment(library: FakeLibrary, tmp_path: Path) -> None:
    from reidkit.search import SearchResult, find_moments

    moments, verdict, _ = find_moments(library, identity(1), top=10)
    crop = np.zeros((128, 64, 3), np.uint8)
    result = SearchResult("/q/me.jpg", library.model, moments, verdict, query_crop=crop)
    page = write_report(result, tmp_path / "report")
    text = page.read_text()
    assert page.name == "index.html"
    for rank, m in enumerate(moments, 1):
        assert f'id="m{rank}"' in text and f"{m.score:.3f}" in text
        assert (tmp_path / "report" / "thumbs" / f"{rank:03d}.jpg").is_file()
    assert "00:03.0 – 00:12.5" in text and "01:10.0 – 01:15.0" in text
    assert text.count('class="track"') == 1  # one timeline: the video; the photo has none
    assert "http" not in text.replace("http-equiv", "")  # no external assets


def test_cli_says_not_found_below_the_threshold_but_shows_candidates(
    fakes, photo: Path, tmp_path: Path, capsys
) -> None:
    from tests.search.fakes import identity as person

    fakes.vector = person(7)  # a query nobody in the library resembles
    assert main(["search", str(photo), "--library", str(tmp_path / "lib")]) == 0
    out = capsys.readouterr().out
    # A handful of tracklets is too few to learn the footage's scores: the model's calibration decides.
    assert out.startswith("not found: no moment reaches the threshold 0.600: the model's calibration only")
    assert "hall.mp4" in out and "below threshold" in out and "likely the same person" not in out


def test_cli_marks_likely_matches(fakes, photo: Path, tmp_path: Path, capsys) -> None:
    assert main(["search", str(photo), "--library", str(tmp_path / "lib")]) == 0
    out = capsys.readouterr().out
    assert "not found" not in out
    assert out.startswith("found: 3 moments likely the same person")  # two visits and the photo
    first = out.splitlines()[2]
    assert "00:03.0" in first or "01:10.0" in first
    assert first.endswith("likely the same person")


def test_cli_json_and_report_say_when_top_cut_likely_moments_off(
    fakes, photo: Path, tmp_path: Path, capsys
) -> None:
    lib = tmp_path / "lib"
    assert (
        main(["search", str(photo), "--library", str(lib), "--top", "2", "--report", str(tmp_path / "r")])
        == 0
    )
    out = capsys.readouterr().out
    # Three moments are likely (see test_cli_marks_likely_matches): two shown, and the answer says more.
    assert out.startswith("found: 2+ moments likely the same person")
    assert "more moments beyond these 2 are likely the same person: --top 4 shows more" in out
    assert "Found: 2+ moments" in (tmp_path / "r" / "index.html").read_text()
    assert main(["search", str(photo), "--library", str(lib), "--top", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["more_likely"] is True
    assert main(["search", str(photo), "--library", str(lib), "--top", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["more_likely"] is False and sum(m["likely"] for m in doc["moments"]) == 3


def test_cli_says_when_expansion_ranks_a_lower_score_first(
    monkeypatch: pytest.MonkeyPatch, photo: Path, tmp_path: Path, capsys
) -> None:
    from tests.search.fakes import unit

    person, camera, shot, other = identity(1), identity(2), identity(3), identity(4)
    lib = FakeLibrary(tmp_path / "lib")
    lib.add_tracklet(lib.add_video("/cam1.mp4"), 0.0, 5.0, person + 0.6 * camera, noise=0.01)
    lib.add_tracklet(lib.add_video("/cam2.mp4"), 0.0, 5.0, 0.7 * person + camera, noise=0.01)
    lib.add_tracklet(lib.add_video("/cam3.mp4"), 0.0, 5.0, 0.5 * shot + 0.5 * person + other, noise=0.01)
    route_cli_to(monkeypatch, lib, FakeEmbedder(unit(person + shot)))
    args = ["search", str(photo), "--library", "lib", "--top", "3", "--report", str(tmp_path / "report")]
    assert main(args) == 0
    expanded = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in expanded[2:5]] == ["cam1.mp4", "cam2.mp4", "cam3.mp4"]
    assert expanded[5].startswith("  ranked by the photo together with its best match")
    assert main([*args, "--no-expand"]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in plain[2:5]] == ["cam1.mp4", "cam3.mp4", "cam2.mp4"]
    assert not any("query expansion" in line for line in plain)


@pytest.fixture
def utc_plus_2(monkeypatch: pytest.MonkeyPatch):
    """This computer's clock two hours ahead of UTC (POSIX TZ: no zone database needed)."""
    import time

    monkeypatch.setenv("TZ", "UTC-02")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_table_and_report_say_when_a_moment_was_recorded_in_local_time(
    monkeypatch: pytest.MonkeyPatch, photo: Path, tmp_path: Path, capsys, utc_plus_2
) -> None:
    lib = FakeLibrary(tmp_path / "lib")
    camera = lib.add_video("/cam/door.mp4", duration=90.0, recorded_at=1_700_000_000.0)  # 22:13:20 UTC
    lib.add_tracklet(camera, 12.5, 20.0, identity(1))
    lib.add_tracklet(lib.add_video("/phone/clip.mp4"), 3.0, 8.0, mix(identity(1), identity(2), 0.95))
    route_cli_to(monkeypatch, lib, FakeEmbedder(identity(1)))
    assert main(["search", str(photo), "--library", str(tmp_path / "lib")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "recorded (local time)" in lines[1]
    door = next(line for line in lines if "door.mp4" in line)
    clip = next(line for line in lines if "clip.mp4" in line)
    assert "2023-11-15 00:13:32" in door  # 22:13:20 UTC + 12.5 s, shown at UTC+2
    assert "  -  " in clip  # the phone's file does not say when it was recorded
    page = (tmp_path / "lib" / "reports" / "me" / "index.html").read_text()
    assert '<time datetime="2023-11-14T22:13:32.500Z">2023-11-15 00:13:32</time>' in page


def test_the_report_puts_two_cameras_on_one_clock(tmp_path: Path, utc_plus_2) -> None:
    """One row per camera folder on a shared clock (local time), each moment at its recorded time;
    the per-video rows follow, and a file that does not say when it was recorded is only there."""
    import re

    from reidkit.search import SearchResult, find_moments

    lib = FakeLibrary(tmp_path / "lib")
    door = lib.add_video("/cams/door/d1.mp4", duration=60.0, recorded_at=1_700_000_000.0)  # 00:13:20 local
    hall = lib.add_video("/cams/hall/h1.mp4", duration=60.0, recorded_at=1_700_000_300.0)  # 00:18:20
    lib.add_tracklet(door, 10.0, 20.0, identity(1))
    lib.add_tracklet(hall, 40.0, 50.0, mix(identity(1), identity(2), 0.95))
    lib.add_tracklet(lib.add_video("/phone/clip.mp4"), 3.0, 8.0, mix(identity(1), identity(3), 0.9))
    moments, verdict, _ = find_moments(lib, identity(1), top=10)
    text = write_report(
        SearchResult("/q/me.jpg", lib.model, moments, verdict), tmp_path / "report"
    ).read_text()
    clock = text[text.index('<h3 id="clock">') : text.index("<h3>By video</h3>")]
    rows = re.findall(r'<b title="([^"]+)">([^<]+)</b>.*?left:([\d.]+)%;width:([\d.]+)%', clock)
    assert [(title, label) for title, label, _, _ in rows] == [("/cams/door", "door"), ("/cams/hall", "hall")]
    (_, _, door_left, door_width), (_, _, hall_left, hall_width) = rows
    # 00:13:30 to 00:18:50: 340 s, with 2 % of that as room on each side.
    span = 340 * 1.04
    assert float(door_left) == pytest.approx(100 * 6.8 / span, abs=0.01)
    assert float(hall_left) == pytest.approx(100 * (330 + 6.8) / span, abs=0.01)
    assert float(door_width) == float(hall_width) == pytest.approx(100 * 10 / span, abs=0.01)
    assert re.findall(r"<span style='left:\d+%'>([^<]+)</span>", clock)[0] == "00:13:23"  # local, not UTC
    after = text[text.index("<h3>By video</h3>") :]
    assert after.count('class="track"') == 3 and "clip.mp4" not in clock


def test_the_cli_says_when_an_adapted_model_judged_the_scores(
    monkeypatch: pytest.MonkeyPatch, photo: Path, tmp_path: Path, capsys
) -> None:
    from tests.search.test_verdict_space import PERSON, footage, head_that_stresses

    lib, difference = footage(tmp_path / "lib")
    lib.verdict_head = head_that_stresses(difference)
    route_cli_to(monkeypatch, lib, FakeEmbedder(identity(PERSON)))
    assert main(["search", str(photo), "--library", str(tmp_path / "lib"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"]["scored_by"] == "fake-reid-adapted"
    assert main(["search", str(photo), "--library", str(tmp_path / "lib")]) == 0
    out = capsys.readouterr().out
    assert "scores by fake-reid-adapted, adapted to this library" in out.splitlines()[0]
    assert "score, p(same) and verdict by fake-reid-adapted" in out  # the look-alike now scores lower


def test_a_report_folder_named_with_bytes_that_are_not_utf8_is_written_without_opencv(
    library: FakeLibrary,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # cv2.imwrite on a path with surrogate escapes kills the process (SIGSEGV): it must not be used.
    monkeypatch.setattr(cv2, "imwrite", _no_opencv_paths)
    from reidkit.search import SearchResult, find_moments

    moments, verdict, _ = find_moments(library, identity(1), top=3)
    crop = np.full((128, 64, 3), 90, np.uint8)
    query = str(tmp_path / "q_\udcff.jpg")  # how Python names a file called b"q_\xff.jpg"
    result = SearchResult(query, library.model, moments, verdict, query_crop=crop)
    page = write_report(result, tmp_path / "q_\udcff")
    assert "q_\ufffd" in page.read_text(encoding="utf-8")
    query_jpg = cv2.imdecode(np.frombuffer((page.parent / "query.jpg").read_bytes(), np.uint8), 1)
    assert query_jpg.shape == crop.shape


def _no_opencv_paths(*_args: object) -> bool:
    raise AssertionError("cv2.imwrite was given a path")


def _reports_is_a_file(lib: Path, _tmp: Path, _mp: pytest.MonkeyPatch) -> list[str]:
    (lib / "reports").write_text("x")
    return []


def _report_under_a_missing_file(_lib: Path, tmp: Path, _mp: pytest.MonkeyPatch) -> list[str]:
    (tmp / "plain").write_text("x")
    return ["--report", str(tmp / "plain" / "out")]


def _reports_not_writable(lib: Path, _tmp: Path, mp: pytest.MonkeyPatch) -> list[str]:
    """Another user's read-only library: creating LIBRARY/reports is refused."""
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if lib / "reports" in (self, *self.parents):
            raise PermissionError(13, "Permission denied", str(lib / "reports"))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    mp.setattr(Path, "mkdir", mkdir)
    return []


@pytest.mark.parametrize(
    "setup",
    [_reports_is_a_file, _report_under_a_missing_file, _reports_not_writable],
    ids=lambda f: f.__name__,
)
def test_a_report_that_cannot_be_written_is_one_line_and_the_answer_still_stands(
    fakes,
    photo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup,
) -> None:
    lib = tmp_path / "lib"
    extra = setup(lib, tmp_path, monkeypatch)
    assert main(["search", str(photo), "--library", str(lib), *extra]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("found: ") and "hall.mp4" in out and "report:" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "report could not be written" in lines[0] and "--report DIR" in lines[0]


@pytest.mark.parametrize("value", ["nan", "2", "-3", "inf"])
def test_min_score_outside_minus_one_to_one_is_refused(
    fakes,
    photo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    args = ["search", str(photo), "--library", str(tmp_path / "lib"), f"--min-score={value}"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert not out and len(err.strip().splitlines()) == 1
    assert err.startswith("error: --min-score") and "-1 to 1" in err
