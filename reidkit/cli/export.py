"""``reidkit export``: a training checkpoint -> ONNX (+ sidecar JSON), checked in onnxruntime; or an
existing ONNX ReID model (``--onnx``, a file or registry name) -> its int8 copy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import numpy as np

    from reidkit.zoo.registry import InputSpec


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        checkpoint: Path | None = typer.Option(
            None, "--checkpoint", "-c", help="Checkpoint from `reidkit train`."
        ),
        onnx_model: str = typer.Option(
            "",
            "--onnx",
            help="Quantise this ONNX model (file or registry name) to --out instead; needs --int8.",
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Where to write the .onnx file."),
        int8: bool = typer.Option(
            False, "--int8", help="Also write an int8 model (<out>_int8.onnx; with --onnx: <out>)."
        ),
        calib: Path | None = typer.Option(
            None, "--calib", help="Folder of person crops for static int8 calibration (else dynamic)."
        ),
        blend: float = typer.Option(
            1.0,
            "--blend",
            min=0.0,
            max=1.0,
            help="Share of the trained weights in a blend with the weights training started from "
            "(WiSE-FT; 1 = the trained model as it is).",
        ),
        opset: int = typer.Option(17, "--opset"),
        fixed_batch: bool = typer.Option(False, "--fixed-batch", help="Batch of 1 instead of dynamic."),
    ) -> None:
        """Export a trained ReID model to ONNX and check it against torch (or quantise an ONNX model)."""
        from reidkit.core.errors import ReidkitError
        from reidkit.export.onnx import export_onnx, quantize_int8
        from reidkit.models.blend import blend_checkpoint
        from reidkit.models.import_checkpoint import model_from_checkpoint

        if out.suffix != ".onnx":
            raise ReidkitError("the output must end in .onnx", path=out)
        if (checkpoint is None) == (not onnx_model):
            raise ReidkitError("pass either --checkpoint (export) or --onnx with --int8 (quantise)")
        if onnx_model and blend < 1.0:
            raise ReidkitError("--blend needs the training --checkpoint, not an ONNX model", path=onnx_model)
        _check_writable(out)  # before the slow part: an --out the export could not be written to
        if onnx_model:
            if not int8:
                raise ReidkitError("--onnx only quantises: add --int8", path=onnx_model)
            _quantise_existing(onnx_model, out, calib)
            return
        assert checkpoint is not None
        source: dict[str, Any] = {"checkpoint": str(checkpoint)}
        if blend < 1.0:
            model, cfg = blend_checkpoint(checkpoint, blend)
            source["blend"] = {"trained_weight": blend, "with": "the weights training started from"}
        else:
            model, cfg = model_from_checkpoint(checkpoint)
        parity = export_onnx(
            model, out, dynamic_batch=not fixed_batch, opset=opset, source={**source, "model_config": cfg}
        )
        typer.echo(f"{out}: {model.embedding_dim}-d embeddings; onnxruntime vs torch: {parity}")
        if int8:
            calibration = None
            if calib is not None:
                calibration = _load_crops(calib, model.input_spec)
            int8_path = out.with_name(out.stem + "_int8.onnx")
            result = quantize_int8(out, int8_path, calibration=calibration)
            typer.echo(f"{int8_path}: int8 vs fp32: {result}")


def _check_writable(out: Path) -> None:
    """Refuse an --out that cannot be written (a folder, a missing or read-only parent) up front."""
    import os

    from reidkit.core.errors import ReidkitError

    hint = "pass an --out path in a folder you can write to"
    if out.is_dir():
        raise ReidkitError("is a folder, not an .onnx file", path=out, hint=hint)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReidkitError(
            f"cannot create its folder ({exc.strerror or type(exc).__name__})", path=out, hint=hint
        ) from None
    if not os.access(out.parent, os.W_OK):
        raise ReidkitError(f"cannot write in {out.parent} (permission denied)", path=out, hint=hint)


def _quantise_existing(model: str, out: Path, calib: Path | None) -> None:
    from reidkit.export.onnx import input_spec_of, quantize_int8
    from reidkit.zoo.registry import resolve_model

    fp32_path, _ = resolve_model(model, download=False)
    calibration = None if calib is None else _load_crops(calib, input_spec_of(fp32_path))
    result = quantize_int8(fp32_path, out, calibration=calibration)
    typer.echo(f"{out}: int8 vs fp32 ({fp32_path.name}): {result}")


def _load_crops(folder: Path, spec: InputSpec, limit: int = 64) -> np.ndarray:
    from reidkit.core.errors import ReidkitError
    from reidkit.core.runtime import prepare_batch
    from reidkit.media import read_image

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise ReidkitError("no .jpg/.png crops found for calibration", path=folder)
    step = max(1, len(files) // limit)
    images = [read_image(p) for p in files[::step][:limit]]
    return prepare_batch(images, spec)
