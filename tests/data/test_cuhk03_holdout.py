"""CUHK03 holdout: a dev split carved from train/ so recipes are chosen without looking at val/."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.core.errors import DatasetError
from reidkit.data.base import build_dataset


def _tree(root: Path, split: str, ids: int) -> None:
    (root / split).mkdir(parents=True)
    for pid in range(ids):
        for shot in (0, 1, 5, 6):
            cv2.imwrite(str(root / split / f"{pid:04d}_{shot:02d}.jpg"), np.full((16, 8, 3), pid, np.uint8))


def test_holdout_uses_last_train_ids_and_never_val(tmp_path: Path) -> None:
    _tree(tmp_path, "train", 10)
    _tree(tmp_path, "val", 3)
    data = build_dataset("cuhk03", tmp_path, holdout=4)
    assert data.num_train_pids == 6 and len(data.train) == 24
    assert all("/train/" in s.path for s in data.query + data.gallery)
    assert {Path(s.path).name[:4] for s in data.query} == {"0006", "0007", "0008", "0009"}
    assert {s.camid for s in data.query} == {0} and {s.camid for s in data.gallery} == {1}
    with pytest.raises(DatasetError, match="holdout"):
        build_dataset("cuhk03", tmp_path, holdout=10)
