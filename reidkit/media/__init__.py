"""Read videos and image folders as streams of :class:`~reidkit.core.types.Frame`.

* :func:`open_media` -> :class:`MediaSource` (``fps``, ``frame_count``, ``duration``, ``width``,
  ``height``, ``frames(stride)``) for any video FFmpeg reads and any still image;
* :func:`read_image` -> ``HxWx3 uint8 BGR`` whatever the image mode (gray, alpha, palette, 16-bit);
* :func:`iter_media_files` expands folders (:func:`scan_media`: skipping what it cannot list); :func:`is_video` / :func:`is_image` go by suffix;
* :func:`content_hash` is the sha256 a library uses to skip files it already holds.

Everything a user can fix raises :class:`~reidkit.core.errors.MediaError`.
"""

from reidkit.media.files import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    MediaScan,
    content_hash,
    is_image,
    is_media,
    is_video,
    iter_media_files,
    scan_media,
)
from reidkit.media.image import read_image
from reidkit.media.source import MediaSource, open_media

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "MediaScan",
    "MediaSource",
    "content_hash",
    "is_image",
    "is_media",
    "is_video",
    "iter_media_files",
    "open_media",
    "read_image",
    "scan_media",
]
