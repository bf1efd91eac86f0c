"""``reidkit adapt``: adapt a library's model to the library's own cameras, without labels."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("adapt")
    def adapt_command(
        library: Path = typer.Option(..., "--library", "-l", help="Library folder made by `reidkit index`."),
        epochs: int = typer.Option(
            12,
            "--epochs",
            "-e",
            min=1,
            help="Training epochs at most (it stops early when the pseudo-labels settle).",
        ),
        output: Path | None = typer.Option(
            None,
            "--output",
            "-o",
            help="Where to write the adapted model (.onnx; default: the adapted-models folder).",
        ),
        no_reembed: bool = typer.Option(
            False,
            "--no-reembed",
            help="Only write the adapted model; leave the library's vectors as they are.",
        ),
        json_out: bool = typer.Option(False, "--json", help="Print only the report as JSON on stdout."),
    ) -> None:
        """Fine-tune the library's model on its own footage (tracklets, people clusters and people on screen
        together as labels), export it with its sidecar and calibration, and re-embed the library with it."""
        from dataclasses import replace

        from reidkit.core.errors import ReidkitError

        try:
            import torch  # noqa: F401
        except ImportError:
            raise ReidkitError(
                "reidkit adapt needs torch", hint="pip install 'reidkit[train]' (search and indexing do not)"
            ) from None
        from reidkit.adapt import AdaptConfig, adapt_library

        if output is not None and output.suffix != ".onnx":
            raise ReidkitError("the adapted model is an ONNX file", path=output, hint="name it model.onnx")
        report = adapt_library(
            library,
            output=output,
            config=replace(AdaptConfig(), epochs=epochs),
            reembed=not no_reembed,
            progress=None if json_out else lambda message: typer.echo(message, err=True),
        )
        if json_out:
            typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
            return
        cal = report.calibration
        typer.echo(
            f"adapted {report.base_model} to {report.tracklets} tracklets ({report.crops} views, "
            f"{report.cannot_link} pairs of people on screen together) in {report.seconds['total']:.0f} s: "
            f"{report.stopped}"
        )
        typer.echo(f"model: {report.model_name} -> {report.model_path}")
        typer.echo(
            f"calibration carried over on the library: same person above {cal['threshold']:.3f}, "
            f"visits linked above {-cal['logit_bias'] / cal['logit_slope']:.3f}"
        )
        typer.echo(
            f"library {'re-embedded with ' + report.model_name if report.reembedded else 'unchanged (--no-reembed)'}"
        )
