"""CUHK03.

Two layouts are understood:

* **split folders** (as in ``../shared/data/cuhk03/labeled``)::

      <root>/train/PPPP_KK.jpg   <root>/val/PPPP_KK.jpg

  ``PPPP`` is the identity within the split (train and val are different people even when the numbers
  match), ``KK`` 00-04 = camera A, 05-09 = camera B.
  Default protocol (``protocol="a2b"``): train = all of ``train/``; query = ``val/`` camera A,
  gallery = ``val/`` camera B. ``"b2a"`` swaps the cameras; ``"all"`` uses every val image as a query
  against every other (same-camera matches of the same person are then removed from its gallery, as the
  Market-1501 rules do, by the evaluator).
* **cuhk03-np** (the "new protocol" folders: ``bounding_box_train/``, ``query/``, ``bounding_box_test/``
  with Market-1501 file names): handled by the Market-1501 loader when present.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.core.errors import DatasetError
from reidkit.data.base import DATASETS, ReidDataset, ReidSample, list_images, relabel, two_camera_protocol

_NAME = re.compile(r"^(\d+)_(\d+)$")


def _parse_split(folder: Path) -> list[ReidSample]:
    samples = []
    for path in list_images(folder):
        match = _NAME.match(path.stem)
        if not match:
            continue
        pid, shot = int(match.group(1)), int(match.group(2))
        samples.append(ReidSample(str(path), pid, 0 if shot < 5 else 1))
    return samples


@DATASETS.register("cuhk03")
def cuhk03(root: Path, protocol: str = "", holdout: int = 0) -> ReidDataset:
    """``holdout=N`` keeps ``val/`` out of sight: the last N identities of ``train/`` become the test
    split (same camera protocol) and training uses the rest. Use it to choose a recipe (ablations)
    without tuning on val."""
    if (root / "labeled" / "val").is_dir() and not (root / "val").is_dir():
        root = root / "labeled"
    if (root / "bounding_box_test").is_dir():
        from reidkit.data.datasets.market1501 import market_layout

        return market_layout(root, name="cuhk03-np", protocol=protocol)
    train, val = _parse_split(root / "train"), _parse_split(root / "val")
    if not val:
        raise DatasetError(
            "no CUHK03 images found (expected val/PPPP_KK.jpg and train/PPPP_KK.jpg)",
            path=root,
            hint="pass --root pointing at the folder that holds train/ and val/",
        )
    test_split, where = val, "val/"
    if holdout:
        ids = sorted({s.pid for s in train})
        if not 0 < holdout < len(ids):
            raise DatasetError(
                f"holdout={holdout} must be between 1 and {len(ids) - 1} identities", path=root
            )
        held = set(ids[-holdout:])
        test_split, where = [s for s in train if s.pid in held], f"last {holdout} ids of train/"
        train = [s for s in train if s.pid not in held]
    query, gallery, how = two_camera_protocol(test_split, protocol, "cuhk03")
    return ReidDataset(
        name="cuhk03",
        train=relabel(train),
        query=query,
        gallery=gallery,
        protocol=f"{protocol or 'a2b'} on {where}: {how}",
    )


@DATASETS.register("cuhk03-np")
def cuhk03_np(root: Path, protocol: str = "") -> ReidDataset:
    """CUHK03 in the new protocol (Zhong et al. 2017): Market-1501 folders, 767 train / 700 test ids."""
    from reidkit.data.datasets.market1501 import find_root, market_layout

    return market_layout(find_root(root, "query", "labeled", "detected"), "cuhk03-np", protocol=protocol)
