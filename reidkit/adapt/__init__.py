"""Adapt a library's model to the library's own cameras, without labels (``reidkit adapt``).

Needs the ``train`` extra (torch), except :func:`remove_camera_light` (``reidkit adapt --light-only``);
nothing below this package imports it, so search and indexing stay torch-free. See
:mod:`reidkit.adapt.adapt` and docs/adapt.md.
"""

from reidkit.adapt.adapt import AdaptConfig, AdaptReport, LightReport, adapt_library, remove_camera_light

__all__ = ["AdaptConfig", "AdaptReport", "LightReport", "adapt_library", "remove_camera_light"]
