"""Finding the media a user names for removal: by the path it was indexed from, its content, or its id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from reidkit.core.errors import LibraryError
from reidkit.index.library import Library, MediaRecord


def find_media(library: Library, named: str | Path | int) -> MediaRecord | None:
    """The media ``named`` refers to: a media id, the path it was indexed from, or a file with its content."""
    if isinstance(named, int):
        found = library.media_list_for({named})
        return found[0] if found else None
    record = library.media_by_path(named)
    if record is not None or not Path(named).is_file():
        return record
    from reidkit.media import content_hash

    media_id = library.media_id(content_hash(Path(named)))  # moved or renamed since it was indexed
    return None if media_id is None else library.media(media_id)


def resolve_media(library: Library, named: Sequence[str | Path | int]) -> tuple[list[MediaRecord], list[str]]:
    """The records of the named files (each once, in the order named) and the names the library lacks."""
    found: dict[int, MediaRecord] = {}
    missing: list[str] = []
    for item in named:
        record = find_media(library, item)
        if record is None:
            missing.append(str(item))
        else:
            found.setdefault(record.id, record)
    return list(found.values()), missing


def not_in_library(library: Library, missing: Sequence[str], removed_any: bool) -> LibraryError:
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return LibraryError(
        f"not in the library: {shown}",
        path=library.root,
        hint="name files by the path they were indexed from (`reidkit search --json` shows it)"
        + ("" if removed_any else "; nothing was removed"),
    )


def remove_files(
    library: Library, named: Sequence[str | Path | int], *, missing_ok: bool = False
) -> Iterator[MediaRecord]:
    """Remove every named file, one atomic removal each, after looking them all up.

    A name the library does not hold raises LibraryError before anything is removed, unless
    ``missing_ok`` (then it is skipped: running an interrupted removal again finishes it).
    """
    records, missing = resolve_media(library, named)
    if missing and not missing_ok:
        raise not_in_library(library, missing, removed_any=False)
    for record in records:
        removed = library.remove_media(record.id)
        if removed is not None:
            yield removed
