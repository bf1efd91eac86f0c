"""Backbones; importing this package registers them all in ``BACKBONES``."""

from reidkit.models.backbones import osnet  # noqa: F401
