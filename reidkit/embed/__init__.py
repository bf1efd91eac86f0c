"""Person crops -> L2-normalised appearance vectors (ONNX Runtime backends)."""

from reidkit.embed.onnx import OnnxEmbedder, build_embedder

__all__ = ["OnnxEmbedder", "build_embedder"]
