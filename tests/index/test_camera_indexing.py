"""Indexing a camera: its segments indexed one by one as they are finished, into one library."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from reidkit.cli import main
from reidkit.core.errors import MediaError, ReidkitError
from reidkit.index.camera import camera_folder, expired_segments, index_camera
from reidkit.index.library import Library
from tests.conftest import shared_path
from tests.index.test_indexer import BlobDetector, ColourEmbedder, write_scene
from tests.media.test_media_camera import FakeCapture


def test_each_segment_is_indexed_as_it_is_finished(tmp_path: Path) -> None:
    video = write_scene(tmp_path / "door.mp4", n_frames=40, fps=10.0)
    seen: list[str] = []
    report = index_camera(
        str(video),
        tmp_path / "lib",
        name="Front door",
        segment_seconds=2.0,
        detector=BlobDetector(),
        model=ColourEmbedder(),
        stride=1,
        on_file=lambda f: seen.append(Path(f.path).name),
    )
    folder = camera_folder(tmp_path / "lib", "Front door")
    assert folder == tmp_path / "lib" / "cameras" / "front-door"
    assert sorted(seen) == sorted(p.name for p in folder.glob("*.mp4")) and len(seen) == 2
    assert all(name.startswith("front-door-") for name in seen)
    assert [f.status for f in report.files] == ["indexed", "indexed"]
    with Library.open(tmp_path / "lib") as library:
        media = library.media_list()
        assert sorted(Path(m.path).name for m in media) == sorted(seen)
        # The red walker is in every frame of both segments, the blue one in the first 25 frames.
        assert len(library.tracklets()) >= 3


def test_a_camera_gone_for_good_is_raised_after_its_segments_are_indexed(tmp_path: Path, monkeypatch) -> None:
    import cv2

    streams = [FakeCapture(12)]
    monkeypatch.setattr(
        cv2, "VideoCapture", lambda _s: streams.pop(0) if streams else FakeCapture(0, opened=False)
    )
    with pytest.raises(MediaError, match="1 reconnection failed"):
        index_camera(
            "rtsp://cam/1",
            tmp_path / "lib",
            segment_seconds=1.0,
            detector=BlobDetector(),
            model=ColourEmbedder(),
            reconnect_attempts=1,
            stop=threading.Event(),
        )
    with Library.open(tmp_path / "lib") as library:
        assert len(library.media_list()) == 2  # 10 frames, then the 2 before the stream dropped


def test_cli_watch_records_and_indexes_a_camera(tmp_path: Path, capsys) -> None:
    shared_path("models", "yolox_nano_416x416.onnx")  # the default detector: skips without ../shared
    video = shared_path("data", "videos", "people-detection.264")
    code = main(
        [
            "watch",
            str(video),
            "--library",
            str(tmp_path / "lib"),
            "--name",
            "corner",
            "--segment-seconds",
            "12",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 segments indexed" in out and out.count("corner-") >= 2


def _age(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_segments_older_than_the_kept_hours_leave_the_library_and_the_disk(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    options = dict(
        name="door", segment_seconds=2.0, detector=BlobDetector(), model=ColourEmbedder(), stride=1
    )
    first = index_camera(str(write_scene(tmp_path / "a.mp4", n_frames=20)), lib, **options)  # type: ignore[arg-type]
    old = Path(first.indexed[0].path)
    _age(old, 30)
    folder = camera_folder(lib, "door")
    assert expired_segments(folder, 24) == [old] and expired_segments(folder, 48) == []
    (folder / ".being-written.mp4").touch()  # a hidden file is never a finished segment
    _age(folder / ".being-written.mp4", 30)
    # Another clip: a segment with the same content as the first would be skipped as already indexed.
    second = index_camera(str(write_scene(tmp_path / "b.mp4", n_frames=15)), lib, keep_hours=24, **options)  # type: ignore[arg-type]
    new = Path(second.indexed[0].path)
    assert not old.exists() and new.is_file() and (folder / ".being-written.mp4").exists()
    with Library.open(lib) as library:
        assert [Path(m.path) for m in library.media_list()] == [new]
    with pytest.raises(ReidkitError, match="more than 0"):
        expired_segments(folder, 0)
