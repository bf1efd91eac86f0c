"""Every built-in dataset on a tiny synthetic tree in its documented layout (real CUHK03 from ../shared)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.core.errors import DatasetError
from reidkit.data.base import DATASETS, build_dataset
from tests.conftest import shared_path

PIXELS = np.full((8, 4, 3), 128, np.uint8)


def write(root: Path, *relpaths: str) -> None:
    for rel in relpaths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), PIXELS)


def labels(samples) -> list[tuple[int, int]]:
    return [(s.pid, s.camid) for s in samples]


def test_market1501(tmp_path: Path) -> None:
    root = tmp_path / "Market-1501-v15.09.15"
    write(root, "bounding_box_train/0002_c1s1_000451_03.jpg", "bounding_box_train/0007_c2s3_070952_01.jpg")
    write(root, "bounding_box_train/-1_c1s1_000001_00.jpg")
    write(root, "query/0001_c1s1_001051_00.jpg", "query/0003_c6s1_009601_00.jpg")
    write(root, "bounding_box_test/-1_c1s1_000401_03.jpg", "bounding_box_test/0000_c3s1_081667_01.jpg")
    write(root, "bounding_box_test/0001_c2s1_000301_01.jpg", "bounding_box_test/0003_c6s2_000001_01.jpg")
    (root / "query" / "Thumbs.db").write_bytes(b"")
    data = build_dataset("market1501", tmp_path)  # the parent folder works too
    assert labels(data.query) == [(1, 0), (3, 5)]
    assert labels(data.gallery) == [(-1, 0), (0, 2), (1, 1), (3, 5)]  # junk kept: the evaluator removes it
    assert labels(data.train) == [(0, 0), (1, 1)]  # junk dropped, ids relabelled
    assert build_dataset("market", root).summary() == data.summary()


def test_dukemtmc(tmp_path: Path) -> None:
    write(tmp_path, "bounding_box_train/0001_c2_f0046182.jpg", "query/0005_c2_f0046985.jpg")
    write(tmp_path, "bounding_box_test/0005_c5_f0051341.jpg", "bounding_box_test/0007_c8_f0000001.jpg")
    data = build_dataset("dukemtmcreid", tmp_path)
    assert labels(data.query) == [(5, 1)] and labels(data.gallery) == [(5, 4), (7, 7)]


def test_cuhk03_np(tmp_path: Path) -> None:
    write(tmp_path / "labeled", "bounding_box_train/0001_c1_1.png", "query/0010_c1_1.png")
    write(tmp_path / "labeled", "bounding_box_test/0010_c2_3.png")
    for name in ("cuhk03-np", "cuhk03"):
        data = build_dataset(name, tmp_path / "labeled")
        assert data.name == "cuhk03-np" and labels(data.gallery) == [(10, 1)]


@pytest.mark.parametrize("version", [("train", "test"), ("mask_train_v2", "mask_test_v2")])
def test_msmt17(tmp_path: Path, version: tuple[str, str]) -> None:
    train_dir, test_dir = version
    write(tmp_path, f"{train_dir}/0000/0000_000_01_0303morning_0015_0.jpg")
    write(tmp_path, f"{train_dir}/0001/0001_001_07_0303noon_0020_1.jpg")
    write(tmp_path, f"{test_dir}/0000/0000_000_03_0303morning_0016_0.jpg")
    write(tmp_path, f"{test_dir}/0000/0000_001_15_0303morning_0017_0.jpg")
    (tmp_path / "list_train.txt").write_text("0000/0000_000_01_0303morning_0015_0.jpg 0\n")
    (tmp_path / "list_val.txt").write_text("0001/0001_001_07_0303noon_0020_1.jpg 1\n")
    (tmp_path / "list_query.txt").write_text("0000/0000_000_03_0303morning_0016_0.jpg 0\n")
    (tmp_path / "list_gallery.txt").write_text("0000/0000_001_15_0303morning_0017_0.jpg 0\n\n")
    data = build_dataset("msmt17", tmp_path)
    assert labels(data.train) == [(0, 0), (1, 6)]
    assert labels(data.query) == [(0, 2)] and labels(data.gallery) == [(0, 14)]
    assert Path(data.query[0].path).is_file()
    (tmp_path / "list_query.txt").write_text("just-a-path\n")
    with pytest.raises(DatasetError, match="line 1"):
        build_dataset("msmt17", tmp_path)


def test_cuhk01_split_and_protocols(tmp_path: Path) -> None:
    write(tmp_path, *(f"campus/{pid:04d}{shot:03d}.png" for pid in range(1, 5) for shot in range(1, 5)))
    data = build_dataset("cuhk01", tmp_path)
    assert {s.pid for s in data.query} == {3, 4} and len(data.train) == 8
    assert labels(data.query) == [(3, 0), (3, 0), (4, 0), (4, 0)]
    assert all(s.camid == 1 for s in data.gallery)
    b2a = build_dataset("cuhk01", tmp_path, protocol="b2a", split="all")
    assert len(b2a.query) == 8 and all(s.camid == 1 for s in b2a.query) and not b2a.train
    assert len(build_dataset("cuhk01", tmp_path, protocol="all").query) == 8
    with pytest.raises(DatasetError, match="protocol"):
        build_dataset("cuhk01", tmp_path, protocol="sideways")


def test_viper_pairs_by_file_order(tmp_path: Path) -> None:
    write(tmp_path, *(f"cam_a/{i:03d}_45.bmp" for i in (0, 2, 4, 6)))
    write(tmp_path, *(f"cam_b/{i:03d}_90.bmp" for i in (0, 2, 4, 6)))
    data = build_dataset("viper", tmp_path)
    assert [Path(s.path).name for s in data.query] == ["004_45.bmp", "006_45.bmp"]
    assert [Path(s.path).name for s in data.gallery] == ["004_90.bmp", "006_90.bmp"]
    assert [s.pid for s in data.query] == [s.pid for s in data.gallery] == [2, 3]
    (tmp_path / "cam_b" / "006_90.bmp").unlink()
    with pytest.raises(DatasetError, match="same number"):
        build_dataset("viper", tmp_path)


def test_veri776(tmp_path: Path) -> None:
    write(tmp_path / "VeRi", "image_train/0001_c001_00016450_0.jpg", "image_query/0002_c002_00030600_0.jpg")
    write(tmp_path / "VeRi", "image_test/0002_c003_00084880_1.jpg", "image_test/0005_c020_00085090_0.jpg")
    data = build_dataset("veri776", tmp_path)
    assert labels(data.query) == [(2, 1)] and labels(data.gallery) == [(2, 2), (5, 19)]


def test_folder_layouts(tmp_path: Path) -> None:
    write(tmp_path / "a", "alice/c1_0.jpg", "alice/c2_1.jpg", "alice/x.jpg", "bob/c3_0.jpg", "carol/0.jpg")
    data = build_dataset("folder", tmp_path / "a")
    assert labels(data.query) == [(0, 1)]
    assert labels(data.gallery) == [(0, 2), (0, 1), (1, 3), (2, 1)]
    write(tmp_path / "b", "query/7/img.jpg", "gallery/7/img.jpg", "gallery/9/img.jpg", "train/1/img.jpg")
    data = build_dataset("folder", tmp_path / "b", camera_regex=r"cam(\d+)")
    assert labels(data.query) == [(7, 0)] and labels(data.gallery) == [(7, 1), (9, 1)]
    assert labels(data.train) == [(0, 0)]


def test_errors_are_one_line(tmp_path: Path) -> None:
    for name in DATASETS.names():
        with pytest.raises(DatasetError) as info:
            build_dataset(name, tmp_path)
        assert "\n" not in str(info.value)
    with pytest.raises(DatasetError, match="unknown dataset"):
        build_dataset("nope", tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        build_dataset("market1501", tmp_path / "missing")


def test_documented_custom_dataset_example(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "datasets.md").read_text()
    code = docs.split("```python\n", 1)[1].split("```", 1)[0]
    if "mycams" not in DATASETS:
        exec(code, {})
    write(tmp_path, "a/0001_0.jpg", "a/0002_0.jpg", "b/0001_1.jpg", "b/0002_1.jpg", "b/0003_0.jpg")
    data = build_dataset("mycams", tmp_path)
    assert labels(data.query) == [(1, 0), (2, 0)] and labels(data.gallery) == [(1, 1), (2, 1), (3, 1)]


def test_real_cuhk03() -> None:
    root = shared_path("data", "cuhk03", "labeled")
    data = build_dataset("cuhk03", root)
    assert (len(data.query) + len(data.gallery), len({s.pid for s in data.query})) == (938, 100)
    assert data.num_train_pids == 743


def test_an_unknown_option_is_an_error_that_lists_the_valid_ones(tmp_path: Path) -> None:
    """A misspelt option must not silently fall back to the default split (holdot=100 -> val/)."""
    write(
        tmp_path / "labeled", "train/0000_00.jpg", "train/0000_05.jpg", "val/0000_00.jpg", "val/0000_05.jpg"
    )
    with pytest.raises(DatasetError, match=r"unknown cuhk03 option holdot; valid options: protocol, holdout"):
        build_dataset("cuhk03", tmp_path / "labeled", holdot=100)
    with pytest.raises(DatasetError, match=r"unknown market1501 options a, b; valid options: protocol"):
        build_dataset("market1501", tmp_path, a=1, b=2)
