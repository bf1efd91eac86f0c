"""The library of indexed media (SQLite + Faiss + thumbnails) and the pipeline that fills it."""

from reidkit.index.library import (
    Library,
    MediaRecord,
    NewMedia,
    NewTracklet,
    TrackletHit,
    TrackletRecord,
)

__all__ = ["Library", "MediaRecord", "NewMedia", "NewTracklet", "TrackletHit", "TrackletRecord"]
