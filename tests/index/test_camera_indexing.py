"""Indexing a camera: its segments indexed one by one as they are finished, into one library."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reidkit.cli import main
from reidkit.core.errors import MediaError
from reidkit.index.camera import camera_folder, index_camera
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
