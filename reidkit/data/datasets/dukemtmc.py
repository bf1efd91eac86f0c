"""DukeMTMC-reID (Zheng et al. 2017), in the Market-1501 layout.

Layout::

    <root>/bounding_box_train/PPPP_cC_fFFFFFFF.jpg   16,522 images, 702 ids
    <root>/query/PPPP_cC_fFFFFFFF.jpg                2,228 images
    <root>/bounding_box_test/PPPP_cC_fFFFFFFF.jpg    17,661 images (gallery, with 408 distractor ids)

``C`` is the camera (1-8). ``<root>`` may also be the folder holding ``DukeMTMC-reID/``.
Protocol: as Market-1501 (query/ against bounding_box_test/, same id + same camera removed per query).
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.base import DATASETS, ReidDataset
from reidkit.data.datasets.market1501 import find_root, market_layout


@DATASETS.register("dukemtmcreid")
def dukemtmcreid(root: Path, protocol: str = "") -> ReidDataset:
    return market_layout(find_root(root, "query", "DukeMTMC-reID"), "dukemtmcreid", protocol=protocol)


DATASETS.register("duke")(dukemtmcreid)
