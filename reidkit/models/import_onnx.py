"""Load the weights of an ONNX ReID model into the matching reidkit torch module.

Exporters usually fold each BatchNorm into the convolution before it, so an ONNX file holds
``Conv(W', b')`` where our module has ``Conv(W) -> BatchNorm``. The mapping is structural, not by name:

1. ONNX side: the ``Conv``, ``Gemm`` / ``MatMul`` and ``BatchNormalization`` nodes in graph order, each
   weight initializer taken once (a module applied several times, like OSNet's shared channel gate,
   appears once).
2. torch side: the ``Conv2d``, ``Linear`` and ``BatchNorm`` leaf modules in the order a forward pass
   on a dummy input runs them, each module once.
3. The two sequences are walked together and must agree on kind and weight shape (and conv groups).
   A torch ``Conv2d -> BatchNorm`` pair facing one ONNX ``Conv`` means the BN was folded: the conv
   takes ``W'`` and the BN becomes an identity that adds ``b'`` (weight 1, bias ``b'``, running mean
   0, running var ``1 - eps``), so eval-mode outputs equal the ONNX model's.

In train mode such an identity BN would normalise with batch statistics that the folded weights never
saw; :func:`recalibrate_batchnorm` fixes that without changing the eval function: it measures each
BN's input statistics on real images and rescales (weight, bias, running stats) so that batch
statistics of similar data reproduce the eval output. ``ReidModel`` runs it on its first training
batch when weights came from an ONNX file (``bn_calibration_pending``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reidkit.core.errors import ModelError
from reidkit.core.log import get_logger

log = get_logger(__name__)

_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass
class OnnxParam:
    """One parametrised ONNX node: ``kind`` is "conv", "linear" or "bn"."""

    kind: str
    node: str
    weight: np.ndarray
    bias: np.ndarray | None = None
    groups: int = 1
    mean: np.ndarray | None = None  # BatchNormalization only
    var: np.ndarray | None = None
    eps: float = 1e-5


def read_onnx_params(path: str | Path) -> list[OnnxParam]:
    """The parametrised nodes of an ONNX graph in graph order, each weight initializer once."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise ModelError("ONNX file not found", path=path, hint="check ModelConfig.pretrained")
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # protobuf raises several private types
        raise ModelError(f"not a valid ONNX model ({exc.__class__.__name__})", path=path) from exc
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    # Constant nodes can carry weights too (some exporters emit them instead of initializers).
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            inits[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)

    params: list[OnnxParam] = []
    seen: set[str] = set()
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        names = [n for n in node.input[1:] if n in inits]
        if node.op_type in ("Conv", "Gemm", "MatMul", "BatchNormalization") and not names:
            continue
        if names and names[0] in seen:
            continue
        if node.op_type == "Conv":
            bias = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            params.append(
                OnnxParam("conv", node.name, inits[node.input[1]], bias, int(attrs.get("group", 1)))
            )
        elif node.op_type == "Gemm":
            weight = inits[node.input[1]]
            if not attrs.get("transB", 0):
                weight = weight.T
            bias = inits.get(node.input[2]) if len(node.input) > 2 else None
            params.append(OnnxParam("linear", node.name, weight, bias))
        elif node.op_type == "MatMul":
            params.append(OnnxParam("linear", node.name, inits[node.input[1]].T))
        elif node.op_type == "BatchNormalization":
            scale, shift, mean, var = (inits[n] for n in node.input[1:5])
            params.append(
                OnnxParam(
                    "bn", node.name, scale, shift, mean=mean, var=var, eps=float(attrs.get("epsilon", 1e-5))
                )
            )
        else:
            continue
        seen.update(names)
    return params


