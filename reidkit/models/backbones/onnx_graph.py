"""Fine-tune any ONNX ReID model: its graph, run op by op in torch, with its weights as parameters.

``backbone: onnx`` + ``graph: person-reidentification-retail-0287`` (a model-zoo name or a path) turns
an ONNX file into a trainable backbone without knowing its architecture. This is how models that
exist only as ONNX files (the Open Model Zoo's, converted from TensorFlow with folded BatchNorms)
can be fine-tuned on your data. Each node becomes one torch call; every float initializer that is
not a shape becomes a parameter, so convolutions, fully connected layers and the per-channel
scales and shifts of normalisations all train. The graph stays as exported: folded BatchNorms act
like frozen ones, which is how detection backbones are usually fine-tuned.

Three rewrites make a batch-of-1 graph (the usual export) train on batches, without changing what
it computes for one image:

* ``ReduceMean`` over axes that include the batch axis drops it (the graph computed per-image
  statistics, e.g. instance normalisation written out in NHWC);
* a constant ``Reshape`` target whose first entry is 1 takes the batch size instead;
* the input is adapted inside: this backbone takes what every reidkit backbone takes (RGB, ImageNet
  mean/std, NCHW) and converts it to the graph's own input (channel order, scale, mean/std, layout)
  from the zoo's ``InputSpec`` (or the model's sidecar). The exported fine-tuned model therefore has
  reidkit's standard input and a dynamic batch.

Only the operators ReID graphs use are supported; anything else raises ``ModelError`` naming it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reidkit.core.errors import ModelError
from reidkit.models.registry import BACKBONES
from reidkit.zoo.registry import IMAGENET_MEAN, IMAGENET_STD, MODELS, InputSpec


def graph_input_spec(path: Path) -> InputSpec:
    """How the graph at ``path`` wants its input: the model zoo's spec for that file, else its
    sidecar; an unknown file is an error (guessing the channel order would fail silently)."""
    for spec in MODELS.values():
        if spec.filename == path.name and spec.task == "reid":
            return spec.input
    from reidkit.zoo.sidecar import read_sidecar

    sidecar = read_sidecar(path)
    if sidecar is not None:
        return sidecar["input"]
    raise ModelError(
        "unknown ONNX model: its input format (channel order, scale, layout) is not known",
        path=path,
        hint="register it in reidkit/zoo/registry.py or write a sidecar JSON beside it",
    )


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _param_key(name: str) -> str:
    return "p_" + re.sub(r"[^0-9A-Za-z_]", "_", name)


class OnnxGraphBackbone(nn.Module):
    """(B, 3, H, W) RGB ImageNet-normalised -> (B, feature_dim): the ONNX graph's output."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        path = Path(path)
        if not path.is_file():
            raise ModelError("ONNX graph not found", path=path, hint="set model.graph to a file or zoo name")
        try:
            model = onnx.load(str(path))
        except Exception as exc:  # protobuf raises private types
            raise ModelError(f"not a valid ONNX model ({exc.__class__.__name__})", path=path) from exc
        graph = model.graph
        self.source = str(path)
        self.spec = graph_input_spec(path)
        init_names = {t.name for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in init_names]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ModelError("expected one image input and one embedding output", path=path)
        self.input_name = inputs[0].name
        self.output_name = graph.output[0].name
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
        # Graphs exported for one image compute per-image statistics over the batch axis too.
        self.batch_one = bool(dims) and dims[0] == 1

        shape_inputs = {n.input[1] for n in graph.node if n.op_type == "Reshape" and len(n.input) > 1}
        shape_inputs |= {n.input[1] for n in graph.node if n.op_type == "Split" and len(n.input) > 1}
        self.params = nn.ParameterDict()
        self.constants: dict[str, torch.Tensor | list[int]] = {}
        self.param_of: dict[str, str] = {}
        for tensor in graph.initializer:
            array = numpy_helper.to_array(tensor)
            if tensor.name in shape_inputs or not np.issubdtype(array.dtype, np.floating):
                self.constants[tensor.name] = [int(v) for v in array.reshape(-1)]
            elif array.size == 1:  # epsilons and fixed scalars stay fixed
                self.constants[tensor.name] = torch.tensor(float(array.reshape(-1)[0]))
            else:
                key = _param_key(tensor.name)
                self.params[key] = nn.Parameter(torch.from_numpy(array.astype(np.float32).copy()))
                self.param_of[tensor.name] = key
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in graph.node]
        for op, *_ in self.nodes:
            if op not in _OPS:
                raise ModelError(
                    f"ONNX operator {op!r} is not supported by the onnx backbone",
                    path=path,
                    hint=f"supported: {', '.join(sorted(_OPS))}",
                )
        for op, _ins, outs, attrs in self.nodes:
            if op == "Constant":
                value = numpy_helper.to_array(attrs["value"])
                if outs[0] in shape_inputs:
                    self.constants[outs[0]] = [int(v) for v in value.reshape(-1)]
                else:
                    self.constants[outs[0]] = torch.from_numpy(value.copy())
        self.feature_dim = self._probe_dim()

    def _probe_dim(self) -> int:
        with torch.no_grad():
            out = self(torch.zeros(1, 3, self.spec.height, self.spec.width))
        return int(out.shape[1])

    # ------------------------------------------------------------------------------------------- input

    def adapt_input(self, x: torch.Tensor) -> torch.Tensor:
        """reidkit's RGB ImageNet-normalised NCHW -> the graph's own input."""
        spec = self.spec
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        pixels = (x * std + mean) * 255.0  # RGB, 0-255
        if spec.channels == "BGR":
            pixels = pixels.flip(1)
        own_mean = x.new_tensor(spec.mean).view(1, 3, 1, 1)
        own_std = x.new_tensor(spec.std).view(1, 3, 1, 1)
        out = (pixels * spec.scale - own_mean) / own_std
        if spec.layout == "NHWC":
            out = out.permute(0, 2, 3, 1)
        return out.contiguous()

    # ----------------------------------------------------------------------------------------- forward

    def value(self, name: str, env: dict[str, Any]) -> Any:
        if name in env:
            return env[name]
        if name in self.param_of:
            return self.params[self.param_of[name]]
        if name in self.constants:
            return self.constants[name]
        raise KeyError(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, Any] = {self.input_name: self.adapt_input(x)}
        for op, ins, outs, attrs in self.nodes:
            if op == "Constant":
                continue
            args = [self.value(n, env) if n else None for n in ins]
            result = _OPS[op](self, args, attrs)
            if isinstance(result, tuple | list):
                env.update(zip(outs, result, strict=False))
            else:
                env[outs[0]] = result
        out = env[self.output_name]
        return out.reshape(out.shape[0], -1)


