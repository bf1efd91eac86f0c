import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from reidkit.core.errors import MediaError
from reidkit.media import open_media
from reidkit.media.source import OpenCVVideo, PyAVVideo
from tests.conftest import shared_path
from tests.synthetic import decompression_bomb_png

N_FRAMES, FPS, W, H = 30, 10.0, 64, 48


def _frame(i: int) -> np.ndarray:
    # A bright bar whose position encodes the frame index, robust to lossy compression.
    image = np.zeros((H, W, 3), np.uint8)
    image[:, 2 * i : 2 * i + 4] = 255
    return image


def _bar_position(image: np.ndarray) -> int:
    return int(np.argmax(image.mean(axis=(0, 2)) > 128)) // 2


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "synthetic.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    for i in range(N_FRAMES):
        writer.write(_frame(i))
    writer.release()
    return path


def test_mp4_properties_and_frames(mp4: Path) -> None:
    source = open_media(mp4)
    assert isinstance(source, PyAVVideo)
    assert (source.kind, source.width, source.height) == ("video", W, H)
    assert source.fps == pytest.approx(FPS)
    assert source.frame_count == N_FRAMES
    assert source.duration == pytest.approx(N_FRAMES / FPS)
    frames = list(source.frames())
    assert [f.index for f in frames] == list(range(N_FRAMES))
    assert [f.time for f in frames] == pytest.approx([i / FPS for i in range(N_FRAMES)])
    for f in frames:
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
        assert _bar_position(f.image) == f.index


@pytest.mark.parametrize("backend", [PyAVVideo, OpenCVVideo])
def test_stride_yields_every_nth_frame(mp4: Path, backend: type) -> None:
    source = backend(mp4)
    frames = list(source.frames(stride=4))
    assert [f.index for f in frames] == list(range(0, N_FRAMES, 4))
    assert [_bar_position(f.image) for f in frames] == [f.index for f in frames]
    assert frames[1].time == pytest.approx(4 / FPS)
    with pytest.raises(ValueError):
        next(source.frames(stride=0))


def test_raw_h264_stream_without_container_timing(tmp_path: Path) -> None:
    import av

    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(N_FRAMES):
            frame = av.VideoFrame.from_ndarray(_frame(i), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    source = open_media(path)
    assert source.fps == pytest.approx(25.0)
    assert source.frame_count == N_FRAMES  # counted from packets: the header has no count
    assert source.duration == pytest.approx(N_FRAMES / 25.0)
    frames = list(source.frames(stride=3))
    assert [f.index for f in frames] == list(range(0, N_FRAMES, 3))
    assert [f.time for f in frames] == pytest.approx([i / 25.0 for i in range(0, N_FRAMES, 3)])


def _one_line(error: pytest.ExceptionInfo[MediaError], path: Path) -> None:
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_empty_text_and_truncated_files(mp4: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("these are my notes, not a video\n" * 20)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])  # mp4v writes moov last: lost
    cases = [(tmp_path / "missing.mp4", "no such file"), (empty, "empty"), (text, "cannot read video"),
             (truncated, "cannot read video")]  # fmt: skip
    for path, message in cases:
        with pytest.raises(MediaError, match=message) as info:
            open_media(path)
        _one_line(info, path)


def test_video_with_zero_decodable_frames(mp4: Path, tmp_path: Path) -> None:
    data = bytearray(mp4.read_bytes())
    start = data.index(b"mdat") + 4
    end = data.index(b"moov") - 4
    data[start:end] = np.random.default_rng(0).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    path = tmp_path / "garbage_frames.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="cannot read video") as info:
        open_media(path)
    _one_line(info, path)


