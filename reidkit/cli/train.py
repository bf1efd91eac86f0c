"""``reidkit train``: train a ReID model from a YAML config (single process, or DDP under torchrun)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
    )
    def train_command(
        ctx: typer.Context,
        config: str = typer.Option(..., "--config", "-c", help="YAML config (see configs/)."),
        root: list[str] = typer.Option(
            [], "--root", help="Dataset folder as NAME=DIR (repeatable); else $REIDKIT_DATA_ROOT/NAME."
        ),
        output: str = typer.Option(
            "", "--output", "-o", help="Run folder (overrides `output` in the config)."
        ),
        resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT/last.pth when it exists."),
        plugin: list[str] = typer.Option(
            [], "--plugin", help="Python module to import first (registers custom datasets/backbones)."
        ),
    ) -> None:
        """Train; extra arguments `a.b=c` override config keys (e.g. optim.lr=1e-4 data.p=8)."""
        import importlib
        import os

        from reidkit.core.log import setup_logging
        from reidkit.train.config import load_train_config
        from reidkit.train.data import parse_roots
        from reidkit.train.launch import run_training

        if not os.environ.get("REIDKIT_LOG"):
            setup_logging("info")
        for module in plugin:
            importlib.import_module(module)
        overrides = list(ctx.args)
        if output:
            overrides.append(f"output={output}")
        cfg = load_train_config(config, overrides)
        out = run_training(cfg, parse_roots(root), resume=resume)
        if int(os.environ.get("RANK", "0")) == 0:
            typer.echo(f"done: {out}/last.pth (metrics in {out}/metrics.csv)")