def execution_order(module: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """Conv2d / Linear / BatchNorm leaves in the order a forward pass runs them (each once)."""
    names = {m: n for n, m in module.named_modules()}
    order: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()

    def record(m: nn.Module, _inputs: object, _output: object) -> None:
        if id(m) not in seen:
            seen.add(id(m))
            order.append((names[m], m))

    handles = [
        m.register_forward_hook(record)
        for m in module.modules()
        if isinstance(m, nn.Conv2d | nn.Linear | nn.BatchNorm1d | nn.BatchNorm2d)
    ]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(example)
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return order


def load_onnx_weights(module: nn.Module, path: str | Path, example: torch.Tensor) -> list[str]:
    """Copy the ONNX file's weights into ``module`` (see the module docstring for how they match).

    Returns the names of the BatchNorm modules that received folded (identity) parameters.
    Raises ModelError naming the first mismatch when the architectures differ.
    """
    onnx_params = read_onnx_params(path)
    torch_modules = execution_order(module, example)
    folded: list[str] = []
    i = j = 0

    def mismatch(what: str) -> ModelError:
        here = torch_modules[i][0] if i < len(torch_modules) else "<end of model>"
        there = onnx_params[j].node if j < len(onnx_params) else "<end of graph>"
        return ModelError(
            f"weights do not fit the model at {here} / ONNX node {there}: {what}",
            path=path,
            hint="pick the backbone the ONNX file was exported from",
        )

    with torch.no_grad():
        while i < len(torch_modules):
            _, m = torch_modules[i]
            if j >= len(onnx_params):
                raise mismatch("the ONNX graph has fewer parametrised nodes")
            p = onnx_params[j]
            following = torch_modules[i + 1][1] if i + 1 < len(torch_modules) else None
            if isinstance(m, nn.Conv2d | nn.Linear):
                kind = "conv" if isinstance(m, nn.Conv2d) else "linear"
                if p.kind != kind or tuple(p.weight.shape) != tuple(m.weight.shape):
                    raise mismatch(f"{kind} {tuple(m.weight.shape)} vs {p.kind} {tuple(p.weight.shape)}")
                if isinstance(m, nn.Conv2d) and m.groups != p.groups:
                    raise mismatch(f"groups {m.groups} vs {p.groups}")
                m.weight.copy_(torch.from_numpy(p.weight.copy()))
                bias = torch.zeros(m.weight.shape[0]) if p.bias is None else torch.from_numpy(p.bias.copy())
                next_is_folded_bn = (
                    isinstance(following, _BN)
                    and following.num_features == m.weight.shape[0]
                    and (j + 1 >= len(onnx_params) or onnx_params[j + 1].kind != "bn")
                )
                if next_is_folded_bn:
                    assert isinstance(following, _BN)
                    _set_identity_bn(following, bias)
                    folded.append(torch_modules[i + 1][0])
                    i += 1
                elif m.bias is not None:
                    m.bias.copy_(bias)
                elif p.bias is not None and np.abs(p.bias).max() > 0:
                    raise mismatch("the ONNX node has a bias the module lacks")
            elif isinstance(m, _BN):
                if p.kind != "bn" or p.weight.shape[0] != m.num_features:
                    raise mismatch(f"BatchNorm({m.num_features}) vs {p.kind} {tuple(p.weight.shape)}")
                assert p.bias is not None and p.mean is not None and p.var is not None
                m.weight.copy_(torch.from_numpy(p.weight.copy()))
                m.bias.copy_(torch.from_numpy(p.bias.copy()))
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.copy_(torch.from_numpy(p.mean.copy()))
                m.running_var.copy_(torch.from_numpy(p.var.copy()))
                m.eps = p.eps
            i += 1
            j += 1
    if j != len(onnx_params):
        raise mismatch(f"{len(onnx_params) - j} ONNX parametrised nodes are left over")
    log.info("loaded %d ONNX tensors from %s (%d folded BatchNorms)", j, path, len(folded))
    return folded


def _set_identity_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d, shift: torch.Tensor) -> None:
    assert bn.running_mean is not None and bn.running_var is not None
    bn.weight.fill_(1.0)
    bn.bias.copy_(shift)
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0 - bn.eps)


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, images: torch.Tensor) -> int:
    """Re-estimate every BatchNorm's statistics on ``images`` without changing the eval function.

    Each BN computes ``(z - mean) * a + bias`` in eval, ``a = weight / sqrt(var + eps)``. The input
    statistics ``(m, v)`` of ``z`` are measured in eval mode, then ``running = (m, v)``,
    ``weight = a * sqrt(v + eps)`` and ``bias += a * (m - mean)``: the eval output is unchanged and a
    training batch like ``images`` now sees (almost) the same function. Returns how many BNs changed.
    """
    stats: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def measure(m: nn.Module, inputs: tuple[torch.Tensor, ...], _output: object) -> None:
        z = inputs[0].float()
        dims = [0] if z.dim() == 2 else [0, 2, 3]
        if m not in stats:
            stats[m] = (z.mean(dims), z.var(dims, unbiased=False))

    bns = [m for m in module.modules() if isinstance(m, _BN) and m.track_running_stats]
    handles = [m.register_forward_hook(measure) for m in bns]
    was_training = module.training
    try:
        module.eval()
        module(images)
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    for bn in bns:
        if bn not in stats or bn.running_mean is None or bn.running_var is None:
            continue
        mean, var = stats[bn]
        a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bn.bias.add_(a * (mean - bn.running_mean))
        bn.weight.copy_(a * torch.sqrt(var + bn.eps))
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    return len(stats)
