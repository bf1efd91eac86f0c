"""Removing media: rows, vectors, thumbnails and footage scores go; search, readers and a kill agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import reidkit.api as rk
from reidkit.cli import main
from reidkit.core.errors import LibraryError
from reidkit.index.library import Library
from tests.index.test_library import DIM, basis, make_tracklet, media


def three_files(root: Path) -> Library:
    lib = Library.create_or_open(root, "fake", DIM)
    lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0)), make_tracklet(2, basis(1))])
    lib.add_media(media("b.mp4", "b" * 64), [make_tracklet(1, basis(2)), make_tracklet(2, basis(3))])
    lib.add_media(media("c.mp4", "c" * 64), [make_tracklet(1, basis(4))])
    return lib


def thumbnails(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "thumbs").rglob("*") if p.is_file())


def test_remove_media_deletes_rows_vectors_and_thumbnails(tmp_path: Path) -> None:
    lib = three_files(tmp_path)
    footage_before = lib.footage_scores()
    removed = lib.remove_media("/videos/b.mp4")
    assert removed is not None and removed.sha256 == "b" * 64
    assert [m.path for m in lib.media_list()] == ["/videos/a.mp4", "/videos/c.mp4"]
    assert len(lib) == 3 and not lib.has_media("b" * 64)
    assert thumbnails(tmp_path) == sorted([f"{'a' * 64}_1.jpg", f"{'a' * 64}_2.jpg", f"{'c' * 64}_1.jpg"])
    assert all(h.media.path != "/videos/b.mp4" for h in lib.search(basis(2), k=10))
    assert len(lib.search(basis(2), k=10)) == 3
    footage = lib.footage_scores()
    assert footage.positives.count == footage_before.positives.count - 2  # one crop pair per tracklet
    assert lib.remove_media("/videos/b.mp4") is None  # already gone
    lib.close()
    reader = Library.open(tmp_path)  # the removal is what a later reader sees
    assert len(reader) == 3 and all(h.media.path != "/videos/b.mp4" for h in reader.search(basis(3), k=5))
    reader.close()


def test_removed_file_can_be_indexed_again(tmp_path: Path) -> None:
    with three_files(tmp_path) as lib:
        assert lib.remove_media(lib.media_id("c" * 64) or -1) is not None
        lib.add_media(media("c.mp4", "c" * 64), [make_tracklet(1, basis(4))])
        hit = lib.search(basis(4), k=1)[0]
        assert hit.media.path == "/videos/c.mp4" and hit.score == pytest.approx(1.0, abs=1e-5)
        assert (tmp_path / hit.tracklet.thumbnail).is_file()


def test_removing_every_file_leaves_an_empty_library(tmp_path: Path) -> None:
    with three_files(tmp_path) as lib:
        for m in lib.media_list():
            lib.remove_media(m.id)
        assert len(lib) == 0 and thumbnails(tmp_path) == []
        with pytest.raises(LibraryError, match="library is empty"):
            lib.search(basis(0), k=3)
        footage = lib.footage_scores()
        assert footage.positives.count == 0 and footage.negatives.count == 0


def test_a_reader_open_during_a_removal_never_returns_a_removed_file(tmp_path: Path) -> None:
    writer = three_files(tmp_path)
    reader = Library.open(tmp_path)
    assert reader.search(basis(2), k=1)[0].media.path == "/videos/b.mp4"
    writer.remove_media("/videos/b.mp4")
    assert all(h.media.path != "/videos/b.mp4" for h in reader.search(basis(2), k=10))
    reader.close()
    writer.close()


def test_api_remove_by_path_and_by_content(tmp_path: Path) -> None:
    three_files(tmp_path / "lib").close()
    removed = rk.remove(["/videos/a.mp4", 3], tmp_path / "lib")
    assert sorted(r.path for r in removed) == ["/videos/a.mp4", "/videos/c.mp4"]
    with Library.open(tmp_path / "lib") as lib:
        assert [m.path for m in lib.media_list()] == ["/videos/b.mp4"]


def test_api_remove_refuses_an_unknown_file_before_removing_any(tmp_path: Path) -> None:
    three_files(tmp_path / "lib").close()
    with pytest.raises(
        LibraryError, match=r"not in the library: /videos/nope.mp4.*nothing was removed"
    ) as err:
        rk.remove(["/videos/a.mp4", "/videos/nope.mp4"], tmp_path / "lib")
    assert "\n" not in str(err.value)
    with Library.open(tmp_path / "lib") as lib:
        assert len(lib.media_list()) == 3


def test_remove_a_file_by_its_content_after_it_moved(tmp_path: Path) -> None:
    video = tmp_path / "moved.mp4"
    video.write_bytes(b"some video bytes")
    from reidkit.media import content_hash

    with Library.create_or_open(tmp_path / "lib", "fake", DIM) as lib:
        lib.add_media(media("old-name.mp4", content_hash(video)), [make_tracklet(1, basis(0))])
    assert [r.path for r in rk.remove(video, tmp_path / "lib")] == ["/videos/old-name.mp4"]


def test_cli_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    three_files(tmp_path / "lib").close()
    assert main(["remove", "/videos/a.mp4", "/videos/b.mp4", "--library", str(tmp_path / "lib")]) == 0
    out = capsys.readouterr().out
    assert "removed /videos/a.mp4" in out and "2 removed (4 tracklets)" in out
    assert main(["remove", "/videos/a.mp4", "--library", str(tmp_path / "lib")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not in the library: /videos/a.mp4" in err and err.count("\n") == 1
    assert main(["remove", "x.mp4", "--library", str(tmp_path / "nolib")]) == 2
    assert "not a library" in capsys.readouterr().err


def test_cli_remove_run_again_after_an_interruption_finishes_the_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three_files(tmp_path / "lib").close()
    assert main(["remove", "/videos/a.mp4", "--library", str(tmp_path / "lib")]) == 0  # "killed" after one
    code = main(["remove", "/videos/a.mp4", "/videos/c.mp4", "--library", str(tmp_path / "lib")])
    captured = capsys.readouterr()
    assert code == 1 and "removed /videos/c.mp4" in captured.out
    assert (
        captured.err.startswith("skipped: ")
        and "/videos/a.mp4" in captured.err
        and captured.err.count("\n") == 1
    )
    with Library.open(tmp_path / "lib") as lib:
        assert [m.path for m in lib.media_list()] == ["/videos/b.mp4"]


def test_remove_refuses_a_reader(tmp_path: Path) -> None:
    three_files(tmp_path).close()
    with Library.open(tmp_path) as lib, pytest.raises(LibraryError, match="read-only"):
        lib.remove_media(1)


def test_kill_between_removal_commit_and_thumbnail_delete_is_finished_by_next_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = three_files(tmp_path)

    def die(self: Library) -> None:
        raise KeyboardInterrupt("killed after the commit")

    monkeypatch.setattr(Library, "_delete_pending_files", die)
    with pytest.raises(KeyboardInterrupt):
        lib.remove_media("/videos/a.mp4")
    lib.close()
    monkeypatch.undo()
    assert len(thumbnails(tmp_path)) == 5  # the thumbnails of a.mp4 are still there
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        assert [m.path for m in lib.media_list()] == ["/videos/b.mp4", "/videos/c.mp4"]
        assert thumbnails(tmp_path) == sorted([f"{'b' * 64}_1.jpg", f"{'b' * 64}_2.jpg", f"{'c' * 64}_1.jpg"])
        assert np.allclose(lib.search(basis(4), k=1)[0].score, 1.0, atol=1e-5)
