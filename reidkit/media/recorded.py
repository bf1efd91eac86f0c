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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

RECORDED_KEYS = ("com.apple.quicktime.creationdate", "creation_time")
# Earlier dates are headers left at zero (1904-01-01 or 1970-01-01), not recordings.
EARLIEST_RECORDING = datetime(1980, 1, 1, tzinfo=timezone.utc).timestamp()
_BASIC_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


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
    """A video file's recording start from its metadata alone (nothing decoded); None when unknown,
    unreadable or gone."""
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            return recorded_at(dict(container.metadata), dict(streams[0].metadata) if streams else {})
    except Exception:
        return None


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
