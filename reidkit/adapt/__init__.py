"""Adapt a library's model to the library's own cameras, without labels (``reidkit adapt``).

Needs the ``train`` extra (torch); nothing below this package imports it, so search and indexing stay
torch-free. See :mod:`reidkit.adapt.adapt` and docs/adapt.md.
"""

from reidkit.adapt.adapt import AdaptConfig, AdaptReport, adapt_library

__all__ = ["AdaptConfig", "AdaptReport", "adapt_library"]
