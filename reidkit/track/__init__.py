"""reidkit.track: link per-frame detections into tracks and tracklets.

- :class:`ByteTracker` / :class:`TrackerConfig`: ByteTrack-style IoU + Kalman tracker (``core.types.Tracker``).
- :class:`TrackletBuilder`: per-frame tracks -> :class:`~reidkit.core.types.Tracklet` objects.
- :mod:`reidkit.track.mot`: MOTChallenge text files (``write_mot``, ``read_mot``, ``validate_mot_file``).
- :mod:`reidkit.track.video`: the ``reidkit track`` loop (``track_media``, ``track_detections``).
- :mod:`reidkit.track.metrics`: IDF1 / MOTA / HOTA against ground truth (development dependencies).
"""

from reidkit.track.byte_tracker import ByteTracker, TrackerConfig, TrackState
from reidkit.track.kalman import KalmanFilter
from reidkit.track.mot import MotFormatError, read_mot, tracks_to_mot, validate_mot_file, write_mot
from reidkit.track.tracklets import TrackletBuilder

__all__ = [
    "ByteTracker",
    "KalmanFilter",
    "MotFormatError",
    "TrackState",
    "TrackerConfig",
    "TrackletBuilder",
    "read_mot",
    "tracks_to_mot",
    "validate_mot_file",
    "write_mot",
]
