"""MSMT17 (Wei et al. 2018): 126,441 images of 4,101 ids from 15 cameras.

Two layouts are understood (``<root>`` may also be the folder holding ``MSMT17_V1/`` or ``MSMT17_V2/``)::

    V1: <root>/train/PPPP/<name>.jpg          V2: <root>/mask_train_v2/PPPP/<name>.jpg
        <root>/test/PPPP/<name>.jpg               <root>/mask_test_v2/PPPP/<name>.jpg
        <root>/list_train.txt, list_val.txt, list_query.txt, list_gallery.txt   (both)

Each list line is ``<path relative to the train or test folder> <pid>``. Image names look like
``0000_000_01_0303morning_0015_0.jpg``: the third field is the camera (1-15).
Protocol (the official one): train = list_train + list_val; query = list_query, gallery = list_gallery,
same id + same camera removed per query by the evaluator.
"""

from __future__ import annotations

from pathlib import Path

from reidkit.core.errors import DatasetError
from reidkit.data.base import DATASETS, ReidDataset, ReidSample, relabel
from reidkit.data.datasets.market1501 import find_root

LAYOUTS = (("train", "test"), ("mask_train_v2", "mask_test_v2"))


def read_list(list_file: Path, image_dir: Path) -> list[ReidSample]:
    samples = []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rel, pid = line.split()
            camid = int(Path(rel).name.split("_")[2]) - 1
        except (ValueError, IndexError):
            raise DatasetError(
                f"line {number} is not '<path> <pid>' with an MSMT17 file name", path=list_file
            ) from None
        samples.append(ReidSample(str(image_dir / rel), int(pid), camid))
    return samples


@DATASETS.register("msmt17")
def msmt17(root: Path, protocol: str = "") -> ReidDataset:
    root = find_root(root, "list_query.txt", "MSMT17_V2", "MSMT17_V1", "MSMT17")
    if protocol not in ("", "default"):
        raise DatasetError("msmt17 has one protocol (list_query against list_gallery); drop --protocol")
    layout = next(((tr, te) for tr, te in LAYOUTS if (root / te).is_dir()), None)
    if layout is None or not (root / "list_query.txt").is_file():
        raise DatasetError(
            "not an MSMT17 folder (expected list_query.txt and test/ or mask_test_v2/)",
            path=root,
            hint="pass --root pointing at MSMT17_V1/ or MSMT17_V2/",
        )
    train_dir, test_dir = (root / d for d in layout)
    train = []
    for name in ("list_train.txt", "list_val.txt"):
        if (root / name).is_file():
            train += read_list(root / name, train_dir)
    return ReidDataset(
        name="msmt17",
        train=relabel(train),
        query=read_list(root / "list_query.txt", test_dir),
        gallery=read_list(root / "list_gallery.txt", test_dir),
        protocol="query = list_query.txt, gallery = list_gallery.txt; same id + same camera removed per query",
    )
