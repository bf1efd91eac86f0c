"""The library of indexed media (SQLite + vector shards + thumbnails) and the pipeline that fills it."""

from reidkit.index.indexer import FileReport, IndexOptions, IndexReport, index_media
from reidkit.index.library import (
    Library,
    MediaRecord,
    NewMedia,
    NewTracklet,
    TrackletHit,
    TrackletRecord,
)

__all__ = [
    "FileReport",
    "IndexOptions",
    "IndexReport",
    "Library",
    "MediaRecord",
    "NewMedia",
    "NewTracklet",
    "TrackletHit",
    "TrackletRecord",
    "index_media",
]
