"""When a video was recorded, from its own metadata: the clock time of its first frame.

Only what the container says counts; a file's name and its file-system times say when it was copied.
The keys, most trusted first:

* ``com.apple.quicktime.creationdate``: phones write local time with its offset
  (``2023-05-01T12:34:56+0200``);
* ``creation_time``: the mp4/mov header's time, UTC by the format's definition (FFmpeg writes it as
  ``2017-09-26T16:57:49.000000Z``; ``reidkit watch`` writes it for every camera segment). Encoders that
  transcode a file may have reset it to the time of encoding, so a file's recorded time is what the
  file says, not a proof.

Zero dates (1904 or 1970: the header's "unset") and unparseable text mean unknown (None).

A photo's time is its EXIF ``DateTimeOriginal`` (``DateTimeDigitized`` when that is missing), with
``OffsetTimeOriginal`` where the camera wrote its time zone (phones do); without one it is the
camera's own clock, read in this machine's time zone, so it shows as the camera showed it. EXIF is read
from JPEG (its first 128 KiB, parsed here), PNG (the ``eXIf`` chunk) and WebP (its ``EXIF`` chunk; both
found by Pillow, nothing decoded); other formats' photos have no recorded time.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

RECORDED_KEYS = ("com.apple.quicktime.creationdate", "creation_time")
# Earlier dates are headers left at zero (1904-01-01 or 1970-01-01), not recordings.
EARLIEST_RECORDING = datetime(1980, 1, 1, tzinfo=timezone.utc).timestamp()
_BASIC_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
_JPEG_MAGIC = b"\xff\xd8"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EXIF_READ = 1 << 17  # the Exif segment comes before the image data and is at most 64 KiB
_EXIF_IFD, _DATE_ORIGINAL, _DATE_DIGITIZED = 0x8769, 0x9003, 0x9004
_OFFSET_OF = {_DATE_ORIGINAL: 0x9011, _DATE_DIGITIZED: 0x9012}  # OffsetTimeOriginal / -Digitized


def recorded_at(*metadata: Mapping[str, str]) -> float | None:
    """The recording's start (UTC seconds since the epoch) from metadata dicts, container first."""
    for key in RECORDED_KEYS:
        for tags in metadata:
            value = tags.get(key)
            if value:
                seconds = parse_timestamp(value)
                if seconds is not None:
                    return seconds
    return None


def read_recorded_at(path: str | Path) -> float | None:
    """When a video started recording, or a JPEG photo was taken, from the file's metadata alone
    (nothing decoded); None when unknown, unreadable or gone."""
    head = _head(path)
    if head is None:
        return None
    if _is_photo(head):
        return _photo_taken_at(path, head)
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            return recorded_at(dict(container.metadata), dict(streams[0].metadata) if streams else {})
    except Exception:
        return None


def read_photo_taken_at(path: str | Path) -> float | None:
    """When a still image was taken: its EXIF time (JPEG, PNG, WebP); None for other formats or when it
    says none."""
    head = _head(path)
    return _photo_taken_at(path, head) if head is not None and _is_photo(head) else None


def _is_photo(head: bytes) -> bool:
    """A format whose EXIF is read (by its first bytes, not its name)."""
    return head.startswith((_JPEG_MAGIC, _PNG_MAGIC)) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _photo_taken_at(path: str | Path, head: bytes) -> float | None:
    if head.startswith(_JPEG_MAGIC):
        return exif_recorded_at(head)
    from PIL import Image

    try:
        with Image.open(path) as image:  # reads the chunks before the pixels; decodes nothing
            raw = image.info.get("exif")
    except Exception:  # unreadable or damaged: unknown, as for any file that says nothing
        return None
    if not isinstance(raw, bytes):
        return None
    return tiff_recorded_at(raw.removeprefix(b"Exif\0\0"))


def _head(path: str | Path) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read(_EXIF_READ)
    except OSError:
        return None


