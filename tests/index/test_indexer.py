"""index_media on a synthetic video and image, with a colour-blob detector and a colour embedder."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from reidkit.core.errors import MediaError
from reidkit.core.types import Detections
from reidkit.index.indexer import FileReport, IndexOptions, default_stride, index_media
from reidkit.index.library import Library
from tests.media.test_media_recorded import jpeg_with_exif

BACKGROUND = 128
RED, BLUE, GREEN = (40, 40, 220), (220, 60, 40), (50, 200, 50)
SIZE = (320, 240)


class BlobDetector:
    """Finds the coloured rectangles on the grey background: a detector with perfect recall."""

    name = "blobs"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.calls += 1
        mask = (np.abs(image.astype(np.int16) - BACKGROUND).sum(axis=2) > 90).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, area in stats[1:n] if area > 200]
        if not boxes:
            return Detections.empty()
        return Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.9, np.float32))


class ColourEmbedder:
    """Appearance = the mean colour of the crop's centre: a 3-D embedder that needs no model."""

    name = "colour-test"
    dim = 3

    def __init__(self) -> None:
        self.crops = 0
        self.calls = 0

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        self.calls += 1
        self.crops += len(crops)
        rows = []
        for crop in crops:
            h, w = crop.shape[:2]
            centre = crop[h // 4 : 3 * h // 4 + 1, w // 4 : 3 * w // 4 + 1].reshape(-1, 3).mean(0)
            rows.append(centre - BACKGROUND / 2)
        out = np.array(rows, np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def draw(canvas: np.ndarray, x: float, y: int, colour: tuple[int, int, int]) -> None:
    cv2.rectangle(canvas, (round(x), y), (round(x) + 30, y + 80), colour, thickness=-1)


def write_scene(path: Path, n_frames: int = 40, fps: float = 10.0) -> Path:
    """Red walks left to right along the top for the whole clip; blue right to left below, frames 10-34."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE)
    assert writer.isOpened()
    for i in range(n_frames):
        canvas = np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)
        draw(canvas, 10 + 6 * i, 20, RED)
        if 10 <= i < 35:
            draw(canvas, 280 - 5 * (i - 10), 140, BLUE)
        writer.write(canvas)
    writer.release()
    return path


def write_still(path: Path) -> Path:
    canvas = np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)
    draw(canvas, 40, 60, GREEN)
    draw(canvas, 200, 100, RED)
    cv2.imwrite(str(path), canvas)
    return path


def query(colour: tuple[int, int, int]) -> np.ndarray:
    return ColourEmbedder().embed([np.full((80, 30, 3), colour, np.uint8)])[0]


def test_default_stride_targets_a_few_frames_per_second() -> None:
    # Restates the tuned TARGET_PROCESSED_FPS (5 per second); what it pins is the rounding and the
    # fallback to every frame for an unknown rate.
    assert [default_stride(f) for f in (10, 25, 30, 60, 0, float("nan"))] == [2, 5, 6, 12, 1, 1]


def test_index_video_image_and_bad_file(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    write_scene(media / "walk.mp4")
    write_still(media / "still.png")
    (media / "broken.mp4").write_bytes(b"\x00\x00\x00 not a video" * 50)
    detector, embedder = BlobDetector(), ColourEmbedder()
    seen: list[FileReport] = []
    report = index_media(
        media,
        tmp_path / "lib",
        detector=detector,
        model=embedder,
        options=IndexOptions(),
        on_file=seen.append,
    )
    by_name = {Path(f.path).name: f for f in report.files}
    assert len(seen) == 3 and set(by_name) == {"walk.mp4", "still.png", "broken.mp4"}
    assert by_name["broken.mp4"].status == "failed" and "broken.mp4" in by_name["broken.mp4"].message

    video = by_name["walk.mp4"]
    assert video.status == "indexed" and video.tracklets == 2 and video.stride == 2
    assert video.frames_processed == 20 and detector.calls == 21  # every 2nd frame + the still image
    assert video.boxes == 20 + 13  # red in all processed frames, blue in frames 10, 12, ..., 34
    assert 28 <= video.tracked_boxes <= 33  # less the frames before a track is confirmed
    assert video.crops_embedded == 3 + 2 and video.embed_calls == 1  # both tracklets in one batch
    assert video.realtime_factor > 0 and video.times.detect > 0

    lib = Library.open(tmp_path / "lib")
    assert lib.model == "colour-test" and len(lib) == 4
    red = next(h for h in lib.search(query(RED), k=4) if h.media.kind == "video")
    assert red.score > 0.95 and red.media.fps == 10.0 and red.media.frame_count == 40
    assert red.tracklet.start_frame <= 2 and red.tracklet.end_frame == 38
    assert red.tracklet.end == pytest.approx(3.8)
    assert red.tracklet.n_crops == 3 and lib.crop_vectors(red.tracklet.id).shape == (3, 3)  # 20 boxes / 8
    assert cv2.imread(str(lib.root / red.tracklet.thumbnail)) is not None
    box = red.tracklet.boxes[red.tracklet.frames.tolist().index(red.tracklet.best_frame)]
    assert np.allclose(box, red.tracklet.best_box)
    blue = lib.search(query(BLUE), k=1)[0]
    assert blue.media.kind == "video" and 10 <= blue.tracklet.start_frame <= 12
    assert blue.tracklet.end_frame == 34
    green = lib.search(query(GREEN), k=1)[0]
    assert green.media.kind == "image" and green.tracklet.start == green.tracklet.end == 0.0
    assert green.tracklet.frames.tolist() == [0] and green.tracklet.boxes.shape == (1, 4)
    lib.close()

    again = index_media(media, tmp_path / "lib", detector=BlobDetector(), model=embedder)
    assert [f.status for f in again.files if f.status != "failed"] == ["skipped", "skipped"]


def test_a_file_whose_name_is_not_utf8_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    import os

    media = tmp_path / "media"
    media.mkdir()
    write_still(media / "still.png")
    latin1 = Path(os.fsdecode(bytes(media) + b"/caf\xe9.mp4"))  # a name from an old camera's card
    write_scene(tmp_path / "walk.mp4").rename(latin1)  # (encoders take no such name: OpenCV crashes)
    detector = BlobDetector()
    report = index_media(media, tmp_path / "lib", detector=detector, model=ColourEmbedder())
    (bad,) = [f for f in report.files if f.status == "failed"]
    assert "caf\\xe9.mp4: its name is not valid UTF-8" in bad.message and "rename the file" in bad.message
    assert detector.calls == 1  # the still only: the video was never decoded
    # The library was not made worse: the next run adds to it (after the file is renamed).
    latin1.rename(media / "cafe.mp4")
    again = index_media(media, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder())
    assert sorted(f.status for f in again.files) == ["indexed", "skipped"]


def test_a_library_inside_the_indexed_folder_is_not_indexed_into_itself(tmp_path: Path) -> None:
    footage = tmp_path / "footage"
    footage.mkdir()
    write_scene(footage / "walk.mp4")
    first = index_media(footage, footage / "lib", detector=BlobDetector(), model=ColourEmbedder())
    assert [f.status for f in first.files] == ["indexed"]
    assert list((footage / "lib").rglob("*.jpg"))  # its thumbnails: photos of the people in it
    again = index_media(footage, footage / "lib", detector=BlobDetector(), model=ColourEmbedder())
    assert [(Path(f.path).name, f.status) for f in again.files] == [("walk.mp4", "skipped")]
    with pytest.raises(MediaError, match="reidkit library folders are not indexed"):
        index_media(footage / "lib", tmp_path / "other", detector=BlobDetector(), model=ColourEmbedder())


def test_a_clip_too_short_to_track_gives_its_people_as_a_photo_would(tmp_path: Path) -> None:
    clip = write_scene(tmp_path / "blink.mp4", n_frames=2)  # one processed frame: no track confirmed
    report = index_media(clip, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder())
    (only,) = report.files
    assert only.status == "indexed" and only.frames_processed == 1 and only.tracklets == 1
    with Library.open(tmp_path / "lib") as lib:
        (red,) = lib.tracklets()
        assert red.frames.tolist() == [0] and lib.search(query(RED), k=1)[0].score > 0.95
    # A clip long enough to track keeps its tracker's answer, even when that is nobody.
    longer = write_scene(tmp_path / "walk.mp4", n_frames=40)
    assert (
        index_media(longer, tmp_path / "lib2", detector=BlobDetector(), model=ColourEmbedder())
        .files[0]
        .tracklets
        == 2
    )


def test_a_file_that_changes_while_it_is_indexed_is_not_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reidkit.index.indexer import MediaAnalyser

    video = write_scene(tmp_path / "growing.mp4")
    analyse = MediaAnalyser.analyse

    def still_being_copied(self: MediaAnalyser, path: Path, sha: str | None = None):  # type: ignore[no-untyped-def]
        analysis = analyse(self, path, sha)
        with open(path, "ab") as fh:  # the copy goes on while the indexer reads
            fh.write(b"\0" * 1000)
        return analysis

    monkeypatch.setattr(MediaAnalyser, "analyse", still_being_copied)
    (growing,) = index_media(video, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder()).files
    assert growing.status == "failed" and "changed while it was being indexed" in growing.message
    monkeypatch.undo()
    (complete,) = index_media(video, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder()).files
    assert complete.status == "indexed"
    with Library.open(tmp_path / "lib") as lib:
        assert len(lib.media_list()) == 1  # the complete file, once


def test_a_file_whose_content_changed_replaces_what_the_library_held_for_it(tmp_path: Path) -> None:
    clip = tmp_path / "door.png"
    write_still(clip)  # green and red
    index_media(clip, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder())
    canvas = np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)
    draw(canvas, 100, 80, BLUE)  # the same file name, now blue alone
    cv2.imwrite(str(clip), canvas)
    (report,) = index_media(clip, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder()).files
    assert report.status == "indexed" and "earlier content was replaced" in report.message
    with Library.open(tmp_path / "lib") as lib:
        (only,) = lib.media_list()
        assert Path(only.path).name == "door.png" and len(lib) == 1
        assert lib.search(query(BLUE), k=1)[0].score > 0.95  # what the file shows now, not red or green


def test_a_moved_file_is_followed_and_a_second_copy_is_not_added(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    clip = write_scene(tmp_path / "old" / "walk.mp4")
    index_media(clip, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder())
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(clip.read_bytes())
    (again,) = index_media(copy, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder()).files
    assert again.message == "already in the library"  # the first copy is still there: kept as it was
    moved = tmp_path / "new" / "walk.mp4"
    moved.parent.mkdir()
    clip.rename(moved)  # the footage folder was moved
    (found,) = index_media(moved, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder()).files
    assert found.status == "skipped" and "which is gone: now found here" in found.message
    with Library.open(tmp_path / "lib") as lib:
        (only,) = lib.media_list()
        assert Path(only.path) == moved.resolve()
        assert Path(lib.search(query(RED), k=1)[0].media.path) == moved.resolve()


def test_stride_and_prefetch(tmp_path: Path) -> None:
    video = write_scene(tmp_path / "walk.mp4")
    options = IndexOptions(prefetch=4, min_tracklet_length=2)
    report = index_media(
        video, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder(), stride=2, options=options
    )
    (only,) = report.files
    assert only.status == "indexed" and only.frames_processed == 20 and only.tracklets == 2
    frames = Library.open(tmp_path / "lib").tracklets()[0].frames
    assert np.all(frames % 2 == 0)


@pytest.mark.shared
def test_detector_built_by_name_takes_the_input_side_option() -> None:
    from reidkit.index.indexer import build_analyser
    from tests.conftest import shared_path

    shared_path("models", "yolox_nano_416x416.onnx")
    default = build_analyser("yolox-nano", ColourEmbedder(), options=IndexOptions())
    larger = build_analyser("yolox-nano", ColourEmbedder(), options=IndexOptions(detect_input_side=960))
    for analyser, side in ((default, 640), (larger, 960)):
        # The still-image detector is built on first use: build it to see its settings too.
        image_detector = getattr(analyser.detector, "built", analyser.detector)
        for detector in (*analyser.video_detectors, image_detector):
            assert detector.input_side == side  # type: ignore[attr-defined]
            assert detector.conf == pytest.approx(0.1)  # type: ignore[attr-defined]  # tracker's track_low


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The onnxruntime threads of every session a YOLOX detector creates."""
    import reidkit.detect.yolox

    threads: list[int] = []
    create = reidkit.detect.yolox.create_session

    def spy(model: Any, n: int | None = None) -> Any:
        threads.append(n or 0)
        return create(model, n)

    monkeypatch.setattr(reidkit.detect.yolox, "create_session", spy)
    return threads


def test_a_detector_named_loads_one_session_for_videos_and_one_for_images_only_when_one_comes(
    tmp_path: Path, sessions: list[int]
) -> None:
    """A run of short clips must not pay for detectors it never uses: the video threads share one
    single-threaded session, and the detector for still images (on every core) waits for an image."""
    from reidkit.index.indexer import build_analyser
    from tests.detect.test_detect_input_side import _write_model

    pytest.importorskip("onnx")
    model = _write_model(tmp_path / "tiny.onnx", fully_convolutional=True)
    analyser = build_analyser(model, ColourEmbedder(), options=IndexOptions(progress=False), threads=2)
    try:
        assert sessions == [1]
        first, second = analyser.video_detectors
        assert first is second
        video = analyser.analyse(write_scene(tmp_path / "walk.mp4"))
        assert video.report.status == "indexed" and video.report.frames_detected > 0
        assert sessions == [1]
        image = analyser.analyse(write_still(tmp_path / "still.png"))
        assert image.report.status == "indexed"
        assert sessions == [1, 2]
        analyser.analyse(write_still(tmp_path / "again.png"))
        assert sessions == [1, 2]
    finally:
        analyser.close()
    one_core = build_analyser(model, ColourEmbedder(), options=IndexOptions(progress=False), threads=1)
    assert one_core.detector is one_core.video_detectors[0]  # the same settings: the same detector
    assert sessions == [1, 2, 1]


def test_a_tracker_from_the_factory_sets_when_tracklets_end(tmp_path: Path) -> None:
    from tests.index.fakes import OverlapTracker

    video = write_scene(tmp_path / "walk.mp4")
    report = index_media(
        video,
        tmp_path / "lib",
        detector=BlobDetector(),
        model=ColourEmbedder(),
        stride=1,
        options=IndexOptions(min_tracklet_length=2),
        tracker_factory=lambda: OverlapTracker(buffer=3),
    )
    (only,) = report.files
    assert only.status == "indexed" and only.tracklets == 2  # red and blue, each followed throughout


def stamp(video: Path, creation_time: str) -> None:
    """Rewrite ``video`` (same packets) with the recording time a camera writes into its header."""
    av = pytest.importorskip("av")
    stamped = video.with_name("stamped-" + video.name)
    with av.open(str(video)) as source, av.open(str(stamped), "w") as out:
        out.metadata["creation_time"] = creation_time
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    stamped.replace(video)


def test_recording_times_are_kept_and_an_older_library_gets_them(tmp_path: Path) -> None:
    """The indexer stores when a video was recorded or a photo taken; a library made before the column
    reads as 'unknown' until its next writer adds the column and reads the times from the files once."""
    media = tmp_path / "media"
    media.mkdir()
    stamp(write_scene(media / "walk.mp4"), "2023-11-14T22:13:20.000000Z")
    write_still(media / "still.png")
    still = cv2.imread(str(media / "still.png"))
    (media / "phone.jpg").write_bytes(jpeg_with_exif("<", b"2023:11:15 00:20:00\0", b"+02:00\0", image=still))
    index_media(media, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder())
    every = {"walk.mp4": 1_700_000_000.0, "still.png": None, "phone.jpg": 1_700_000_400.0}

    def recorded(lib: Library) -> dict[str, float | None]:
        return {Path(m.path).name: m.recorded_at for m in lib.media_list()}

    with Library.open(tmp_path / "lib") as lib:
        assert recorded(lib) == every
        assert {Path(h.media.path).name: h.media.recorded_at for h in lib.search(query(RED), k=6)} == every
    conn = sqlite3.connect(tmp_path / "lib" / "library.sqlite")
    conn.execute("ALTER TABLE media DROP COLUMN recorded_at")  # the table as an older reidkit made it
    conn.commit()
    conn.close()
    with Library.open(tmp_path / "lib") as reader:
        assert recorded(reader) == dict.fromkeys(every)
        Library.create_or_open(tmp_path / "lib", model="colour-test", dim=3).close()
        assert recorded(reader) == every  # seen by a reader open meanwhile
    with Library.open(tmp_path / "lib") as lib:
        assert recorded(lib) == every
