"""``reidkit adapt``: adapt a library's model to the library's own cameras, without labels."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    from reidkit.adapt.config import DEFAULT_EPOCHS

    @app.command("adapt")
    def adapt_command(
        library: Path = typer.Option(..., "--library", "-l", help="Library folder made by `reidkit index`."),
        epochs: int = typer.Option(
            DEFAULT_EPOCHS,
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
        apply: str = typer.Option(
            "verdicts",
            "--apply",
            help="What the library uses the adapted model for: 'verdicts' (scores and verdicts; the stored "
            "vectors still rank photos, which the adapted model ranks worse), 'all' (re-embed the library: "
            "it ranks too), or 'none' (only write the model).",
        ),
        light_only: bool = typer.Option(
            False,
            "--light-only",
            help="Only remove the cameras' light from the library's vectors when some stands out (no "
            "training, no torch; --output is then the model without the light).",
        ),
        json_out: bool = typer.Option(False, "--json", help="Print only the report as JSON on stdout."),
    ) -> None:
        """Fine-tune the library's model on its own footage (tracklets, people clusters and people on screen
        together as labels), export it with its sidecar and calibration, and judge the library's verdicts
        with it (--apply)."""
        from dataclasses import replace

        from reidkit.core.errors import ReidkitError

        if output is not None and output.suffix != ".onnx":
            raise ReidkitError("the adapted model is an ONNX file", path=output, hint="name it model.onnx")
        if light_only:
            if apply != "verdicts" or epochs != DEFAULT_EPOCHS:
                raise ReidkitError(
                    "--light-only trains nothing and only removes the cameras' light: drop --apply and --epochs"
                )
            _remove_light(library, output, json_out)
            return
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ReidkitError(
                "reidkit adapt needs torch", hint="pip install 'reidkit[train]' (search and indexing do not)"
            ) from None
        from reidkit.adapt import AdaptConfig, adapt_library
        from reidkit.adapt.adapt import APPLIED

        if apply not in APPLIED:
            raise ReidkitError(f"--apply is one of {', '.join(APPLIED)}, not {apply!r}")
        report = adapt_library(
            library,
            output=output,
            config=replace(AdaptConfig(), epochs=epochs),
            apply=apply,  # one of APPLIED, checked above
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
        if report.debiased_name:
            typer.echo(f"the cameras' light: {report.camera_bias['summary']}")
            typer.echo(f"  model without it: {report.debiased_name} -> {report.debiased_path}")
        linked = f", visits linked above {cal['link_threshold']:.3f}" if report.reembedded else ""
        typer.echo(
            f"calibration carried over on the library: same person above {cal['threshold']:.3f}{linked}"
        )
        verdicts = (
            f"library: ranking by {report.ranking_model} (re-embedded without the cameras' light), "
            f"scores and verdicts by {report.model_name}"
            if report.ranking_model != report.base_model
            else f"library: scores and verdicts by {report.model_name}; ranking by its vectors, unchanged"
        )
        typer.echo(
            {
                "verdicts": verdicts,
                "all": f"library re-embedded with {report.model_name}",
                "none": "library unchanged (--apply none)",
            }[report.applied]
        )


def _remove_light(library: Path, output: Path | None, json_out: bool) -> None:
    from reidkit.adapt import remove_camera_light

    report = remove_camera_light(
        library, output=output, progress=None if json_out else lambda m: typer.echo(m, err=True)
    )
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
        return
    typer.echo(f"the cameras' light: {report.camera_bias['summary']}")
    typer.echo(
        f"library re-embedded with {report.model_name} -> {report.model_path}"
        if report.model_name
        else f"library unchanged: it still ranks with {report.base_model}"
    )
