"""Datasets and loaders for training: roots resolved at run time, several train sets concatenated.

Dataset roots never live in YAML. For a dataset ``name`` the root is, in order: ``--root name=DIR`` on
the command line, ``$REIDKIT_DATA_ROOT_<NAME>`` (e.g. ``REIDKIT_DATA_ROOT_CUHK03``), then
``$REIDKIT_DATA_ROOT/<name>`` (one folder holding every dataset, as torchreid's ``root``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from reidkit.core.errors import DatasetError
from reidkit.data.base import ReidDataset, ReidSample, build_dataset, read_dataset_image
from reidkit.train.config import DataConfig


def parse_roots(items: Sequence[str]) -> dict[str, str]:
    """``["cuhk03=/data/cuhk03", ...]`` -> ``{"cuhk03": "/data/cuhk03"}``."""
    roots = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise DatasetError(
                f"--root {item!r} is not of the form NAME=DIR (e.g. --root cuhk03=data/cuhk03)"
            )
        roots[name.strip()] = folder.strip()
    return roots


def resolve_root(name: str, roots: Mapping[str, str] | None = None) -> Path:
    if roots and name in roots:
        return Path(roots[name]).expanduser()
    specific = os.environ.get(f"REIDKIT_DATA_ROOT_{name.upper().replace('-', '_')}")
    if specific:
        return Path(specific).expanduser()
    shared = os.environ.get("REIDKIT_DATA_ROOT")
    if shared:
        return Path(shared).expanduser() / name
    raise DatasetError(
        f"no folder given for dataset {name!r}",
        hint=f"pass --root {name}=DIR or set REIDKIT_DATA_ROOT to the folder holding {name}/",
    )


@dataclass
class TrainData:
    samples: list[ReidSample]  # pids made unique across datasets, 0..num_classes-1
    num_classes: int
    names: list[str]


def load_train_samples(cfg: DataConfig, roots: Mapping[str, str] | None = None) -> TrainData:
    """Concatenate the train splits of ``cfg.train``; dataset d's pids are offset past dataset d-1's."""
    samples: list[ReidSample] = []
    offset = 0
    for dsetid, name in enumerate(cfg.train):
        dataset = build_dataset(name, resolve_root(name, roots), **cfg.options.get(name, {}))
        if not dataset.train:
            raise DatasetError(f"dataset {name!r} has no train images", path=resolve_root(name, roots))
        samples += [ReidSample(s.path, s.pid + offset, s.camid, dsetid) for s in dataset.train]
        offset += max(s.pid for s in dataset.train) + 1
    return TrainData(samples, offset, list(cfg.train))


def load_test_sets(cfg: DataConfig, roots: Mapping[str, str] | None = None) -> list[ReidDataset]:
    return [build_dataset(n, resolve_root(n, roots), **cfg.options.get(n, {})) for n in cfg.test]


class ImageDataset(Dataset):
    """ReidSample list -> (image tensor CHW float32, pid, camid, dsetid[, augmented HxWx3 uint8 BGR]).

    Indexed by ``i`` or by ``(i, aug_seed)`` as :class:`~reidkit.train.sampler.PKSampler` yields; the
    seed drives the transform, so an image's augmentation doesn't depend on which worker loads it.
    A transform returning ``(tensor, augmented)`` (``TrainTransform(keep_augmented=True)``) adds the
    augmented uint8 image as a fifth item, for a distillation teacher.
    """

    def __init__(self, samples: Sequence[ReidSample], transform: Any):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[Any, ...]:
        index, seed = item if isinstance(item, tuple) else (item, index_seed(item))
        sample = self.samples[index]
        out = self.transform(read_dataset_image(sample.path), np.random.default_rng(seed))
        if isinstance(out, tuple):
            tensor, augmented = out
            return (
                torch.from_numpy(tensor),
                sample.pid,
                sample.camid,
                sample.dsetid,
                torch.from_numpy(augmented),
            )
        return torch.from_numpy(out), sample.pid, sample.camid, sample.dsetid


def index_seed(index: int) -> int:
    return index
