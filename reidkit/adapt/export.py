"""The adapted model as one ONNX file: the library model's own graph, its output L2-normalised, then its
heads (the cameras' directions removed, :mod:`reidkit.adapt.camera_light`; the trained
:class:`~reidkit.adapt.head.ResidualHead`) written as ONNX ops.

The base graph is copied untouched (no re-export from torch: the library's model may be any ONNX
file), so the adapted model runs wherever the base one ran. The composed file is checked like every
reidkit export: it and the numpy heads applied to the base model's outputs see the same crops
(:func:`reidkit.export.onnx.compare`), and an export outside tolerance raises ``ModelError``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.core.errors import ModelError
from reidkit.export.parity import Parity, compare
from reidkit.zoo.registry import InputSpec

OUTPUT_NAME = "embeddings"


def compose_onnx(base: Path, heads: Sequence[dict[str, np.ndarray]], out: Path) -> None:
    """Write ``base``'s graph followed by ``heads`` (numpy weights, applied in order, each on the
    L2-normalised output of the one before, as :func:`~reidkit.core.head.apply_heads`) to ``out``."""
    import onnx
    from onnx import helper

    if not heads:
        raise ValueError("compose_onnx needs at least one head")
    model = onnx.load(str(base))
    graph = model.graph
    if len(graph.output) != 1:
        raise ModelError(f"expected one output, the graph has {len(graph.output)}", path=base)
    raw = graph.output[0].name
    tag = _unused_tag(graph)
    internal = f"{tag}_raw"
    for node in graph.node:  # the base output becomes an internal tensor
        node.output[:] = [internal if name == raw else name for name in node.output]
        node.input[:] = [internal if name == raw else name for name in node.input]
    nodes = [helper.make_node("Flatten", [internal], [f"{tag}_flat"], axis=1, name=f"{tag}_flatten")]
    inits: list[Any] = []
    current = f"{tag}_flat"
    for step, head in enumerate(heads):
        prefix = f"{tag}h{step}_"
        output = OUTPUT_NAME if step == len(heads) - 1 else f"{prefix}out"
        nodes.append(
            helper.make_node("LpNormalization", [current], [f"{prefix}x"], axis=1, p=2, name=f"{prefix}l2")
        )
        head_nodes, head_inits = _head_ops(head, prefix, f"{prefix}x", output)
        nodes += head_nodes
        inits += head_inits
        current = output
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    batch = graph.output[0].type.tensor_type.shape.dim[0]
    last = heads[-1]
    dim = int(last["w"].shape[1] if "w" in last else last["w2"].shape[1])
    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info(
            OUTPUT_NAME, onnx.TensorProto.FLOAT, [batch.dim_param or batch.dim_value or "batch", dim]
        )
    )
    onnx.checker.check_model(model)
    _save_atomic(model, out)


def _unused_tag(graph: Any) -> str:
    """``adaptN`` for the first N no name in ``graph`` starts with: a model adapted again (its base is
    an adapted model) gets names of its own."""
    names = {i.name for i in graph.initializer} | {n.name for n in graph.node}
    names |= {t for n in graph.node for t in (*n.input, *n.output)}
    n = 0
    while any(name.startswith(f"adapt{n}_") or name.startswith(f"adapt{n}h") for name in names):
        n += 1
    return f"adapt{n}"


def _head_ops(head: dict[str, np.ndarray], prefix: str, x: str, output: str) -> tuple[list[Any], list[Any]]:
    """The nodes and initialisers of ``output = x + branch(x)`` (a linear or one-hidden-layer head)."""
    from onnx import helper, numpy_helper

    names = sorted(head)
    inits = [numpy_helper.from_array(head[k].astype(np.float32), f"{prefix}{k}") for k in names]
    if "w" in head:
        nodes = [helper.make_node("MatMul", [x, f"{prefix}w"], [f"{prefix}branch"])]
    else:
        nodes = [
            helper.make_node("MatMul", [x, f"{prefix}w1"], [f"{prefix}h0"]),
            helper.make_node("Add", [f"{prefix}h0", f"{prefix}b1"], [f"{prefix}h1"]),
            helper.make_node("Relu", [f"{prefix}h1"], [f"{prefix}h"]),
            helper.make_node("MatMul", [f"{prefix}h", f"{prefix}w2"], [f"{prefix}branch"]),
        ]
    nodes.append(helper.make_node("Add", [x, f"{prefix}branch"], [output]))
    return nodes, inits


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
    heads: Sequence[dict[str, np.ndarray]],
    crops: list[np.ndarray],
    spec: InputSpec,
    min_cosine: float = 0.9999,
) -> Parity:
    """Run both models on ``crops``: the composed model must equal the heads applied to the base output."""
    from reidkit.core.head import apply_heads
    from reidkit.core.runtime import create_session, prepare_batch, run_batched

    batch = prepare_batch(crops, spec)
    reference = apply_heads(heads, run_batched(create_session(base, 1), batch, 8).reshape(len(crops), -1))
    candidate = run_batched(create_session(composed, 1), batch, 8).reshape(len(crops), -1)
    parity = compare(reference, candidate)
    if parity.cosine_min < min_cosine:
        raise ModelError(
            f"the adapted model does not reproduce its base model plus head: {parity}",
            path=composed,
            hint="report this with the base model; the library was not changed",
        )
    return parity


@dataclass(frozen=True)
class ComposedBase:
    """A library model that adapted models are composed on, with what each of them shares: the input
    spec and sidecar fields, the crops their parity is checked on and the base's part of their model
    card (``record``)."""

    name: str
    path: Path
    input_spec: InputSpec
    dim: int
    sidecar: dict[str, Any]
    crops: list[np.ndarray]
    record: dict[str, Any]

    def write(
        self,
        target: Path,
        heads: Sequence[dict[str, np.ndarray]],
        calibration: dict[str, Any],
        card: dict[str, Any],
    ) -> tuple[str, Parity]:
        """Compose base graph + ``heads`` into ``target``, check it, write its sidecar (``calibration``,
        and ``card`` after the base's record); its sha256 and parity."""
        from reidkit.core.files import sha256_file
        from reidkit.zoo.sidecar import write_sidecar

        compose_onnx(self.path, heads, target)
        parity = check_composed(self.path, target, heads, self.crops, self.input_spec)
        sha = sha256_file(target)
        write_sidecar(
            target,
            self.input_spec,
            input_name=self.sidecar.get("input_name", "images"),
            output_name=OUTPUT_NAME,
            output_dim=self.dim,
            dynamic_batch=self.sidecar.get("dynamic_batch", True),
            normalised=False,
            precision="fp32",
            source={"adapted_from": self.name},
            parity=asdict(parity),
            calibration=calibration,
            adaptation={**self.record, **card, "sha256": sha, "created_at": time.time()},
        )
        return sha, parity
