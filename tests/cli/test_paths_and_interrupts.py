"""Folders where files belong, and Ctrl-C: one clear line each, no traceback, no internal names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reidkit.cli import main
from reidkit.index import indexer
from reidkit.index.indexer import FileReport


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_track_to_an_out_that_is_a_folder(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not read: the --out check comes first")
    assert main(["track", str(video), "-o", str(tmp_path)]) == 2
    line = one_line(capfd.readouterr().err)
    assert line.startswith(f"error: {tmp_path}: --out is a folder") and "clip.txt" in line


def test_track_of_a_folder(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "img"
    folder.mkdir()
    assert main(["track", str(folder), "-o", str(tmp_path / "t.txt")]) == 2
    line = one_line(capfd.readouterr().err)
    assert line.startswith(f"error: {folder}: is a folder") and "reidkit index" in line
    assert "iter_media_files" not in line


def test_ctrl_c_during_index_says_how_many_files_are_in_and_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def interrupted_run(paths: list[Path], library: Path, *, on_file: Any, **_: Any) -> None:
        on_file(FileReport("a.jpg", "indexed", kind="image", tracklets=1))
        on_file(FileReport("b.jpg", "skipped", kind="image", message="already in the library"))
        on_file(FileReport("c.jpg", "indexed", kind="image", tracklets=2))
        raise KeyboardInterrupt

    monkeypatch.setattr(indexer, "index_media", interrupted_run)
    assert main(["index", str(tmp_path), "--library", str(tmp_path / "lib"), "-q"]) == 130
    line = one_line(capfd.readouterr().err)
    assert line == "interrupted: 2 files indexed; run the same command again to index the rest"
