"""nprobe / efSearch: stored in the library, reach the Faiss index, and a reader may override them."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from reidkit.core.errors import LibraryError
from reidkit.index.library import DEFAULT_EF_SEARCH, DEFAULT_NPROBE, Library
from tests.index.test_library import DIM, make_tracklet, media


def fill(lib: Library, n: int = 12) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        lib.add_media(media(f"{i}.mp4", f"{i:064d}"), [make_tracklet(1, rng.normal(size=DIM))])


def inner(lib: Library) -> object:
    return faiss.downcast_index(lib._store.ann.index)


def test_hnsw_ef_search_is_stored_and_applied(tmp_path: Path) -> None:
    with Library.create_or_open(tmp_path, "fake", DIM, index="HNSW8") as lib:
        assert (lib.nprobe, lib.ef_search) == (DEFAULT_NPROBE, DEFAULT_EF_SEARCH)
        fill(lib)
    with Library.create_or_open(tmp_path, "fake", DIM, ef_search=7) as lib:
        assert lib.ef_search == 7 and lib.nprobe == DEFAULT_NPROBE
    with Library.open(tmp_path) as lib:
        assert lib.ef_search == 7
        target = lib.tracklet_vectors()[1][3]
        assert lib.search(target, k=1)[0].score == pytest.approx(1.0, abs=1e-5)
        assert inner(lib).hnsw.efSearch == 7  # type: ignore[attr-defined]
        lib.ef_search = 40  # this session only
        lib.search(target, k=1)
        assert inner(lib).hnsw.efSearch == 40  # type: ignore[attr-defined]
        with pytest.raises(LibraryError, match="read-only"):
            lib.save_search_params()
    assert Library.open(tmp_path).ef_search == 7


def test_ivf_nprobe_is_stored_and_applied(tmp_path: Path) -> None:
    with Library.create_or_open(tmp_path, "fake", DIM, index="IVF2,Flat", nprobe=2) as lib:
        fill(lib, 80)
        assert "IVF" in type(lib._store.ann).__name__
    with Library.open(tmp_path) as lib:
        assert lib.nprobe == 2
        lib.search(lib.tracklet_vectors()[1][0], k=3)
        assert faiss.extract_index_ivf(lib._store.ann).nprobe == 2
        with pytest.raises(ValueError, match="nprobe"):
            lib.nprobe = 0
