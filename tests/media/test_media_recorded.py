"""When a video was recorded: read from its own metadata, never guessed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reidkit.media import open_media
from reidkit.media.recorded import iso_utc, parse_timestamp, read_recorded_at, recorded_at
from reidkit.media.source import OpenCVVideo

RECORDED = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2023-11-14T22:13:20.000000Z", RECORDED),  # FFmpeg's creation_time
        ("2023-11-14T22:13:20Z", RECORDED),
        ("2023-11-15T00:13:20+0200", RECORDED),  # Apple's creationdate: local time and its offset
        ("2023-11-14T17:13:20-05:00", RECORDED),
        ("2023-11-14 22:13:20", RECORDED),  # no offset: the mp4 header's time is UTC
        ("1904-01-01T00:00:00.000000Z", None),  # a header left at zero
        ("1970-01-01T00:00:00Z", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_timestamps_are_read_as_utc_or_unknown(text: str, seconds: float | None) -> None:
    assert parse_timestamp(text) == seconds


def test_the_phone_s_local_time_is_trusted_before_the_header() -> None:
    tags = {
        "creation_time": "2023-11-14T23:00:00Z",
        "com.apple.quicktime.creationdate": "2023-11-15T00:13:20+0200",
    }
    assert recorded_at(tags) == RECORDED
    assert (
        recorded_at({"creation_time": "1904-01-01T00:00:00Z"}, {"creation_time": "2023-11-14T22:13:20Z"})
        == RECORDED
    )
    assert recorded_at({}, {}) is None
    assert iso_utc(RECORDED + 0.25) == "2023-11-14T22:13:20.250Z"


def _write(path: Path, metadata: dict[str, str]) -> Path:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as out:
        out.metadata.update(metadata)
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(5):
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="bgr24")
            ):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_a_video_says_when_it_was_recorded(tmp_path: Path) -> None:
    stamped = _write(tmp_path / "cam.mp4", {"creation_time": "2023-11-14T22:13:20.000000Z"})
    plain = _write(tmp_path / "plain.mp4", {})
    assert open_media(stamped).recorded_at == read_recorded_at(stamped) == RECORDED
    assert open_media(plain).recorded_at is None and read_recorded_at(plain) is None
    assert read_recorded_at(tmp_path / "gone.mp4") is None
    assert OpenCVVideo(stamped).recorded_at is None  # OpenCV does not read metadata: unknown, not wrong
