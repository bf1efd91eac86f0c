"""``reidkit models``: list the registered models and where their files are found."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_command() -> None:
        """List registered detector and ReID models and whether their files are available."""
        from reidkit.core.errors import ModelError
        from reidkit.zoo.registry import MODELS, resolve_model

        for spec in sorted(MODELS.values(), key=lambda s: s.task):
            try:
                path, _ = resolve_model(spec.name, task=spec.task, download=False)
                where = str(path)
            except ModelError:
                where = f"not found (download: {spec.url})"
            typer.echo(f"{spec.task:6s} {spec.name:38s} {where}")
