"""Backbones; importing this package registers them all in ``BACKBONES``.

A backbone is built as ``BACKBONES.build(name, last_stride=, pooling=, **overrides)`` and maps
(B, 3, H, W) images to (B, feature_dim) vectors (pooling included). ``overrides`` shrink depth/width
in tests.
"""

from reidkit.models.backbones import mobilenet, onnx_graph, osnet, resnet, vit_clip  # noqa: F401
