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

        Every file is looked up first; if one is not in the library nothing is removed (exit 2).
        """
        from reidkit.index.library import Library
        from reidkit.index.removal import resolve_media

        with Library.open_for_writing(library) as lib:
            records = resolve_media(lib, files)
            tracklets = 0
            for record in records:
                tracklets += len(lib.tracklet_ids(record.id))
                lib.remove_media(record.id)
                typer.echo(f"removed {record.path}")
            typer.echo(f"{len(records)} removed ({tracklets} tracklets) — library {library}")
