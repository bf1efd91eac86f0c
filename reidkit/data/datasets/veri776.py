"""VeRi-776 (Liu et al. 2016): vehicle re-identification, 776 vehicles from 20 cameras.

Layout::

    <root>/image_train/VVVV_cCCC_TTTTTTTT_N.jpg   37,778 images, 576 vehicles
    <root>/image_query/VVVV_cCCC_TTTTTTTT_N.jpg   1,678 images
    <root>/image_test/VVVV_cCCC_TTTTTTTT_N.jpg    11,579 images (gallery)

``VVVV`` is the vehicle id, ``CCC`` the camera (1-20). ``<root>`` may also hold ``VeRi/``.
Protocol (the official image-to-track-free one): query against image_test/, same id + same camera removed.
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.base import DATASETS, ReidDataset
from reidkit.data.datasets.market1501 import find_root, market_layout


@DATASETS.register("veri776")
def veri776(root: Path, protocol: str = "") -> ReidDataset:
    root = find_root(root, "image_query", "VeRi", "VeRi-776")
    return market_layout(
        root, "veri776", dirs=("image_train", "image_query", "image_test"), protocol=protocol
    )


DATASETS.register("veri")(veri776)
