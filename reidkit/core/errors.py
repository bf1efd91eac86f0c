"""One error type for everything a user can fix.

Every user-facing failure (bad media, a missing model file, an empty library, ...) raises
:class:`ReidkitError` with a one-line message that names the file and says what to do. The CLI prints
``error: <message>`` and exits with status 2 instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class ReidkitError(Exception):
    """A problem the user can fix; the message is one line naming the file and the fix."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        parts = [f"{path}: {message}" if path is not None else message]
        if hint:
            parts.append(hint)
        super().__init__(" — ".join(parts))
        self.message = message  # without the path and the hint, for an error that wraps this one
        self.path = None if path is None else str(path)
        self.hint = hint


class MediaError(ReidkitError):
    """A media file cannot be read (missing, empty, truncated, not a video or image)."""


class ModelError(ReidkitError):
    """A model file is missing, corrupt, or not the model it claims to be."""


class LibraryError(ReidkitError):
    """A library folder is missing, empty, or was built with another model."""


class DatasetError(ReidkitError):
    """A dataset root is missing or not in the documented layout."""