def exif_recorded_at(jpeg: bytes) -> float | None:
    """When a JPEG's photo was taken (UTC epoch seconds) from the start of its bytes; None when it
    says nothing readable."""
    tiff = _exif_segment(jpeg)
    return None if tiff is None else tiff_recorded_at(tiff)


def tiff_recorded_at(tiff: bytes) -> float | None:
    """When a photo was taken (UTC epoch seconds) from its EXIF data (a TIFF structure: byte order, IFD0
    and the Exif IFD it points to); None when it says nothing readable."""
    if tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    try:
        ifd0 = _ifd(tiff, order, struct.unpack_from(order + "I", tiff, 4)[0])
        exif_ifd = ifd0.get(_EXIF_IFD)
        if exif_ifd is None:
            return None
        tags = _ifd(tiff, order, struct.unpack_from(order + "I", exif_ifd)[0])
    except struct.error:
        return None
    for tag in (_DATE_ORIGINAL, _DATE_DIGITIZED):
        when = _exif_time(tags.get(tag), tags.get(_OFFSET_OF[tag]))
        if when is not None:
            return when
    return None


def _exif_segment(jpeg: bytes) -> bytes | None:
    """The TIFF structure inside a JPEG's APP1 ``Exif`` segment, if there is one before the image."""
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF:
        marker = jpeg[at + 1]
        if marker == 0xDA:  # start of scan: the metadata segments are over
            return None
        (length,) = struct.unpack_from(">H", jpeg, at + 2)
        body = jpeg[at + 4 : at + 2 + length]
        if marker == 0xE1 and body.startswith(b"Exif\0\0"):
            return body[6:]
        at += 2 + length
    return None


def _ifd(tiff: bytes, order: str, offset: int) -> dict[int, bytes]:
    """An image file directory: tag -> its raw value (inline or pointed to), bytes as stored."""
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}  # bytes per value of each TIFF type
    tags = {}
    for i in range(min(count, 512)):
        tag, kind, n = struct.unpack_from(order + "HHI", tiff, offset + 2 + 12 * i)
        size = sizes.get(kind, 1) * n
        start = offset + 2 + 12 * i + 8
        if size > 4:
            (start,) = struct.unpack_from(order + "I", tiff, start)
        if start + size <= len(tiff):
            tags[tag] = tiff[start : start + size]
    return tags


def _exif_time(value: bytes | None, offset: bytes | None) -> float | None:
    """``2023:11:15 00:13:20`` (+ ``+02:00``) -> UTC epoch seconds; no offset: this machine's zone."""
    if not value:
        return None
    text = value.split(b"\0")[0].decode("ascii", "replace").strip()
    try:
        when = datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
        if when.timestamp() < EARLIEST_RECORDING:  # naive: read in the local time zone
            return None
    except (ValueError, OverflowError, OSError):  # not a time, or one the platform cannot place
        return None
    zone = offset.split(b"\0")[0].decode("ascii", "replace").strip() if offset else ""
    aware = parse_timestamp(when.isoformat() + zone) if zone else None
    return when.timestamp() if aware is None else aware


def parse_timestamp(text: str) -> float | None:
    """An ISO 8601 time as UTC epoch seconds; a time without an offset is UTC (the mp4 header's rule)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _BASIC_OFFSET.sub(r"\1:\2", text)  # +0200 -> +02:00 (Python 3.10 reads only the latter)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds = when.timestamp()
    return seconds if seconds >= EARLIEST_RECORDING else None


def iso_utc(seconds: float) -> str:
    """``2017-09-26T16:57:49.400Z``: milliseconds, UTC (what JSON and browsers read)."""
    when = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def iso_utc_or_none(seconds: float | None) -> str | None:
    """:func:`iso_utc`, or None for an unknown time (JSON's null)."""
    return None if seconds is None else iso_utc(seconds)


def local_text(seconds: float) -> str:
    """``2017-09-26 18:57:49``: the time on this machine's clock, to the second, for people to read."""
    return datetime.fromtimestamp(round(seconds)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
