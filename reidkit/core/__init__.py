"""Lowest layer: errors, registries, typed configs, logging and the data types shared by every stage."""

from reidkit.core.errors import ReidkitError
from reidkit.core.registry import Registry

__all__ = ["Registry", "ReidkitError"]