# --------------------------------------------------------------------------------------------- operators


def _conv(_m: OnnxGraphBackbone, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    x, w = a[0], a[1]
    bias = a[2] if len(a) > 2 else None
    pads = list(at.get("pads", [0, 0, 0, 0]))
    if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise ModelError("Conv auto_pad SAME is not supported by the onnx backbone")
    half = len(pads) // 2
    if pads[:half] != pads[half:]:  # asymmetric (TF "same"): pad explicitly
        x = F.pad(x, [pads[1], pads[3], pads[0], pads[2]])
        pads = [0, 0]
    else:
        pads = pads[:half]
    return F.conv2d(
        x,
        w,
        bias,
        stride=tuple(at.get("strides", [1, 1])),
        padding=tuple(pads),
        dilation=tuple(at.get("dilations", [1, 1])),
        groups=int(at.get("group", 1)),
    )


def _pool(kind: str) -> Any:
    def run(_m: OnnxGraphBackbone, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
        x = a[0]
        kernel = tuple(at["kernel_shape"])
        stride = tuple(at.get("strides", kernel))
        pads = list(at.get("pads", [0, 0, 0, 0]))
        if any(pads):
            fill = float("-inf") if kind == "max" else 0.0
            x = F.pad(x, [pads[1], pads[3], pads[0], pads[2]], value=fill)
        if kind == "max":
            return F.max_pool2d(x, kernel, stride, ceil_mode=bool(at.get("ceil_mode", 0)))
        return F.avg_pool2d(x, kernel, stride, ceil_mode=bool(at.get("ceil_mode", 0)))

    return run


def _reduce_mean(m: OnnxGraphBackbone, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    x = a[0]
    axes = [ax % x.dim() for ax in at.get("axes", range(x.dim()))]
    if m.batch_one:
        axes = [ax for ax in axes if ax != 0]
    if not axes:
        return x
    return x.mean(dim=axes, keepdim=bool(at.get("keepdims", 1)))


def _reshape(m: OnnxGraphBackbone, a: list[Any], _at: dict[str, Any]) -> torch.Tensor:
    x, shape = a[0], list(a[1])
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    if m.batch_one and shape and shape[0] == 1:
        shape[0] = x.shape[0]
    return x.reshape(shape)


def _gemm(_m: OnnxGraphBackbone, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    x, w = a[0], a[1]
    if at.get("transA", 0):
        x = x.t()
    if at.get("transB", 0):
        w = w.t()
    out = at.get("alpha", 1.0) * (x @ w)
    if len(a) > 2 and a[2] is not None:
        out = out + at.get("beta", 1.0) * a[2]
    return out


def _split(_m: OnnxGraphBackbone, a: list[Any], at: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    x = a[0]
    axis = int(at.get("axis", 0))
    sizes = at.get("split") or (list(a[1]) if len(a) > 1 and a[1] is not None else None)
    if sizes is None:
        n = int(at.get("num_outputs", 0)) or x.shape[axis]
        sizes = [x.shape[axis] // n] * n
    return tuple(torch.split(x, list(sizes), dim=axis))


def _transpose(_m: OnnxGraphBackbone, a: list[Any], at: dict[str, Any]) -> torch.Tensor:
    perm = at.get("perm") or list(range(a[0].dim()))[::-1]
    return a[0].permute(*perm)


_OPS: dict[str, Any] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": lambda _m, a, _at: a[0] @ a[1],
    "Add": lambda _m, a, _at: a[0] + a[1],
    "Sub": lambda _m, a, _at: a[0] - a[1],
    "Mul": lambda _m, a, _at: a[0] * a[1],
    "Div": lambda _m, a, _at: a[0] / a[1],
    "Neg": lambda _m, a, _at: -a[0],
    "Sqrt": lambda _m, a, _at: torch.sqrt(a[0]),
    "Relu": lambda _m, a, _at: F.relu(a[0]),
    "Sigmoid": lambda _m, a, _at: torch.sigmoid(a[0]),
    "PRelu": lambda _m, a, _at: torch.where(a[0] >= 0, a[0], a[0] * a[1]),
    "Identity": lambda _m, a, _at: a[0],
    "Concat": lambda _m, a, at: torch.cat(a, dim=int(at["axis"])),
    "Split": _split,
    "Transpose": _transpose,
    "Reshape": _reshape,
    "Flatten": lambda _m, a, at: a[0].flatten(int(at.get("axis", 1))),
    "ReduceMean": _reduce_mean,
    "GlobalAveragePool": lambda _m, a, _at: a[0].mean(dim=(2, 3), keepdim=True),
    "AveragePool": _pool("avg"),
    "MaxPool": _pool("max"),
    "Constant": lambda _m, _a, _at: None,  # read once at build time
}


@BACKBONES.register("onnx")
def build_onnx_backbone(
    graph: str = "",
    last_stride: int = 0,
    pooling: nn.Module | None = None,
    input_size: tuple[int, int] | None = None,
) -> OnnxGraphBackbone:
    """The ONNX graph ``graph`` (a path; ``ModelConfig.graph``) as a trainable backbone. Its own
    pooling and stride are part of the graph: ``last_stride`` and ``pooling`` do not apply."""
    if not graph:
        raise ModelError(
            "backbone 'onnx' needs model.graph", hint="model.graph=person-reidentification-retail-0287"
        )
    path = Path(os.path.expandvars(os.path.expanduser(graph)))
    if not path.is_file():  # a model-zoo name, found like any model (REIDKIT_MODEL_DIR, package, cache)
        from reidkit.zoo.registry import resolve_model

        path, _ = resolve_model(graph, download=False)
    backbone = OnnxGraphBackbone(path)
    if input_size is not None and tuple(input_size) != (backbone.spec.height, backbone.spec.width):
        raise ModelError(
            f"the graph takes {backbone.spec.height}x{backbone.spec.width} images, the config asks for "
            f"{input_size[0]}x{input_size[1]}",
            path=graph,
            hint="set data.height / data.width to the graph's input size",
        )
    return backbone
