"""Dataset types and the dataset registry.

A dataset is a function ``(root: Path, <options>) -> ReidDataset`` registered under a name; its keyword
parameters are its options, and :func:`build_dataset` rejects any other. It lists image files with
identity and camera labels; it never loads pixels (training reads them in ``reidkit.train.data``,
evaluation in ``reidkit.evaluate.features``).
Every dataset module documents its folder layout and default protocol in its docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reidkit.core.errors import DatasetError
from reidkit.core.registry import Registry


@dataclass(frozen=True, slots=True)
class ReidSample:
    path: str
    pid: int  # identity label; unique within a split (train pids are relabelled 0..N-1)
    camid: int  # camera index, 0-based
    dsetid: int = 0  # which dataset it came from in a multi-dataset run


@dataclass
class ReidDataset:
    """Train split plus query/gallery of the evaluation split."""

    name: str
    train: list[ReidSample] = field(default_factory=list)
    query: list[ReidSample] = field(default_factory=list)
    gallery: list[ReidSample] = field(default_factory=list)
    protocol: str = ""  # one line: how query and gallery were chosen

    def labels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Person and camera ids of the query and gallery: ``(q_pids, g_pids, q_cams, g_cams)``."""
        return (
            np.array([s.pid for s in self.query]),
            np.array([s.pid for s in self.gallery]),
            np.array([s.camid for s in self.query]),
            np.array([s.camid for s in self.gallery]),
        )

    @property
    def num_train_pids(self) -> int:
        return len({s.pid for s in self.train})

    def summary(self) -> str:
        def stats(samples: Sequence[ReidSample]) -> str:
            return f"{len({s.pid for s in samples})} ids / {len(samples)} images / {len({s.camid for s in samples})} cams"

        return (
            f"{self.name}: train {stats(self.train)}; query {stats(self.query)}; "
            f"gallery {stats(self.gallery)}; protocol: {self.protocol}"
        )


# A dataset factory: (root, **options) -> ReidDataset.
DatasetFactory = Callable[..., ReidDataset]
DATASETS: Registry[DatasetFactory] = Registry("dataset")


def build_dataset(name: str, root: str | Path, **options: object) -> ReidDataset:
    """Load dataset ``name`` from ``root``; a missing or misshapen root gives a one-line error."""
    import reidkit.data.datasets  # noqa: F401  (registers the built-in datasets)

    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(
            "dataset root not found",
            path=root,
            hint=f"pass --root with the folder that holds the {name!r} dataset (layouts: docs/datasets.md)",
        )
    try:
        factory = DATASETS.get(name)
    except KeyError as exc:
        raise DatasetError(str(exc).strip("'\"")) from None
    valid = dataset_options(factory)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        # A misspelt option must not silently fall back to the default split (holdot=100 would
        # evaluate on val/ instead of the held-out train ids).
        raise DatasetError(
            f"unknown {name} option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"valid options: {', '.join(valid) or 'none'}"
        )
    return factory(root, **options)


def dataset_options(factory: DatasetFactory) -> list[str]:
    """The options a dataset factory takes: its keyword parameters after ``root``."""
    import inspect

    parameters = list(inspect.signature(factory).parameters.values())[1:]
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def relabel(samples: Sequence[ReidSample]) -> list[ReidSample]:
    """Map pids to 0..N-1 in sorted order (classification heads need contiguous labels)."""
    mapping = {pid: i for i, pid in enumerate(sorted({s.pid for s in samples}))}
    return [ReidSample(s.path, mapping[s.pid], s.camid, s.dsetid) for s in samples]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def list_images(folder: Path) -> list[Path]:
    return (
        sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    )


TWO_CAMERA_PROTOCOLS = ("a2b", "b2a", "all")


def two_camera_protocol(
    samples: Sequence[ReidSample], protocol: str, name: str
) -> tuple[list[ReidSample], list[ReidSample], str]:
    """Query and gallery of a two-camera test split (camids 0 = A, 1 = B).

    ``a2b`` (default): query = camera A, gallery = camera B; ``b2a`` swaps them; ``all``: every image is a
    query against every image (the evaluator removes the same-camera images of the query's identity,
    and with them the query itself).
    """
    protocol = protocol or "a2b"
    if protocol == "a2b":
        return (
            [s for s in samples if s.camid == 0],
            [s for s in samples if s.camid == 1],
            "query = camera A, gallery = camera B",
        )
    if protocol == "b2a":
        return (
            [s for s in samples if s.camid == 1],
            [s for s in samples if s.camid == 0],
            "query = camera B, gallery = camera A",
        )
    if protocol == "all":
        return list(samples), list(samples), "every image against all (same id + same camera removed)"
    raise DatasetError(f"unknown {name} protocol {protocol!r}; use one of {', '.join(TWO_CAMERA_PROTOCOLS)}")


def split_ids(
    samples: Sequence[ReidSample], split: str, name: str
) -> tuple[list[ReidSample], list[ReidSample]]:
    """(train, test) for sets without an official split: ``half`` = the first half of the sorted identities
    train, the rest test (a fixed split; published numbers average 10 random ones); ``all`` = test on all."""
    if split == "all":
        return [], list(samples)
    if split != "half":
        raise DatasetError(f"unknown {name} split {split!r}; use half or all")
    ids = sorted({s.pid for s in samples})
    test_ids = set(ids[len(ids) // 2 :])
    return [s for s in samples if s.pid not in test_ids], [s for s in samples if s.pid in test_ids]


def read_dataset_image(path: str) -> np.ndarray:
    """:func:`reidkit.media.read_image` (``HxWx3 uint8 BGR``); a file it cannot read is a DatasetError.

    A bad file in a dataset is the dataset's to fix, whatever the reader found wrong with it.
    """
    from reidkit.core.errors import MediaError
    from reidkit.media import read_image

    try:
        return read_image(path)
    except MediaError as exc:
        raise DatasetError(
            exc.message, path=path, hint="remove the file from the dataset folder or restore it"
        ) from exc
