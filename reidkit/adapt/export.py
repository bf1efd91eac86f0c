"""The adapted model as one ONNX file: the library model's own graph, its output L2-normalised, then the
trained head (:class:`~reidkit.adapt.head.ResidualHead`) written as ONNX ops.

The base graph is copied untouched (no re-export from torch: the library's model may be any ONNX
file), so the adapted model runs wherever the base one ran. The composed file is checked like every
reidkit export: it and the numpy head applied to the base model's outputs see the same crops
(:func:`reidkit.export.onnx.compare`), and an export outside tolerance raises ``ModelError``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.core.errors import ModelError
from reidkit.export.onnx import Parity, compare
from reidkit.zoo.registry import InputSpec

OUTPUT_NAME = "embeddings"


def compose_onnx(base: Path, head: dict[str, np.ndarray], out: Path) -> None:
    """Write ``base``'s graph followed by L2 normalisation and ``head`` (numpy weights) to ``out``."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(base))
    graph = model.graph
    if len(graph.output) != 1:
        raise ModelError(f"expected one output, the graph has {len(graph.output)}", path=base)
    raw = graph.output[0].name
    prefix = "adapt_"
    internal = f"{prefix}raw"
    for node in graph.node:  # the base output becomes an internal tensor
        node.output[:] = [internal if name == raw else name for name in node.output]
        node.input[:] = [internal if name == raw else name for name in node.input]
    dim = int(next(iter(head.values())).shape[-1] if "w" in head else head["w2"].shape[1])
    flat = f"{prefix}flat"
    nodes = [
        helper.make_node("Flatten", [internal], [flat], axis=1, name=f"{prefix}flatten"),
        helper.make_node("LpNormalization", [flat], [f"{prefix}x"], axis=1, p=2, name=f"{prefix}l2"),
    ]
    inits = []
    if "w" in head:
        inits.append(numpy_helper.from_array(head["w"].astype(np.float32), f"{prefix}w"))
        nodes.append(helper.make_node("MatMul", [f"{prefix}x", f"{prefix}w"], [f"{prefix}branch"]))
    else:
        inits += [
            numpy_helper.from_array(head["w1"].astype(np.float32), f"{prefix}w1"),
            numpy_helper.from_array(head["b1"].astype(np.float32), f"{prefix}b1"),
            numpy_helper.from_array(head["w2"].astype(np.float32), f"{prefix}w2"),
        ]
        nodes += [
            helper.make_node("MatMul", [f"{prefix}x", f"{prefix}w1"], [f"{prefix}h0"]),
            helper.make_node("Add", [f"{prefix}h0", f"{prefix}b1"], [f"{prefix}h1"]),
            helper.make_node("Relu", [f"{prefix}h1"], [f"{prefix}h"]),
            helper.make_node("MatMul", [f"{prefix}h", f"{prefix}w2"], [f"{prefix}branch"]),
        ]
    nodes.append(helper.make_node("Add", [f"{prefix}x", f"{prefix}branch"], [OUTPUT_NAME]))
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    batch = graph.output[0].type.tensor_type.shape.dim[0]
    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info(
            OUTPUT_NAME, onnx.TensorProto.FLOAT, [batch.dim_param or batch.dim_value or "batch", dim]
        )
    )
    onnx.checker.check_model(model)
    _save_atomic(model, out)


def _save_atomic(model: Any, out: Path) -> None:
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_composed(
    base: Path,
    composed: Path,
    head: dict[str, np.ndarray],
    crops: list[np.ndarray],
    spec: InputSpec,
    min_cosine: float = 0.9999,
) -> Parity:
    """Run both models on ``crops``: the composed model must equal the head applied to the base output."""
    from reidkit.core.head import apply_head
    from reidkit.core.runtime import create_session, prepare_batch, run_batched

    batch = prepare_batch(crops, spec)
    reference = apply_head(head, run_batched(create_session(base, 1), batch, 8).reshape(len(crops), -1))
    candidate = run_batched(create_session(composed, 1), batch, 8).reshape(len(crops), -1)
    parity = compare(reference, candidate)
    if parity.cosine_min < min_cosine:
        raise ModelError(
            f"the adapted model does not reproduce its base model plus head: {parity}",
            path=composed,
            hint="report this with the base model; the library was not changed",
        )
    return parity
