"""CUHK01 (Li et al. 2012): 971 people, two images each from two disjoint campus cameras.

Layout (the official release)::

    <root>/campus/PPPPNNN.png      (or the PNGs directly in <root>)

``PPPP`` is the identity (0001-0971); ``NNN`` 001-002 = camera A, 003-004 = camera B.
There is no official train/test split: ``split="half"`` (default) trains on identities 1-485 and tests
on 486-971; ``split="all"`` tests on all 971. Protocols on the test identities: ``a2b`` (default,
query = camera A, gallery = camera B), ``b2a``, ``all`` (see ``two_camera_protocol``).
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.core.errors import DatasetError
from reidkit.data.base import (
    DATASETS,
    ReidDataset,
    ReidSample,
    list_images,
    relabel,
    split_ids,
    two_camera_protocol,
)

NAME = re.compile(r"^(\d{4})(\d{3})$")


@DATASETS.register("cuhk01")
def cuhk01(root: Path, protocol: str = "", split: str = "half") -> ReidDataset:
    folder = root / "campus" if (root / "campus").is_dir() else root
    samples = []
    for path in list_images(folder):
        match = NAME.match(path.stem)
        if match:
            samples.append(ReidSample(str(path), int(match.group(1)), 0 if int(match.group(2)) <= 2 else 1))
    if not samples:
        raise DatasetError(
            "no CUHK01 images found (expected campus/PPPPNNN.png)",
            path=root,
            hint="pass --root holding campus/",
        )
    train, test = split_ids(samples, split, "cuhk01")
    query, gallery, how = two_camera_protocol(test, protocol, "cuhk01")
    return ReidDataset("cuhk01", relabel(train), query, gallery, protocol=f"split {split}: {how}")
