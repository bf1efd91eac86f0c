"""``reidkit calibrate``: measure a model's "same person" calibration on a labelled dataset."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("calibrate")
    def calibrate_command(
        model: str = typer.Option(..., "--model", "-m", help="Registry name or .onnx file."),
        dataset: str = typer.Option(..., "--dataset", "-d", help="Labelled dataset (e.g. cuhk03)."),
        root: Path = typer.Option(..., "--root", help="Folder holding the dataset."),
        dataset_options: list[str] = typer.Option(
            [], "--option", "-o", help="Dataset option KEY=VALUE (e.g. holdout=100: people no model saw)."
        ),
        write: bool = typer.Option(
            False, "--write", help="Store the numbers in the model's sidecar (model.json beside it)."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the numbers as one JSON object."),
    ) -> None:
        """Measure MODEL's score calibration on DATASET: the prior of every "likely" verdict."""
        from reidkit.core.config import parse_overrides
        from reidkit.evaluate.calibrate import measure_calibration
        from reidkit.zoo.registry import resolve_model
        from reidkit.zoo.sidecar import write_calibration

        options: dict[str, object] = dict(parse_overrides(dataset_options))
        numbers = measure_calibration(model, dataset, root, options)
        if json_out:
            typer.echo(json.dumps(numbers))
        else:
            typer.echo(
                f"{model}: same person above cosine {numbers['threshold']:.3f} (1 in 100 different-person"
                f" pairs; {100 * numbers['tpr_at_threshold']:.1f} % of true pairs), visits linked above"
                f" {numbers['link_threshold']:.3f}; measured on {numbers['measured_on']}"
            )
        if write:
            from reidkit.core.runtime import create_session
            from reidkit.embed.onnx import spec_from_session

            path, registered = resolve_model(model)
            spec = registered.input if registered else spec_from_session(path, create_session(path, 1))
            typer.echo(f"wrote {write_calibration(path, numbers, spec)}", err=json_out)
