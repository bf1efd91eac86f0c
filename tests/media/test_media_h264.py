from pathlib import Path

import numpy as np
import pytest

from reidkit.media.h264 import display_indices

av = pytest.importorskip("av")

N, W, H = 40, 64, 48


def _raw_stream(path: Path, x264_params: str) -> Path:
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"x264-params": x264_params} if x264_params else {}
        for i in range(N):
            image = rng.integers(0, 40, (H, W, 3), dtype=np.uint8)
            image[:, i : i + 4] = 255
            if i == 25:  # a scene cut: a new group of pictures mid-way
                image[:] = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode(None))
    return path


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def _decoder_order(path: Path) -> list[int | None]:
    """What FFmpeg's decoder shows: each packet's frame index in display order, by decoding them all."""
    shown = []
    with av.open(str(path)) as container:
        numbered = 0
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                packet.pts, numbered = numbered, numbered + 1
            shown.extend(frame.pts for frame in packet.decode())
    indices: list[int | None] = [None] * numbered
    for index, at in enumerate(shown):
        indices[at] = index
    return indices


@pytest.mark.parametrize(
    "x264_params",
    [
        "",  # x264's defaults: 3 B frames in a pyramid, POC type 0
        "bframes=0",  # no reordering: POC type 2
        "bframes=3:b-pyramid=none",
        "bframes=8:keyint=10:min-keyint=1",  # several IDR pictures: the count starts over at each
        "slices=4",  # a picture in several slices
        "interlaced=1",  # MBAFF: frame pictures with field macroblocks
        "cabac=0:weightp=2:weightb=1",
    ],
)
def test_display_order_from_slice_headers_is_the_decoders(tmp_path: Path, x264_params: str) -> None:
    path = _raw_stream(tmp_path / "raw.264", x264_params)
    got = display_indices(_packets(path))
    assert got is not None
    assert got == _decoder_order(path)


def test_b_frames_make_the_order_differ_from_the_decoding_order(tmp_path: Path) -> None:
    # Otherwise the test above would not tell a reader that numbers frames by packet from a real one.
    indices = display_indices(_packets(_raw_stream(tmp_path / "raw.264", "")))
    assert indices is not None and indices != sorted(indices)  # type: ignore[type-var]


def test_streams_it_cannot_follow_give_none(tmp_path: Path) -> None:
    packets = _packets(_raw_stream(tmp_path / "raw.264", ""))
    assert display_indices(packets[1:]) is None  # starts after its IDR picture: no parameter sets
    assert display_indices([packets[0], packets[1], packets[1]]) is None  # two pictures, one order count
    assert display_indices([b"\x00\x00\x01\x65" + b"\xff" * 40]) is None  # a slice with no parameter sets
    assert display_indices([b"\x00\x00\x01\x67\x64\x00\x1f" + b"\x00" * 8]) is None  # garbage SPS
