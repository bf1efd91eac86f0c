"""Market-1501 (Zheng et al. 2015) and every dataset published in its layout.

Layout::

    <root>/bounding_box_train/PPPP_cCsS_FFFFFF_NN.jpg   12,936 images, 751 ids
    <root>/query/PPPP_cCsS_FFFFFF_NN.jpg                3,368 images, 750 ids
    <root>/bounding_box_test/PPPP_cCsS_FFFFFF_NN.jpg    19,732 images (gallery)

``PPPP`` is the identity (``-1`` = junk: bad boxes and body parts; ``0000`` = distractors: people outside
the 1,501 ids), ``C`` the camera (1-6), ``S`` the sequence, ``FFFFFF`` the frame, ``NN`` the box. ``<root>``
may also be the folder that holds ``Market-1501-v15.09.15/``.

Protocol (the official evaluation code): query = ``query/``, gallery = ``bounding_box_test/``. Junk
images stay in the gallery list with identity -1 and the evaluator removes them, together with the
same-identity same-camera images of each query; distractors (identity 0) are ordinary negatives. Training
drops junk images and relabels identities to 0..N-1.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.core.errors import DatasetError
from reidkit.data.base import DATASETS, ReidDataset, ReidSample, list_images, relabel

MARKET_NAME = re.compile(r"^(-?\d+)_c(\d+)")


def parse_folder(
    folder: Path, pattern: re.Pattern[str] = MARKET_NAME, *, first_camera: int = 1
) -> list[ReidSample]:
    """Images whose names match ``pattern`` (group 1 = identity, group 2 = camera numbered from
    ``first_camera``); other files are ignored."""
    samples = []
    for path in list_images(folder):
        match = pattern.match(path.name)
        if match:
            samples.append(ReidSample(str(path), int(match.group(1)), int(match.group(2)) - first_camera))
    return samples


def find_root(root: Path, marker: str, *subfolders: str) -> Path:
    """``root`` itself or the first of its ``subfolders`` that holds ``marker``."""
    for candidate in (root, *(root / s for s in subfolders)):
        if (candidate / marker).exists():
            return candidate
    return root


def market_layout(
    root: Path,
    name: str,
    pattern: re.Pattern[str] = MARKET_NAME,
    dirs: tuple[str, str, str] = ("bounding_box_train", "query", "bounding_box_test"),
    protocol: str = "",
) -> ReidDataset:
    """A dataset with train / query / gallery folders of Market-style names."""
    if protocol not in ("", "default"):
        raise DatasetError(f"{name} has one protocol (its query/ and gallery folders); drop --protocol")
    train_dir, query_dir, gallery_dir = (root / d for d in dirs)
    query, gallery = parse_folder(query_dir, pattern), parse_folder(gallery_dir, pattern)
    if not query or not gallery:
        raise DatasetError(
            f"no {name} images found (expected {dirs[1]}/ and {dirs[2]}/ with names like 0001_c1s1_000151_00.jpg)",
            path=root,
            hint=f"pass --root pointing at the folder that holds {dirs[1]}/",
        )
    train = [s for s in parse_folder(train_dir, pattern) if s.pid != -1]
    return ReidDataset(
        name=name,
        train=relabel(train),
        query=query,
        gallery=gallery,
        protocol=f"query = {dirs[1]}/, gallery = {dirs[2]}/; same id + same camera and id -1 removed per query",
    )


@DATASETS.register("market1501")
def market1501(root: Path, protocol: str = "") -> ReidDataset:
    root = find_root(root, "query", "Market-1501-v15.09.15", "Market-1501", "market1501")
    return market_layout(root, "market1501", protocol=protocol)


DATASETS.register("market")(market1501)
