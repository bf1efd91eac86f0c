"""Registries of the pluggable model parts. Each entry is a factory; see the modules that fill them."""

from __future__ import annotations

from reidkit.core.registry import Registry

BACKBONES: Registry = Registry("backbone")  # (last_stride=, pooling=) -> nn.Module with .feature_dim
POOLINGS: Registry = Registry("pooling")  # () -> nn.Module (B,C,H,W) -> (B,C)
HEADS: Registry = Registry("neck")  # (in_dim, embedding_dim) -> nn.Module with .out_dim
CLASSIFIERS: Registry = Registry("classifier")  # (in_dim, num_classes, scale=, margin=) -> nn.Module
LOSSES: Registry = Registry("loss")  # (LossConfig) -> callable(outputs, targets) -> Tensor
