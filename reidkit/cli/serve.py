"""``reidkit serve``: the web app over one library (add media, search, play, feedback, watchlist, export)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        library: Path = typer.Option(
            ..., "--library", "-l", help="Library folder (created by the first file added in the page)."
        ),
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Address to bind; any other than loopback requires a token."
        ),
        port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="Port (0 picks a free one)."),
        allow_root: list[Path] = typer.Option(
            [],
            "--allow-root",
            help="A folder whose files may be added by their server-side path (repeatable).",
        ),
        token: str | None = typer.Option(
            None,
            "--token",
            help="The access token clients must send (generated off loopback when not given).",
        ),
        model: str | None = typer.Option(
            None,
            "--model",
            "-m",
            help="The .onnx file the library was indexed with, when that was not a registry model.",
        ),
        max_upload_mb: int = typer.Option(25, "--max-upload-mb", min=1, help="Largest query photo accepted."),
        max_media_mb: int = typer.Option(
            4096, "--max-media-mb", min=1, help="Largest video upload accepted."
        ),
    ) -> None:
        """Serve the web app for LIBRARY on http://HOST:PORT (this machine only by default)."""
        from reidkit.core.errors import ReidkitError

        try:
            from reidkit.app import ServeConfig, serve
        except ImportError as exc:
            raise ReidkitError(
                f"the web app needs FastAPI and uvicorn ({exc.name} is missing)",
                hint="pip install 'reidkit[app]'",
            ) from None

        _check_library(library)
        for root in allow_root:
            if not root.is_dir():
                raise ReidkitError(
                    "is not a folder", path=root, hint="pass an existing folder to --allow-root"
                )
        config = ServeConfig(
            library=library,
            host=host,
            port=port,
            allow_roots=tuple(allow_root),
            model=model,
            token=token,
            max_photo_bytes=max_upload_mb << 20,
            max_media_bytes=max_media_mb << 20,
        )

        def ready(url: str, access: str | None) -> None:
            if access is None:
                typer.echo(f"serving {library} at {url} (Ctrl+C stops)")
            else:
                typer.echo(f"serving {library} at {url}?token={access} (Ctrl+C stops)")
                typer.echo(f"access token: {access} (send it as 'Authorization: Bearer {access}')")

        serve(config, on_ready=ready)


def _check_library(library: Path) -> None:
    """Refuse at start what every request would fail on: a file as the library, or a damaged one (the
    same one-line errors as ``reidkit index``); a folder with no library yet is fine (the page makes it)."""
    from reidkit.core.errors import ReidkitError
    from reidkit.index.library import Library, is_library_folder

    if library.exists() and not library.is_dir():
        raise ReidkitError(
            "is a file, not a library folder",
            path=library,
            hint="pass a folder to --library (a new one is made)",
        )
    if is_library_folder(library):
        Library.open(library).close()  # a damaged database or vector store says so here, in one line
