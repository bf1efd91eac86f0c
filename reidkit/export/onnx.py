"""Export a ReID model to ONNX, check it in onnxruntime, optionally quantise it to int8.

Exporter: the TorchScript-based exporter (``dynamo=False``). On torch 2.13 it still works, writes the
requested opset directly, folds BatchNorm into the convolutions and takes ~3 s for OSNet; the
torch.export-based one took ~35 s, emitted opset 18 and failed to down-convert to 17. ``exporter=
"dynamo"`` selects it anyway.

Every export is checked: the ONNX model and the torch model see the same random batch and the max
absolute difference (relative to the output magnitude) and the worst cosine similarity are reported;
an export outside tolerance raises ``ModelError``. A sidecar JSON (see ``reidkit.zoo.sidecar``)
records the input spec so ``embed`` feeds the model correctly.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from reidkit.core.errors import ModelError
from reidkit.core.log import get_logger
from reidkit.export.parity import Parity, compare
from reidkit.zoo.registry import InputSpec
from reidkit.zoo.sidecar import write_sidecar

log = get_logger(__name__)

INPUT_NAME = "images"
OUTPUT_NAME = "embeddings"


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_spec: InputSpec | None = None,
    dynamic_batch: bool = True,
    opset: int = 17,
    *,
    exporter: Literal["legacy", "dynamo"] = "legacy",
    rtol: float = 1e-4,
    min_cosine: float = 0.99999,
    source: dict[str, Any] | None = None,
    sample: torch.Tensor | None = None,
) -> Parity:
    """Write ``model`` (eval mode: images -> embeddings) to ``path`` plus its sidecar JSON.

    Returns the parity of onnxruntime vs torch on ``sample`` (default: 2 random images); raises
    ModelError when ``max_rel > rtol`` or the worst cosine is below ``min_cosine``.
    """
    spec = input_spec or getattr(model, "input_spec", None)
    if spec is None:
        raise ValueError("pass input_spec: the model has no .input_spec")
    if spec.layout != "NCHW":
        raise ValueError("only NCHW models are exported")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    generator = torch.Generator().manual_seed(0)
    example = (
        sample
        if sample is not None
        else torch.randn(2 if dynamic_batch else 1, 3, spec.height, spec.width, generator=generator)
    )
    with torch.no_grad():
        reference = model(example)
    if not isinstance(reference, torch.Tensor) or reference.dim() != 2:
        raise ValueError("the model must return (B, D) embeddings in eval mode")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        if exporter == "legacy":
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        else:
            dims = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
            program = torch.onnx.export(
                model,
                (example,),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=dims,
                opset_version=opset,
                dynamo=True,
            )
            assert program is not None
            program.save(str(path))

    parity = check_parity(path, example.numpy(), reference.numpy(), rtol=rtol, min_cosine=min_cosine)
    write_sidecar(
        path,
        spec,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        output_dim=int(reference.shape[1]),
        dynamic_batch=dynamic_batch,
        normalised=False,
        precision="fp32",
        opset=opset,
        exporter=exporter,
        source=source or {},
        parity=asdict(parity),
    )
    log.info("exported %s: %s", path, parity)
    return parity


def input_spec_of(path: str | Path) -> InputSpec:
    """How ``OnnxEmbedder`` feeds an ONNX ReID model: its registry entry, its sidecar, else its input shape."""
    from reidkit.core.runtime import create_session
    from reidkit.embed.onnx import spec_from_session
    from reidkit.zoo.registry import resolve_model
    from reidkit.zoo.sidecar import read_sidecar

    path = Path(path)
    _, registered = resolve_model(path, download=False)
    if registered is not None:
        return registered.input
    sidecar = read_sidecar(path)
    if sidecar is not None:
        spec: InputSpec = sidecar["input"]
        return spec
    return spec_from_session(path, create_session(path, threads=1))


# Per-channel QDQ writes DequantizeLinear with an ``axis``, which exists from opset 13 (older public
# models, e.g. the opset-12 OSNet in the registry, otherwise quantise to a graph onnxruntime rejects).
MIN_QUANT_OPSET = 13


def _at_least_opset(path: Path, opset: int, upgraded: Path) -> Path:
    """``path`` itself when its default-domain opset is >= ``opset``, else a converted copy at ``upgraded``."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(path))
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if current >= opset:
        return path
    onnx.save(version_converter.convert_version(model, opset), str(upgraded))
    log.info("converted %s from opset %d to %d for quantisation", path, current, opset)
    return upgraded


def _batch_shape(n: int, spec: InputSpec) -> tuple[int, int, int, int]:
    if spec.layout == "NHWC":
        return (n, spec.height, spec.width, 3)
    return (n, 3, spec.height, spec.width)


def _input_name(path: Path) -> str:
    from reidkit.core.runtime import create_session

    return str(create_session(path, threads=1).get_inputs()[0].name)


def run_onnx(path: str | Path, batch: np.ndarray) -> np.ndarray:
    """Run an exported model on a (B, 3, H, W) float batch, one image at a time if its batch is fixed."""
    from reidkit.core.runtime import create_session, input_batch_size

    session = create_session(path, threads=1)
    name = session.get_inputs()[0].name
    if input_batch_size(session) == 1:
        return np.concatenate([session.run(None, {name: image[None]})[0] for image in batch])
    return np.asarray(session.run(None, {name: batch})[0])


