"""Bad inputs through the real CLI: each gives ONE line on stderr naming the file and the fix, exit 2.

Odd but valid images (grayscale, RGBA, 16-bit) must work, as queries and as indexed media, and a
folder with one unreadable file still indexes the rest. Cases that index run the real models from
../shared (skipped when absent); the rest need no model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.cli import main
from reidkit.zoo.registry import DEFAULT_REID_MODEL
from tests.conftest import shared_path

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
