"""``reidkit models``: list the registered models and where their files are found, then the models
adapted to a library (``reidkit adapt``) with the library each came from."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_command() -> None:
        """List registered detector and ReID models and whether their files are available."""
        from reidkit.core.errors import ModelError
        from reidkit.zoo.adapted import adapted_models
        from reidkit.zoo.registry import MODELS, model_dirs_not_found, resolve_model

        for folder in model_dirs_not_found():
            typer.echo(f"warning: REIDKIT_MODEL_DIR names {folder}, which is not a folder: fix it", err=True)
        adapted = adapted_models()
        for spec in sorted(MODELS.values(), key=lambda s: s.task):
            if spec.name in adapted:
                continue  # listed below, with its library
            try:
                path, _ = resolve_model(spec.name, task=spec.task, download=False)
                where = str(path)
            except ModelError:
                where = f"not found (download: {spec.url})"
            typer.echo(f"{spec.task:6s} {spec.name:38s} {where}")
        for name, (path, sidecar) in sorted(adapted.items()):
            if sidecar is None:
                typer.echo(f"adapted {name:37s} missing: {path}")
                continue
            record = sidecar.get("adaptation") or {}
            typer.echo(
                f"adapted {name:37s} {path} (from {record.get('base_model', '?')}, "
                f"library {record.get('library', '?')})"
            )
