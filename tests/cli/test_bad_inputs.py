"""Bad inputs through the real CLI: each gives ONE line on stderr naming the file and the fix, exit 2.

Odd but valid images (grayscale, RGBA, 16-bit) must work, as queries and as indexed media, and a
folder with one unreadable file still indexes the rest. Cases that index run the real models from
../shared (skipped when absent); the rest need no model.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from reidkit.cli import main
from reidkit.zoo.registry import DEFAULT_REID_MODEL
from tests.conftest import shared_path
from tests.synthetic import decompression_bomb_png

VIDEO = ("data", "videos", "one-by-one-person-detection.mp4")
PERSON = ("data", "market-frames", "query", "0001_c6s1_009601_00.jpg")


def run(capfd: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capfd.readouterr()  # file-descriptor level: FFmpeg/OpenCV noise would show here
    return code, out, err


def one_line_error(err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in err
    assert " — " in line, f"no fix given: {line}"  # ReidkitError joins message and hint with " — "
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


@pytest.fixture(scope="module")
def models() -> None:
    shared_path("models", "yolox_nano_416x416.onnx")
    shared_path("models", "person-reidentification-retail-0287.onnx")


@pytest.fixture(scope="module")
def person() -> np.ndarray:
    image = cv2.imread(str(shared_path(*PERSON)))
    assert image is not None
    return image


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory: pytest.TempPathFactory, person: np.ndarray) -> dict[str, Path]:
    """The same person as 8-bit grey, RGBA with an alpha channel, and 16-bit colour PNGs."""
    folder = tmp_path_factory.mktemp("odd")
    images = {
        "grey": cv2.cvtColor(person, cv2.COLOR_BGR2GRAY),
        "rgba": cv2.cvtColor(person, cv2.COLOR_BGR2BGRA),
        "deep": person.astype(np.uint16) * 257,
    }
    paths = {}
    for name, image in images.items():
        paths[name] = folder / f"{name}.png"
        assert cv2.imwrite(str(paths[name]), image)
    assert cv2.imread(str(paths["deep"]), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    return paths


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, odd_images: dict[str, Path], models: None) -> Path:
    """A library indexed from the odd images only (one CLI call, shared by the tests below)."""
    lib = tmp_path_factory.mktemp("lib") / "lib"
    assert main(["index", str(odd_images["grey"].parent), "--library", str(lib), "--quiet"]) == 0
    return lib


# ------------------------------------------------------------------------------------------- media
def test_empty_file(tmp_path: Path, capfd, models) -> None:
    video = tmp_path / "empty.mp4"
    video.touch()
    code, _, err = run(capfd, "index", video, "--library", tmp_path / "lib", "--quiet")
    assert code == 2
    one_line_error(err, str(video), "0 bytes", "re-copy")


def test_text_file_named_mp4(tmp_path: Path, capfd, models) -> None:
    video = tmp_path / "notes.mp4"
    video.write_text("shopping list: milk, eggs\n")
    code, _, err = run(capfd, "index", video, "--library", tmp_path / "lib", "--quiet")
    assert code == 2
    one_line_error(err, str(video), "cannot read video", "ffmpeg")


def test_truncated_mp4(tmp_path: Path, capfd, models) -> None:
    video = tmp_path / "cut.mp4"
    video.write_bytes(shared_path(*VIDEO).read_bytes()[:150_000])  # header first: decodes, then ends
    code, _, err = run(capfd, "index", video, "--library", tmp_path / "lib", "--quiet")
    assert code == 2
    one_line_error(err, str(video), "truncated", "of 1394 frames", "re-copy")


def test_folder_with_one_corrupt_file_indexes_the_rest(
    tmp_path: Path, capfd, odd_images: dict[str, Path], models
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(odd_images["rgba"], folder / "a-person.png")
    (folder / "b-broken.mp4").write_bytes(b"\x00" * 1000)
    code, out, err = run(capfd, "index", folder, "--library", tmp_path / "lib")
    assert code == 1  # partly done: the readable file is in the library
    assert "1 indexed" in out and "1 unreadable" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("skipped: ") and str(folder / "b-broken.mp4") in line


@pytest.mark.parametrize("kind", ["grey", "rgba", "deep"])
def test_odd_images_work_as_queries_and_as_media(
    kind: str, tmp_path: Path, capfd, odd_images: dict[str, Path], library: Path
) -> None:
    code, out, err = run(capfd, "search", odd_images[kind], "--library", library, "--json")
    assert code == 0, err
    moments = json.loads(out)["moments"]
    assert {Path(m["media"]).name for m in moments} == {"grey.png", "rgba.png", "deep.png"}
    assert moments[0]["score"] > 0.6  # the same person in every file


def test_query_without_a_person(tmp_path: Path, capfd, library: Path) -> None:
    photo = tmp_path / "wall.jpg"
    cv2.imwrite(str(photo), np.full((480, 640, 3), 200, np.uint8))
    code, _, err = run(capfd, "search", photo, "--library", library)
    assert code == 2
    one_line_error(err, str(photo), "no person found", "--box")


# ----------------------------------------------------------------------------------------- library
def test_folder_that_is_not_a_library(tmp_path: Path, capfd, person: np.ndarray) -> None:
    photo = tmp_path / "me.jpg"
    cv2.imwrite(str(photo), person)
    code, _, err = run(capfd, "search", photo, "--library", tmp_path)
    assert code == 2
    one_line_error(err, str(tmp_path), "not a library", "reidkit index")


def test_empty_library(tmp_path: Path, capfd, person: np.ndarray, models) -> None:
    nobody = tmp_path / "wall.jpg"
    cv2.imwrite(str(nobody), np.full((480, 640, 3), 200, np.uint8))
    lib = tmp_path / "lib"
    assert main(["index", str(nobody), "--library", str(lib), "--quiet"]) == 0  # indexed, nobody in it
    capfd.readouterr()
    photo = tmp_path / "me.jpg"
    cv2.imwrite(str(photo), person)
    code, _, err = run(capfd, "search", photo, "--library", lib)
    assert code == 2
    one_line_error(err, str(lib), "no people indexed", "reidkit index")


def test_library_built_with_another_model(capfd, odd_images: dict[str, Path], library: Path) -> None:
    shared_path("models", "osnet_x0_25_msmt17.onnx")
    code, _, err = run(
        capfd, "index", odd_images["grey"], "--library", library, "--model", "osnet_x0_25_msmt17"
    )
    assert code == 2
    one_line_error(err, str(library), DEFAULT_REID_MODEL, "--model")


# ------------------------------------------------------------------------------------------ models
def test_text_file_as_model(tmp_path: Path, capfd, person: np.ndarray) -> None:
    model = tmp_path / "reid.onnx"
    model.write_text("not a network\n")
    photo = tmp_path / "me.jpg"
    cv2.imwrite(str(photo), person)
    code, _, err = run(capfd, "index", photo, "--library", tmp_path / "lib", "--model", model)
    assert code == 2
    one_line_error(err, str(model), "not a valid ONNX model", "reidkit models")


def test_detector_passed_as_model(tmp_path: Path, capfd, person: np.ndarray) -> None:
    detector = shared_path("models", "yolox_nano_416x416.onnx")
    photo = tmp_path / "me.jpg"
    cv2.imwrite(str(photo), person)
    code, _, err = run(capfd, "index", photo, "--library", tmp_path / "lib", "--model", detector)
    assert code == 2
    one_line_error(err, str(detector), "not a ReID model", "--detector")


# ------------------------------------------------------------------------------------------ eval
def test_eval_with_a_missing_dataset_root(tmp_path: Path, capfd) -> None:
    root = tmp_path / "cuhk03"
    code, _, err = run(capfd, "eval", "--dataset", "cuhk03", "--root", root)
    assert code == 2
    one_line_error(err, str(root), "dataset root not found", "--root")


def test_library_built_with_an_unregistered_model_file(
    tmp_path: Path, capfd, odd_images: dict[str, Path], models
) -> None:
    model = tmp_path / "mine.onnx"
    shutil.copy(shared_path("models", "osnet_x0_25_msmt17.onnx"), model)
    lib = tmp_path / "lib"
    assert main(["index", str(odd_images["grey"]), "--library", str(lib), "--model", str(model), "-q"]) == 0
    capfd.readouterr()
    code, _, err = run(capfd, "search", odd_images["grey"], "--library", lib)
    assert code == 2  # the library knows the model only as "mine"
    one_line_error(err, str(lib), "'mine'", "--model")
    code, out, err = run(capfd, "search", odd_images["grey"], "--library", lib, "--model", model, "--json")
    assert code == 0, err
    assert '"model": "mine"' in out


# -------------------------------------------------------------------------------------- bad input run
def test_decompression_bomb_in_index_and_search(tmp_path: Path, capfd, person: np.ndarray, library) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(decompression_bomb_png(40000, 40000))
    code, _, err = run(capfd, "search", bomb, "--library", library)
    assert code == 2
    one_line_error(err, str(bomb), "40000x40000 pixels", "downscale")
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(bomb, folder / "bomb.png")
    cv2.imwrite(str(folder / "me.jpg"), person)
    code, out, err = run(capfd, "index", folder, "--library", tmp_path / "lib")
    assert code == 1 and "1 indexed" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("skipped: ") and "40000x40000 pixels" in line


def test_unreadable_file_symlink_loop_and_unlistable_folder_skip_only_themselves(
    tmp_path: Path, capfd, person: np.ndarray, monkeypatch: pytest.MonkeyPatch, models
) -> None:
    folder = tmp_path / "photos"
    (folder / "locked").mkdir(parents=True)
    (folder / "sub").mkdir()
    cv2.imwrite(str(folder / "a.jpg"), person)
    cv2.imwrite(str(folder / "sub" / "b.jpg"), person[:, ::-1])
    cv2.imwrite(str(folder / "c-unreadable.jpg"), person)
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)
    real_scandir, real_open = os.scandir, Path.open

    # What chmod 000 does, also for root (who ignores permissions).
    def scandir(path: Any) -> Any:
        if Path(path).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    def open_(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "c-unreadable.jpg":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(Path, "open", open_)
    code, out, err = run(capfd, "index", folder, "--library", tmp_path / "lib")
    assert code == 1
    assert "2 indexed" in out and "3 unreadable" in out
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("skipped: ") for line in lines)
    for bad in ("locked", "sub/loop", "c-unreadable.jpg"):
        assert any(str(folder / bad) in line for line in lines), bad


def test_empty_folder_creates_no_library(tmp_path: Path, capfd) -> None:
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "notes.txt").write_text("no media here\n")
    lib = tmp_path / "lib"
    code, _, err = run(capfd, "index", folder, "--library", lib)
    assert code == 2
    one_line_error(err, str(folder), "no media found")
    assert not lib.exists()


@pytest.mark.parametrize("box", ["inf,0,10,10", "0,0,inf,inf", "nan,1,2,3", "inf"])
def test_box_that_is_not_finite(tmp_path: Path, capfd, person: np.ndarray, box: str) -> None:
    photo = tmp_path / "me.jpg"
    cv2.imwrite(str(photo), person)
    code, _, err = run(capfd, "search", photo, "--library", tmp_path, "--box", box)
    assert code == 2
    one_line_error(err, "--box", box, "photo pixels")


def test_port_in_use(capfd, library: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = run(capfd, "serve", "--library", library, "--port", str(port))
    assert code == 2
    one_line_error(err, f"127.0.0.1:{port}", "--port 0")


@pytest.mark.parametrize("damage", ["a file", "an empty database", "a truncated database"])
def test_serve_refuses_a_library_every_request_would_fail_on(tmp_path: Path, capfd, damage: str) -> None:
    library = tmp_path / "lib"
    if damage == "a file":
        library.write_bytes(b"not a folder")
    else:
        library.mkdir()
        (library / "library.sqlite").write_bytes(
            b"" if damage == "an empty database" else b"SQLite format 3\0" + b"\1" * 90
        )
    code, _, err = run(capfd, "serve", "--library", library, "--port", "0")
    assert code == 2
    one_line_error(err, "lib")


def test_full_disk_leaves_the_library_as_it_was(
    tmp_path: Path, capfd, person: np.ndarray, monkeypatch: pytest.MonkeyPatch, models
) -> None:
    from reidkit.index import Library
    from reidkit.index import library as library_module

    lib = tmp_path / "lib"
    first = tmp_path / "first.jpg"
    cv2.imwrite(str(first), person)
    assert main(["index", str(first), "--library", str(lib), "-q"]) == 0
    with Library.open(lib) as before:
        media, tracklets = before.media_list(), len(before)
    thumbs = sorted(p for p in (lib / "thumbs").rglob("*") if p.is_file())

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(library_module, "_write_thumbnail", disk_full)
    second = tmp_path / "second.jpg"
    cv2.imwrite(str(second), person[:, ::-1])
    capfd.readouterr()
    code, _, err = run(capfd, "index", second, "--library", lib, "-q")
    assert code == 2
    one_line_error(err, str(lib), str(second.resolve()), "No space left", "free some disk space")
    with Library.open(lib) as after:
        assert after.media_list() == media and len(after) == tracklets
    assert sorted(p for p in (lib / "thumbs").rglob("*") if p.is_file()) == thumbs


def test_database_full_rolls_back_the_file(
    tmp_path: Path, person: np.ndarray, monkeypatch: pytest.MonkeyPatch, models
) -> None:
    import sqlite3

    from reidkit.core.errors import LibraryError
    from reidkit.index import Library
    from reidkit.index.indexer import IndexOptions, MediaIndexer, build_analyser

    first, second = tmp_path / "first.jpg", tmp_path / "second.jpg"
    cv2.imwrite(str(first), person)
    cv2.imwrite(str(second), person[:, ::-1])
    analyser = build_analyser("yolox-nano", None, options=IndexOptions(progress=False))
    embedder = analyser.embedder

    def database_full(*args: Any) -> int:
        raise sqlite3.OperationalError("database or disk is full")  # SQLITE_FULL, mid-transaction

    with Library.create_or_open(tmp_path / "lib", embedder.name, embedder.dim) as lib:
        MediaIndexer(lib, analyser).index_file(first)
        monkeypatch.setattr(Library, "_insert_tracklet", database_full)
        with pytest.raises(LibraryError, match="disk is full") as info:
            MediaIndexer(lib, analyser).index_file(second)
        assert "free some disk space" in str(info.value)
    with Library.open(tmp_path / "lib") as reopened:
        assert [Path(m.path).name for m in reopened.media_list()] == ["first.jpg"]
        assert len([p for p in (tmp_path / "lib" / "thumbs").rglob("*") if p.is_file()]) == len(reopened)


def _clip(video: Path, out: Path, packets: int) -> Path:
    """The first ``packets`` packets of ``video``, copied without re-encoding."""
    import av

    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for n, packet in enumerate(src.demux(src.streams.video[0])):
            if n >= packets or packet.dts is None:
                break
            packet.stream = stream
            dst.mux(packet)
    return out


def test_video_corrupt_in_the_middle_is_indexed_partly(tmp_path: Path, capfd, models) -> None:
    video = _clip(shared_path(*VIDEO), tmp_path / "clip.mp4", 300)
    data = bytearray(video.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 30_000] = bytes(30_000)
    video.write_bytes(bytes(data))
    code, out, err = run(capfd, "index", video, "--library", tmp_path / "lib")
    assert code == 1
    assert "partly" in out and "1 indexed" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("indexed, partly: ") and str(video) in line and "unreadable" in line
