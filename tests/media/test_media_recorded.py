"""When a video was recorded: read from its own metadata, never guessed."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.media import open_media
from reidkit.media.image import read_image
from reidkit.media.recorded import (
    iso_utc,
    parse_timestamp,
    read_photo_taken_at,
    read_recorded_at,
    recorded_at,
)
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


def exif_payload(order: str, taken: bytes, zone: bytes | None, tag: int = 0x9003) -> bytes:
    """An Exif block as cameras write it: ``Exif\\0\\0``, then IFD0 (orientation, a pointer to the Exif
    IFD), then the Exif IFD holding the time as ASCII."""
    entries = [(tag, 2, len(taken), taken)] + ([(0x9011, 2, len(zone), zone)] if zone else [])
    exif_at = 8 + 2 + 2 * 12 + 4  # the Exif IFD right after IFD0
    data_at = exif_at + 2 + 12 * len(entries) + 4  # then the values too long to sit inline
    ifd0 = struct.pack(order + "H", 2) + struct.pack(order + "HHIHH", 0x0112, 3, 1, 1, 0)
    ifd0 += struct.pack(order + "HHII", 0x8769, 4, 1, exif_at) + struct.pack(order + "I", 0)
    exif, values = struct.pack(order + "H", len(entries)), b""
    for number, kind, count, value in entries:
        exif += struct.pack(order + "HHII", number, kind, count, data_at + len(values))
        values += value
    tiff = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8) + ifd0
    return b"Exif\0\0" + tiff + exif + struct.pack(order + "I", 0) + values


def jpeg_with_exif(
    order: str, taken: bytes, zone: bytes | None, tag: int = 0x9003, image: np.ndarray | None = None
) -> bytes:
    """A real JPEG (OpenCV's, with its JFIF segment first) given an Exif segment (:func:`exif_payload`)."""
    ok, encoded = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8) if image is None else image)
    assert ok
    payload = exif_payload(order, taken, zone, tag)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    jpeg = encoded.tobytes()
    jfif_end = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:jfif_end] + app1 + jpeg[jfif_end:]


def test_a_photo_says_when_it_was_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def taken(name: str, jpeg: bytes) -> float | None:
        path = tmp_path / name
        path.write_bytes(jpeg)
        assert read_image(path).shape == (16, 16, 3)  # still an image OpenCV reads
        assert read_recorded_at(path) == read_photo_taken_at(path)
        return read_photo_taken_at(path)

    phone = jpeg_with_exif("<", b"2023:11:15 00:13:20\0", b"+02:00\0")
    assert taken("phone.jpg", phone) == RECORDED
    assert taken("motorola.jpg", jpeg_with_exif(">", b"2023:11:14 17:13:20\0", b"-05:00\0")) == RECORDED
    digitized = jpeg_with_exif("<", b"2023:11:14 22:13:20\0", None, tag=0x9004)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:  # no time zone written: the camera's clock, read in this machine's zone
        assert taken("digitized.jpg", digitized) == RECORDED
    finally:
        monkeypatch.undo()
        time.tzset()
    assert taken("unset.jpg", jpeg_with_exif("<", b"0000:00:00 00:00:00\0", None)) is None
    assert taken("plain.jpg", cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes()) is None
    segment_end = phone.index(b"+02:00") + 7  # the zone is the last value of the segment
    for cut in range(phone.index(b"2023:11:15") + 20):  # cut before the time: unknown, never an exception
        (tmp_path / "cut.jpg").write_bytes(phone[:cut])
        assert read_photo_taken_at(tmp_path / "cut.jpg") is None
    (tmp_path / "cut.jpg").write_bytes(phone[: segment_end + 10])  # cut in its pixels: the time is there
    assert read_photo_taken_at(tmp_path / "cut.jpg") == RECORDED
    png = tmp_path / "photo.png"
    cv2.imwrite(str(png), np.zeros((8, 8, 3), np.uint8))
    assert read_photo_taken_at(png) is None and read_photo_taken_at(tmp_path / "gone.jpg") is None


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_a_png_or_webp_photo_says_when_it_was_taken_from_its_exif(tmp_path: Path, suffix: str) -> None:
    from PIL import Image

    picture = Image.fromarray(np.full((16, 16, 3), 128, np.uint8))
    stamped, plain = tmp_path / f"phone{suffix}", tmp_path / f"plain{suffix}"
    picture.save(stamped, exif=exif_payload(">", b"2023:11:14 17:13:20\0", b"-05:00\0"))
    picture.save(plain)
    assert read_image(stamped).shape == (16, 16, 3)
    assert read_photo_taken_at(stamped) == read_recorded_at(stamped) == RECORDED
    assert read_photo_taken_at(plain) is None and read_recorded_at(plain) is None
    (tmp_path / f"cut{suffix}").write_bytes(stamped.read_bytes()[:40])  # damaged: unknown, no exception
    assert read_photo_taken_at(tmp_path / f"cut{suffix}") is None
    renamed = tmp_path / "phone.jpg"  # the bytes say what it is, not the name
    renamed.write_bytes(stamped.read_bytes())
    assert read_photo_taken_at(renamed) == RECORDED
