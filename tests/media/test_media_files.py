import errno
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from reidkit.core.errors import MediaError
from reidkit.media import content_hash, is_image, is_video, iter_media_files, scan_media


def test_suffixes_decide_kind() -> None:
    assert is_video("a/b.MP4") and is_video("x.264") and is_video("x.mkv")
    assert is_image("p.JPG") and is_image("p.png") and is_image("p.tiff")
    assert not is_video("p.jpg") and not is_image("v.mp4") and not is_image("notes.txt")


def test_iter_media_files_sorted_recursive_and_deduplicated(tmp_path: Path) -> None:
    for name in ["b.jpg", "a.mp4", "c.txt", ".hidden.jpg", "sub/z.png", "sub/a.264", ".git/x.jpg"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = iter_media_files([tmp_path, tmp_path / "b.jpg"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.mp4", "b.jpg", "sub/a.264", "sub/z.png"]
    flat = iter_media_files(tmp_path, recursive=False)
    assert [p.name for p in flat] == ["a.mp4", "b.jpg"]
    # A file named explicitly is kept whatever its suffix (FFmpeg may still read it).
    assert iter_media_files(tmp_path / "c.txt") == [tmp_path / "c.txt"]


def test_iter_media_files_missing_path(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        iter_media_files([tmp_path / "nope"])


def test_content_hash_is_sha256_of_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert content_hash(path) == hashlib.sha256(data).hexdigest()
    assert content_hash(path, chunk_size=7) == hashlib.sha256(data).hexdigest()
    with pytest.raises(MediaError):
        content_hash(tmp_path / "missing.mp4")


def test_scan_skips_a_symlink_loop_and_reports_it(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "sub" / "b.jpg").write_bytes(b"x")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    scan = scan_media(tmp_path)
    assert [p.name for p in scan.files] == ["a.jpg", "b.jpg"]
    (problem,) = scan.problems
    assert str(tmp_path / "sub" / "loop") in str(problem) and "symlink loop" in str(problem)
    with pytest.raises(MediaError, match="symlink loop"):
        iter_media_files(tmp_path)


def test_scan_skips_a_folder_it_cannot_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "hidden.jpg").write_bytes(b"x")
    (tmp_path / "a.jpg").write_bytes(b"x")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:  # what chmod 000 does, also for root (who ignores permissions)
        if Path(path).name == "locked":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    scan = scan_media(tmp_path)
    assert [p.name for p in scan.files] == ["a.jpg"]
    (problem,) = scan.problems
    assert str(tmp_path / "locked") in str(problem) and "Permission denied" in str(problem)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_scan_skips_a_chmod_000_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "hidden.jpg").write_bytes(b"x")
    (tmp_path / "a.jpg").write_bytes(b"x")
    locked.chmod(0)
    try:
        scan = scan_media(tmp_path)
    finally:
        locked.chmod(0o755)
    assert [p.name for p in scan.files] == ["a.jpg"] and len(scan.problems) == 1


def test_a_broken_link_is_one_problem_and_the_rest_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "moved.mp4").symlink_to(tmp_path / "on-a-disk-now-unmounted.mp4")
    (tmp_path / "notes").symlink_to(tmp_path / "nothing")  # not media by its name: ignored like a .txt
    scan = scan_media(tmp_path)
    assert [p.name for p in scan.files] == ["a.jpg"]
    (problem,) = scan.problems
    assert "moved.mp4" in str(problem) and "broken link" in str(problem) and "\n" not in str(problem)


def test_folders_to_skip_are_not_walked_named_or_found(tmp_path: Path) -> None:
    (tmp_path / "lib" / "thumbs").mkdir(parents=True)
    (tmp_path / "lib" / "thumbs" / "a_1.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    skip = lambda folder: folder.name == "lib"  # noqa: E731
    assert [p.name for p in scan_media(tmp_path, skip_folder=skip).files] == ["b.jpg"]
    assert scan_media(tmp_path / "lib", skip_folder=skip).files == []
    assert len(scan_media(tmp_path).files) == 2  # without the rule: both


def test_a_pipe_named_explicitly_says_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match="not a regular file"):
        scan_media(fifo)


def test_photo_formats_that_cannot_be_read_are_each_one_problem_and_gifs_are_videos(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.HEIC", "c.dng", "d.gif", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    scan = scan_media(tmp_path)
    assert [p.name for p in scan.files] == ["a.jpg", "d.gif"] and is_video(tmp_path / "d.gif")
    problems = sorted(str(p) for p in scan.problems)
    assert len(problems) == 2 and "b.HEIC: HEIC photos are not read" in problems[0]
    assert "convert it to JPEG or PNG" in problems[0] and "c.dng: raw photos are not read" in problems[1]