def test_corrupt_middle_is_skipped_and_the_rest_decoded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Noise frames make large packets, so garbage in the middle breaks a packet instead of being concealed.
    rng = np.random.default_rng(0)
    clean = tmp_path / "noise.mp4"
    writer = cv2.VideoWriter(str(clean), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    for _ in range(N_FRAMES):
        writer.write(rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
    writer.release()
    data = bytearray(clean.read_bytes())
    start, end = data.index(b"mdat") + 4, data.index(b"moov") - 4  # the frame data
    middle = (start + end) // 2
    data[middle : middle + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    source = open_media(path)
    assert source.frame_count == N_FRAMES  # what the header says, before decoding
    with caplog.at_level(logging.INFO, logger="reidkit"):
        frames = list(source.frames())
    ((first, last),) = source.lost_frames
    assert 0 < first <= last < N_FRAMES - 1  # frames after the damage were decoded
    indices = [f.index for f in frames]
    assert indices == [i for i in range(N_FRAMES) if not first <= i <= last]  # indices skip the gap
    assert frames[-1].time == pytest.approx((N_FRAMES - 1) / FPS)  # times are those of the intact file
    assert source.decoded_frames is None  # not cut short
    assert source.frame_count == N_FRAMES
    assert any("unreadable" in r.getMessage() for r in caplog.records)


def test_rotation_tag_turns_frames_upright(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = H, W, "yuv420p"  # stored sideways
        stream.set_display_rotation(90)  # a player turns it 90° counter-clockwise: upright
        for i in range(N_FRAMES):
            sideways = cv2.rotate(_frame(i), cv2.ROTATE_90_CLOCKWISE)
            for packet in stream.encode(av.VideoFrame.from_ndarray(sideways, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    for backend in (PyAVVideo, OpenCVVideo):
        source = backend(path)
        assert (source.width, source.height) == (W, H), backend.__name__
        frames = list(source.frames())
        assert frames[0].image.shape == (H, W, 3), backend.__name__
        assert [_bar_position(f.image) for f in frames] == list(range(N_FRAMES)), backend.__name__


def test_video_with_absurd_dimensions_is_refused_before_decoding(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "bomb.mov"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = 16, 16, "gray"  # FFmpeg's encoder refuses 40000
        # 144 MP per frame: under FFmpeg's own limit, over reidkit's
        for i in range(3):
            packet = av.Packet(decompression_bomb_png(12000, 12000))
            packet.stream, packet.pts, packet.dts = stream, i, i
            out.mux(packet)
    # The sample description's width and height (two 16-bit fields 28 bytes after the codec tag) are
    # what a demuxer reports before decoding: make them say what the frames hold.
    data = bytearray(path.read_bytes())
    at = data.index(b"png ", data.index(b"stsd")) + 28
    data[at : at + 4] = (12000).to_bytes(2, "big") * 2
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="12000x12000 pixels") as info:
        open_media(path)
    _one_line(info, path)
    assert "downscale" in str(info.value)


def test_shared_raw_h264_and_mp4() -> None:
    raw = open_media(shared_path("data", "videos", "people-detection.264"))
    assert (raw.width, raw.height, raw.fps, raw.frame_count) == (768, 432, 25.0, 596)
    assert raw.duration == pytest.approx(596 / 25)
    times = [f.time for f in raw.frames(stride=100)]
    assert times == pytest.approx([i / 25 for i in range(0, 596, 100)])
    mp4 = open_media(shared_path("data", "videos", "one-by-one-person-detection.mp4"))
    assert (mp4.width, mp4.height, mp4.fps, mp4.frame_count) == (768, 432, 10.0, 1394)
    first = next(mp4.frames())
    assert first.image.shape == (432, 768, 3)


def test_opencv_fallback_reads_raw_h264() -> None:
    source = OpenCVVideo(shared_path("data", "videos", "people-detection.264"))
    assert source.fps == 25.0 and source.frame_count == 596
    frames = list(source.frames(stride=200))
    assert [f.index for f in frames] == [0, 200, 400]
    assert frames[1].time == pytest.approx(8.0)


# x264 with B frames in a pyramid, as cameras' and phones' encoders write them: some B frames are
# referred to by others, the rest by none (those a strided pass need not decode).
B_FRAMES = {"x264-params": "bframes=3:b-pyramid=normal:keyint=15:min-keyint=15:scenecut=0"}


def _write_h264(path: Path, images: list[np.ndarray], rotation: int | None = None) -> Path:
    import av

    height, width = images[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = B_FRAMES
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for image in images:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module", params=["mp4", "mkv"])
def b_frames(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("b_frames") / f"b_frames.{request.param}"
    return _write_h264(path, [_frame(i) for i in range(N_FRAMES)])


def test_b_frame_fixture_has_frames_nothing_refers_to(b_frames: Path) -> None:
    import av

    with av.open(str(b_frames)) as container:
        stream = container.streams.video[0]
        types = [frame.pict_type for frame in container.decode(stream)]
    with av.open(str(b_frames)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        referred_to = sum(1 for _ in container.decode(stream))
    assert (
        av.video.frame.PictureType.B in types and referred_to < N_FRAMES
    )  # otherwise the tests below would show nothing


@pytest.mark.parametrize("stride", [2, 3, 4])
def test_stride_skips_decoding_unwanted_frames_and_yields_the_same(b_frames: Path, stride: int) -> None:
    source = open_media(b_frames)
    assert isinstance(source, PyAVVideo)
    counted = list(source._decode_counting(stride))  # every frame decoded, numbered by count
    assert source.pictures_decoded == N_FRAMES
    frames = list(source.frames(stride))
    assert source.pictures_decoded is not None and source.pictures_decoded < N_FRAMES  # skipped some
    assert [f.index for f in frames] == list(range(0, N_FRAMES, stride))
    assert [_bar_position(f.image) for f in frames] == [f.index for f in frames]
    assert [f.time for f in frames] == pytest.approx([f.index / FPS for f in frames])
    assert [(f.index, f.time) for f in frames] == [(f.index, f.time) for f in counted]
    for skipped, decoded in zip(frames, counted, strict=True):  # nothing refers to the skipped ones
        assert np.array_equal(skipped.image, decoded.image)
    assert source.lost_frames == () and source.decoded_frames is None
    assert source.frame_count == N_FRAMES


def test_stride_one_decodes_every_frame(b_frames: Path) -> None:
    source = open_media(b_frames)
    assert isinstance(source, PyAVVideo)
    frames = list(source.frames())
    assert source.pictures_decoded == N_FRAMES
    assert [f.index for f in frames] == list(range(N_FRAMES))
    assert [_bar_position(f.image) for f in frames] == list(range(N_FRAMES))


def _write_raw_h264(path: Path, packets_from: Path, drop: int = 0) -> Path:
    """The H.264 packets of ``packets_from`` as a raw stream without timestamps, less the first ``drop``."""
    import av

    with av.open(str(packets_from)) as container, av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream_from_template(container.streams.video[0])
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
        for packet in packets[drop:]:
            packet.stream = stream
            out.mux(packet)
    return path


def test_raw_h264_at_a_stride_skips_frames_by_their_slice_headers(tmp_path: Path) -> None:
    # No timestamps: the picture order counts in the slice headers say which frame each packet holds.
    mp4 = _write_h264(tmp_path / "b.mp4", [_frame(i) for i in range(N_FRAMES)])
    source = open_media(_write_raw_h264(tmp_path / "raw.264", mp4))
    assert isinstance(source, PyAVVideo)
    counted = list(source._decode_counting(3))
    frames = list(source.frames(stride=3))
    assert source.pictures_decoded is not None and source.pictures_decoded < N_FRAMES
    assert [f.index for f in frames] == list(range(0, N_FRAMES, 3))
    assert [f.time for f in frames] == pytest.approx([f.index / 25.0 for f in frames])  # the raw default
    assert [_bar_position(f.image) for f in frames] == [f.index for f in frames]
    assert [(f.index, f.time) for f in frames] == [(f.index, f.time) for f in counted]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, counted, strict=True))


def test_raw_h264_not_starting_at_an_idr_picture_is_decoded_whole(tmp_path: Path) -> None:
    # Cut after its first picture, the stream's order counts refer to pictures that are not there:
    # frames are numbered by counting what the decoder lets out, and none may be skipped (a skipped
    # frame would shift the index of every frame after it).
    mp4 = _write_h264(tmp_path / "b.mp4", [_frame(i) for i in range(N_FRAMES)])
    source = open_media(_write_raw_h264(tmp_path / "cut.264", mp4, drop=1))
    assert isinstance(source, PyAVVideo)
    assert source._display_order() is None
    every = list(source.frames())
    frames = list(source.frames(stride=3))
    assert source.pictures_decoded == len(every)
    assert [f.index for f in frames] == list(range(0, len(every), 3))
    assert [f.index for f in frames] == [f.index for f in every[::3]]


def test_damaged_b_frame_stream_at_a_stride_keeps_every_index_exact(tmp_path: Path) -> None:
    # Noise makes large packets, so garbage in the middle breaks packets instead of being concealed;
    # a bar on a wider picture still tells which frame it is. Four groups of pictures (keyint 15).
    n, width = 60, 128
    rng = np.random.default_rng(0)
    images = []
    for i in range(n):
        image = rng.integers(0, 100, (H, width, 3), dtype=np.uint8)
        image[:, 2 * i : 2 * i + 4] = 255
        images.append(image)
    clean = _write_h264(tmp_path / "noise.mp4", images)
    data = bytearray(clean.read_bytes())
    start = data.index(b"mdat") + 4
    end = data.index(b"moov") if b"moov" in data[start:] else len(data)
    middle = (start + end) // 2
    data[middle : middle + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    source = open_media(path)
    every = list(source.frames())
    lost_whole = source.lost_frames
    assert lost_whole and lost_whole[0][0] > 0 and lost_whole[-1][1] < n - 15  # the last group is intact
    lost = {i for first, last in lost_whole for i in range(first, last + 1)}
    assert [f.index for f in every] == [i for i in range(n) if i not in lost]
    assert [f.time for f in every] == pytest.approx([f.index / FPS for f in every])
    strided = list(source.frames(stride=2))
    lost_strided = {i for first, last in source.lost_frames for i in range(first, last + 1)}
    assert lost_strided and lost_strided <= lost  # no intact frame is said to be lost
    assert [f.index for f in strided] == [i for i in range(0, n, 2) if i not in lost_strided]
    assert [f.time for f in strided] == pytest.approx([f.index / FPS for f in strided])
    next_group = (max(lost) // 15 + 1) * 15  # from its keyframe on, pictures are intact again
    after = [f for f in strided if f.index >= next_group]
    assert after and [_bar_position(f.image) for f in after] == [f.index for f in after]
    assert source.decoded_frames is None and source.frame_count == n


def test_rotation_tag_turns_strided_h264_frames_upright(tmp_path: Path) -> None:
    sideways = [cv2.rotate(_frame(i), cv2.ROTATE_90_CLOCKWISE) for i in range(N_FRAMES)]
    source = open_media(_write_h264(tmp_path / "phone.mp4", sideways, rotation=90))
    assert (source.width, source.height) == (W, H)
    frames = list(source.frames(stride=2))
    assert frames[0].image.shape == (H, W, 3)
    assert [_bar_position(f.image) for f in frames] == list(range(0, N_FRAMES, 2))


def test_raw_h264_whose_headers_are_misread_is_numbered_by_counting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A raw stream using what reidkit.media.h264 does not follow (an order count reset, MMCO 5) gives
    it a wrong display order. Where the decoder lets frames out in another order, the pass goes on by
    counting: from there on the frames are those of decoding everything. Between the first misread
    frame and that point a frame may be missing or carry a misread neighbour's index."""
    from reidkit.media import h264

    mp4 = _write_h264(tmp_path / "b.mp4", [_frame(i) for i in range(N_FRAMES)])
    raw = _write_raw_h264(tmp_path / "raw.264", mp4)
    real = h264.display_indices
    swapped: list[int] = []

    def misread(packets: Any) -> list[int | None] | None:
        indices = real(packets)
        assert indices is not None
        wrong = list(indices)
        at = [i for i in range(len(wrong) // 2, len(wrong)) if wrong[i] is not None][:2]
        wrong[at[0]], wrong[at[1]] = wrong[at[1]], wrong[at[0]]
        swapped.extend(int(wrong[i]) for i in at)  # type: ignore[arg-type]
        return wrong

    monkeypatch.setattr(h264, "display_indices", misread)
    source = open_media(raw)
    assert isinstance(source, PyAVVideo)
    with caplog.at_level(logging.WARNING, logger="reidkit.media.source"):
        frames = [(f.index, _bar_position(f.image)) for f in source.frames(stride=3)]
    assert "decoding every frame" in caplog.text
    indices = [index for index, _ in frames]
    assert indices == sorted(set(indices)) and all(index % 3 == 0 for index in indices)
    # Right again once counting took over: every frame past the misread ones, each with its own index.
    after = [(index, shown) for index, shown in frames if index > max(swapped)]
    assert after == [(i, i) for i in range(0, N_FRAMES, 3) if i > max(swapped)]
    # Before: right up to the first misread frame; the frames between it and the fallback may be
    # mislabelled or missing (their skip decisions used the misread order).
    assert [(i, s) for i, s in frames if i < min(swapped)] == [(i, i) for i in range(0, min(swapped), 3)]
    assert source.lost_frames == ()
    assert [(f.index, _bar_position(f.image)) for f in source.frames(stride=3)] == [
        (i, i) for i in range(0, N_FRAMES, 3)
    ]  # the next pass counts from the start


def test_hevc_at_a_stride_skips_frames_and_yields_the_same(tmp_path: Path) -> None:
    """HEVC is in the skipping set too: phones record it."""
    import av

    if "libx265" not in av.codecs_available:
        pytest.skip("this PyAV build has no libx265 encoder to write an HEVC test video")
    path = tmp_path / "hevc.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = _frame(0).shape[1], _frame(0).shape[0], "yuv420p"
        stream.options = {"preset": "ultrafast", "x265-params": "bframes=3:keyint=15:log-level=error"}
        for i in range(N_FRAMES):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(_frame(i), format="bgr24")))
        out.mux(stream.encode(None))
    source = open_media(path)
    assert isinstance(source, PyAVVideo)
    counted = list(source._decode_counting(3))
    frames = list(source.frames(stride=3))
    assert source.pictures_decoded is not None and source.pictures_decoded < N_FRAMES
    assert [(f.index, f.time) for f in frames] == [(f.index, f.time) for f in counted]
    assert [f.index for f in frames] == list(range(0, N_FRAMES, 3))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, counted, strict=True))
