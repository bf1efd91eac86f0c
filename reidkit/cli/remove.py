"""``reidkit remove``: delete files from a library (their tracklets, vectors and thumbnails)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("remove")
    def remove_command(
        files: list[str] = typer.Argument(
            ...,
            help="Files to remove: the paths they were indexed from (the files may be gone).",
            metavar="FILE...",
        ),
        library: Path = typer.Option(..., "--library", "-l", help="Library folder made by `reidkit index`."),
    ) -> None:
        """Remove files from a library, each atomically: a search never sees half a file.

        Files not in the library are named on stderr and the others are removed (so running an
        interrupted removal again finishes it). Exits 1 when some were not there, 2 when none was.
        """
        from reidkit.index.library import Library
        from reidkit.index.removal import not_in_library, resolve_media

        with Library.open_for_writing(library) as lib:
            records, missing = resolve_media(lib, files)
            if missing and not records:
                raise not_in_library(lib, missing, removed_any=False)
            tracklets = 0
            for record in records:
                tracklets += len(lib.tracklet_ids(record.id))
                lib.remove_media(record.id)
                typer.echo(f"removed {record.path}")
            typer.echo(f"{len(records)} removed ({tracklets} tracklets) — library {library}")
            if missing:
                typer.echo(f"skipped: {not_in_library(lib, missing, removed_any=True)}", err=True)
                raise SystemExit(1)
