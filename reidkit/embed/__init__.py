"""Person crops -> L2-normalised appearance vectors (``build_embedder``), and per-tracklet pooling."""

from reidkit.embed.crops import CropQualityConfig, CropSampler, CropSamplerConfig, box_quality, cut_crop
from reidkit.embed.factory import build_embedder
from reidkit.embed.onnx import OnnxEmbedder
from reidkit.embed.pooling import (
    TrackletEmbedding,
    embed_tracklet,
    embed_tracklets,
    encode_thumbnail,
    pool_vectors,
)

__all__ = [
    "CropQualityConfig",
    "CropSampler",
    "CropSamplerConfig",
    "OnnxEmbedder",
    "TrackletEmbedding",
    "box_quality",
    "build_embedder",
    "cut_crop",
    "embed_tracklet",
    "embed_tracklets",
    "encode_thumbnail",
    "pool_vectors",
]
