"""The Python API in two calls::

import reidkit.api as rk
rk.index(["videos/", "photos/"], "lib/")        # detect, track, embed, store
rk.watch("rtsp://cam/stream", "lib/", name="door")  # record a camera, index each segment when done
result = rk.find_person("me.jpg", "lib/")        # every moment that person appears
for m in result.moments:
    print(m.media, m.start, m.end, m.score)
rk.write_report(result, "report/")              # report/index.html
for person in rk.people("lib/"):                 # who is in the footage, across files
    print(person.id, person.visits, person.videos, person.seconds)
rk.adapt("lib/")                                 # the model adapted to lib/'s cameras (needs torch)
rk.remove(["videos/cam1.mp4"], "lib/")           # delete a file's tracklets, vectors and thumbnails
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reidkit.search import Moment, SearchResult, write_report
from reidkit.search import find_person as _find_person
from reidkit.search.people import Person
from reidkit.search.people import people as _people

if TYPE_CHECKING:
    from reidkit.index.library import Library

__all__ = [
    "Moment",
    "Person",
    "SearchResult",
    "adapt",
    "find_person",
    "index",
    "people",
    "remove",
    "watch",
    "write_report",
]


def index(paths: str | Path | Sequence[str | Path], library: str | Path, **options: Any) -> Any:
    """Index videos, images or folders of them into ``library`` (created when missing).

    Options are those of :func:`reidkit.index.indexer.index_media` (``detector``, ``model``,
    ``stride``, ...); files already in the library are skipped.
    """
    from reidkit.index.indexer import index_media

    if isinstance(paths, (str, Path)):
        paths = [paths]
    return index_media(list(paths), library, **options)


def watch(camera: str, library: str | Path, **options: Any) -> Any:
    """Record ``camera`` (a stream URL, a device number or a video file) into ``library`` in segments
    and index each as it is finished, until the camera is gone, the file ends or ``stop`` (a
    ``threading.Event`` option) is set. Options are those of :func:`reidkit.index.camera.index_camera`
    (``name``, ``segment_seconds``, ``detector``, ``model``, ``stride``, ...)."""
    from reidkit.index.camera import index_camera

    return index_camera(camera, library, **options)


def find_person(
    photo: str | Path,
    library: str | Path | Library,
    top: int = 20,
    box: Sequence[float] | None = None,
    **options: Any,
) -> SearchResult:
    """Every moment the person in ``photo`` appears in ``library``, best first.

    ``box=(x1, y1, x2, y2)`` picks the person when the photo shows several; ``min_score=`` drops weak
    matches. See :func:`reidkit.search.find_person` for the other options.
    """
    return _find_person(photo, library, top=top, box=box, **options)


def people(library: str | Path | Library) -> list[Person]:
    """The people in ``library``'s footage, by first appearance: each with its visits as moments.

    See :mod:`reidkit.search.people` for how visits are clustered into people.
    """
    return _people(library)


def adapt(library: str | Path, **options: Any) -> Any:
    """Adapt ``library``'s model to its own footage and judge the library's verdicts with it; returns
    the report.

    Options are those of :func:`reidkit.adapt.adapt_library` (``output``, ``config``, ``apply``). Needs
    the ``train`` extra (torch), imported only here.
    """
    from reidkit.adapt import adapt_library

    return adapt_library(library, **options)


def remove_camera_light(library: str | Path, **options: Any) -> Any:
    """Remove the cameras' light from ``library``'s vectors when some stands out (the first step of
    :func:`adapt`, without training and without torch); returns the report.

    Options are those of :func:`reidkit.adapt.remove_camera_light` (``output``, ``config``).
    """
    from reidkit.adapt import remove_camera_light as remove_light

    return remove_light(library, **options)


def remove(
    files: str | Path | int | Sequence[str | Path | int], library: str | Path, *, missing_ok: bool = False
) -> list[Any]:
    """Delete files from ``library``: each one's tracklets, vectors and thumbnails, atomically per file.

    A file is named by the path it was indexed from, by a file with the same content (its hash is
    looked up) or by its media id. Returns the removed :class:`~reidkit.index.library.MediaRecord` s;
    a file the library does not hold raises :class:`~reidkit.core.errors.LibraryError` before anything
    is removed, unless ``missing_ok`` (it is then skipped).
    """
    from reidkit.index.library import Library
    from reidkit.index.removal import remove_files

    named = [files] if isinstance(files, (str, Path, int)) else list(files)
    with Library.open_for_writing(library) as lib:
        return list(remove_files(lib, named, missing_ok=missing_ok))
