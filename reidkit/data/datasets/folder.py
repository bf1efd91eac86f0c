"""A generic folder of identities: one sub-folder per person.

Layouts::

    <root>/<id>/<any>.jpg                          query = each id's first image (by name), gallery = the rest
    <root>/query/<id>/*.jpg, <root>/gallery/<id>/*.jpg [, <root>/train/<id>/*.jpg]   explicit split

``<id>`` is the identity: its integer value when the name is a number (``-1`` = junk), else its
position in the sorted list of names. Cameras come from the file name with ``camera_regex`` (default
``c(\\d+)``, searched anywhere in the name); when a name has no camera, queries get camera 0 and gallery
images camera 1, so nothing is removed as "same camera". Ids with a single image are gallery distractors
in the first layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.core.errors import DatasetError
from reidkit.data.base import DATASETS, ReidDataset, ReidSample, list_images, relabel


def _id_folders(root: Path) -> dict[int, list[Path]]:
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    numeric = all(re.fullmatch(r"-?\d+", p.name) for p in folders)
    return {(int(p.name) if numeric else i): list_images(p) for i, p in enumerate(folders)}


def _sample(path: Path, pid: int, camera: re.Pattern[str], default_cam: int) -> ReidSample:
    match = camera.search(path.stem)
    return ReidSample(str(path), pid, int(match.group(1)) if match else default_cam)


@DATASETS.register("folder")
def folder(root: Path, protocol: str = "", camera_regex: str = r"c(\d+)") -> ReidDataset:
    if protocol not in ("", "default"):
        raise DatasetError("the folder dataset has one protocol; drop --protocol")
    camera = re.compile(camera_regex)
    if (root / "query").is_dir() and (root / "gallery").is_dir():
        splits = {name: _id_folders(root / name) for name in ("train", "query", "gallery")}
        query = [_sample(p, pid, camera, 0) for pid, paths in splits["query"].items() for p in paths]
        gallery = [_sample(p, pid, camera, 1) for pid, paths in splits["gallery"].items() for p in paths]
        train = [_sample(p, pid, camera, 0) for pid, paths in splits["train"].items() for p in paths]
        how = "query = query/, gallery = gallery/"
    else:
        query, gallery, train = [], [], []
        for pid, paths in _id_folders(root).items():
            if len(paths) >= 2 and pid != -1:
                query.append(_sample(paths[0], pid, camera, 0))
                paths = paths[1:]
            gallery += [_sample(p, pid, camera, 1) for p in paths]
        how = "query = first image of each id, gallery = the rest"
    if not query or not gallery:
        raise DatasetError(
            "no query/gallery images found (expected <root>/<id>/<image>.jpg with 2+ images per id)",
            path=root,
        )
    return ReidDataset("folder", relabel([s for s in train if s.pid != -1]), query, gallery, protocol=how)