def check_parity(
    path: str | Path, batch: np.ndarray, reference: np.ndarray, *, rtol: float, min_cosine: float
) -> Parity:
    parity = compare(reference, run_onnx(path, batch.astype(np.float32)))
    if parity.max_rel > rtol or parity.cosine_min < min_cosine:
        raise ModelError(
            f"exported model does not reproduce the torch model: {parity}",
            path=path,
            hint="report this with the model config; try exporter='dynamo' or another opset",
        )
    return parity


# The ops quantised statically: convolutions and matmuls (where int8 saves arithmetic) and what passes
# int8 between them. Elementwise gates and normalisation arithmetic (Mul, Sigmoid, Div, Sqrt,
# ReduceMean: OSNet's channel gates, the retail models' instance normalisation written out) lose more
# accuracy than they save time. Pad and MaxPool stay float: graphs converted from TensorFlow pad with
# -inf before a max-pool, a range no int8 scale covers (its scale becomes inf and its zero point NaN,
# which turns every later activation into noise).
STATIC_INT8_OPS = ("Conv", "MatMul", "Gemm", "Relu", "Clip", "AveragePool", "Add", "Reshape", "Transpose")

# How the int8 weights are stored, recorded in the int8 model's sidecar. x86 CPUs without VNNI
# multiply uint8 activations by int8 weights with VPMADDUBSW, which adds pairs of products in int16
# and saturates with full-range weights; 7-bit weights (``reduce_range``) keep every pair sum in
# range. An int8 file made on a VNNI machine may later run on one without VNNI, so every file gets
# the form that is exact on both, at the small accuracy cost measured in docs/deployment.md.
INT8_FORM = {
    "activations": "uint8, per tensor (MinMax calibration)",
    "weights": "int8, 7-bit range (reduce_range); per output channel when static",
    "why": "7-bit weights cannot saturate the uint8 x int8 pair sums of x86 CPUs without VNNI "
    "(VPMADDUBSW), so the file is right on every x86 CPU; full-range weights are only right with VNNI",
}


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    *,
    calibration: np.ndarray | None = None,
    check: np.ndarray | None = None,
    min_cosine: float = 0.98,
) -> Parity:
    """int8 copy of an exported fp32 model, with its parity against the fp32 model.

    With ``calibration`` (a (N, 3, H, W) float batch, already preprocessed; real crops, not noise)
    activations and weights are quantised statically (QDQ, per-channel weights; the ops of
    ``STATIC_INT8_OPS``) — the fast choice for CNNs. Without it only weights are quantised (dynamic
    quantisation of MatMul/Gemm/Conv). Weights use 7 bits either way (``INT8_FORM``).
    Parity is measured on ``check`` (default: the calibration batch, else 4 random images) and
    raises ModelError when the worst cosine falls below ``min_cosine``.

    The fp32 model is a reidkit export (its sidecar gives the input spec) or any ReID ONNX model,
    e.g. a registry one: then the spec comes from the registry or, failing that, from the input shape
    (as :class:`~reidkit.embed.OnnxEmbedder` would feed it). The int8 model gets a sidecar either way.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from reidkit.zoo.sidecar import read_sidecar

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if fp32_path.resolve() == out_path.resolve():
        raise ModelError("the int8 model would overwrite its fp32 source", path=out_path)
    meta = read_sidecar(fp32_path) or {"source": {"onnx": str(fp32_path)}}
    spec = input_spec_of(fp32_path)
    input_name = _input_name(fp32_path)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # numpy warns when a calibrated range gives a non-finite scale or zero point; that tensor
        # would be noise in int8, so it is an error here rather than a model that silently fails.
        warnings.filterwarnings("error", "(invalid value|divide by zero) encountered", RuntimeWarning)
        prepared = Path(tmp) / "prepared.onnx"
        source = _at_least_opset(fp32_path, MIN_QUANT_OPSET, Path(tmp) / "upgraded.onnx")
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        try:
            if calibration is not None:

                class Reader(CalibrationDataReader):
                    def __init__(self, batches: Iterable[np.ndarray]) -> None:
                        self.items = iter([{input_name: b[None].astype(np.float32)} for b in batches])

                    def get_next(self) -> dict[str, np.ndarray] | None:
                        return next(self.items, None)

                quantize_static(
                    str(prepared),
                    str(out_path),
                    Reader(calibration),
                    quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=list(STATIC_INT8_OPS),
                    per_channel=True,
                    reduce_range=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                )
            else:
                quantize_dynamic(str(prepared), str(out_path), weight_type=QuantType.QInt8, reduce_range=True)
        except RuntimeWarning as exc:
            raise ModelError(
                f"int8 calibration gave a tensor no finite scale ({exc})",
                path=fp32_path,
                hint="calibrate on real crops; an op producing +-inf must stay float (STATIC_INT8_OPS)",
            ) from exc
    if check is None:
        check = (
            calibration
            if calibration is not None
            else np.random.default_rng(0).standard_normal(_batch_shape(4, spec))
        )
    check = check.astype(np.float32)
    parity = compare(run_onnx(fp32_path, check), run_onnx(out_path, check))
    meta.update(
        precision="int8",
        quantisation="static" if calibration is not None else "dynamic",
        int8={
            **INT8_FORM,
            "ops": list(STATIC_INT8_OPS) if calibration is not None else "onnxruntime dynamic defaults",
        },
        parity_vs_fp32=asdict(parity),
    )
    write_sidecar(out_path, spec, **{k: v for k, v in meta.items() if k not in ("format", "input")})
    log.info("quantised %s: %s", out_path, parity)
    if parity.cosine_min < min_cosine:
        raise ModelError(
            f"int8 model drifts from fp32: {parity}", path=out_path, hint="calibrate on real crops"
        )
    return parity
