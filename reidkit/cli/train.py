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
        config: str = typer.Option("", "--config", "-c", help="YAML config (see configs/)."),
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
        smoke: bool = typer.Option(
            False,
            "--smoke",
            help="A one-minute run on synthetic people (no dataset, no download) into --output "
            "(default runs/smoke): checks the install end to end.",
        ),
    ) -> None:
        """Train; extra arguments `a.b=c` override config keys (e.g. optim.lr=1e-4 data.p=8)."""
        import importlib
        import os
        from pathlib import Path

        from reidkit.core.errors import ReidkitError
        from reidkit.core.log import setup_logging
        from reidkit.train.config import load_train_config
        from reidkit.train.data import parse_roots
        from reidkit.train.launch import run_training

        if not os.environ.get("REIDKIT_LOG"):
            setup_logging("info")
        for module in plugin:
            importlib.import_module(module)
        roots = parse_roots(root)
        overrides: list[str] = []
        if smoke:
            from reidkit.train.smoke import prepare_smoke_run

            overrides, roots = prepare_smoke_run(Path(output or "runs/smoke"))
        elif not config:
            raise ReidkitError("reidkit train needs --config (see configs/), or --smoke for a quick check")
        overrides += list(ctx.args)
        if output:
            overrides.append(f"output={output}")
        cfg = load_train_config(config or None, overrides)
        out = run_training(cfg, roots, resume=resume)
        if int(os.environ.get("RANK", "0")) == 0:
            typer.echo(f"done: {out}/last.pth (metrics in {out}/metrics.csv)")
