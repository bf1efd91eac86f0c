"""``reidkit serve``: a local web app to search a library from the browser."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        library: Path = typer.Option(..., "--library", "-l", help="Library folder made by `reidkit index`."),
        port: int = typer.Option(8000, "--port", "-p", help="Port on 127.0.0.1 (0 picks a free one)."),
        model: str | None = typer.Option(
            None,
            "--model",
            "-m",
            help="The .onnx file the library was indexed with, when that was not a registry model.",
        ),
    ) -> None:
        """Serve a search page for LIBRARY on http://127.0.0.1:PORT (this machine only)."""
        from reidkit.app.server import serve

        serve(
            library,
            port,
            model=model,
            on_ready=lambda url: typer.echo(f"serving {library} at {url} (Ctrl+C stops)"),
        )
