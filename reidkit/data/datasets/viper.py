"""VIPeR (Gray et al. 2007): 632 people, one image from each of two cameras.

Layout (the official release)::

    <root>/cam_a/NNN_AAA.bmp      <root>/cam_b/NNN_AAA.bmp

The i-th file of ``cam_a`` and the i-th file of ``cam_b`` (sorted by name) show the same person, as in
the official release; the identity is that position. ``split="half"`` (default) trains on the first 316
people and tests on the other 316; ``split="all"`` tests on all 632. Protocols: ``a2b`` (default),
``b2a``, ``all``.
"""

from __future__ import annotations

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


@DATASETS.register("viper")
def viper(root: Path, protocol: str = "", split: str = "half") -> ReidDataset:
    root = next((r for r in (root, root / "VIPeR") if (r / "cam_a").is_dir()), root)
    cam_a, cam_b = list_images(root / "cam_a"), list_images(root / "cam_b")
    if not cam_a or len(cam_a) != len(cam_b):
        raise DatasetError(
            f"expected cam_a/ and cam_b/ with the same number of images (found {len(cam_a)} and {len(cam_b)})",
            path=root,
            hint="pass --root pointing at the VIPeR folder",
        )
    samples = [ReidSample(str(p), pid, 0) for pid, p in enumerate(cam_a)]
    samples += [ReidSample(str(p), pid, 1) for pid, p in enumerate(cam_b)]
    train, test = split_ids(samples, split, "viper")
    query, gallery, how = two_camera_protocol(test, protocol, "viper")
    return ReidDataset("viper", relabel(train), query, gallery, protocol=f"split {split}: {how}")
