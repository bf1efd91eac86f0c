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


def resolve_media(library: Library, named: Sequence[str | Path | int]) -> list[MediaRecord]:
    """Every named file's record (each once, in the order named); LibraryError naming those not held."""
    found: dict[int, MediaRecord] = {}
    missing: list[str] = []
    for item in named:
        record = find_media(library, item)
        if record is None:
            missing.append(str(item))
        else:
            found.setdefault(record.id, record)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise LibraryError(
            f"not in the library: {shown}",
            path=library.root,
            hint="name files by the path they were indexed from (`reidkit search --json` shows it); nothing was removed",
        )
    return list(found.values())


def remove_files(library: Library, named: Sequence[str | Path | int]) -> Iterator[MediaRecord]:
    """Remove every named file, one atomic removal each; all are looked up before the first is removed."""
    for record in resolve_media(library, named):
        removed = library.remove_media(record.id)
        if removed is not None:
            yield removed
