"""Library folders that cannot be made or written: one LibraryError naming the folder, nothing changed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reidkit.core.errors import LibraryError
from reidkit.index.library import Library
from tests.index.test_library import DIM, basis, make_tracklet, media


def small_library(root: Path) -> Path:
    with Library.create_or_open(root, "fake", DIM) as lib:
        lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0)), make_tracklet(2, basis(1))])
    return root


def folder_snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("folder", ["thumbs", "vectors"])
def test_a_file_where_the_library_keeps_a_folder_is_refused_before_anything_is_written(
    tmp_path: Path, folder: str
) -> None:
    root = small_library(tmp_path / "lib")
    blocker = root / folder
    backup = tmp_path / "moved"
    blocker.rename(backup)
    blocker.write_text("x")
    before = folder_snapshot(root)
    with pytest.raises(LibraryError) as err:
        Library.create_or_open(root, "fake", DIM)
    message = str(err.value)
    assert message.startswith(f"{blocker}: is a file, not a folder") and "move it away" in message
    assert "\n" not in message
    assert folder_snapshot(root) == before  # no lock file, no database change


def test_a_library_folder_that_cannot_be_created_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A --library in a folder another user owns: PermissionError from mkdir."""
    root = tmp_path / "ro" / "sub"

    def refuse(self: Path, *_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(LibraryError) as err:
        Library.create_or_open(root, "fake", DIM)
    assert str(err.value).startswith(f"{root}: cannot create this folder (Permission denied)")
    assert "--library" in str(err.value)
    assert not (tmp_path / "ro").exists()


def test_a_reader_with_a_file_for_vectors_warns_once_and_searches_from_sqlite(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = small_library(tmp_path / "lib")
    (root / "vectors").rename(tmp_path / "moved")
    (root / "vectors").write_text("x")
    before = folder_snapshot(root)
    with caplog.at_level(logging.WARNING), Library.open(root) as lib:
        for _ in range(4):  # each search refreshes the reader's state
            assert lib.search(basis(0), k=2)[0].score == pytest.approx(1.0, abs=1e-5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "vectors: is a file, not a folder" in warnings[0], warnings
    assert folder_snapshot(root) == before
