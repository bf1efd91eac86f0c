"""reidkit.export: ONNX export with parity checks, sidecar metadata and int8 quantisation."""

from reidkit.zoo.sidecar import read_sidecar, sidecar_path, write_sidecar

__all__ = ["read_sidecar", "sidecar_path", "write_sidecar"]
