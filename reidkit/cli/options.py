"""Options that several commands take, defined once (same flags, defaults and help everywhere)."""

from __future__ import annotations

from typing import Any

import typer


def model_option() -> Any:
    return typer.Option(
        None, "--model", "-m", help="ReID model name or .onnx path (default: the registry default)."
    )


def detector_option() -> Any:
    return typer.Option("yolox-nano", "--detector", "-d", help="Detector name or .onnx path.")


def stride_option() -> Any:
    return typer.Option(
        None, "--stride", min=1, help="Process every N-th frame (default: from fps, ~5 per second)."
    )
