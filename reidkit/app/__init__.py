"""A small local web app over a library (``reidkit serve``); standard library only."""

from reidkit.app.server import SearchApp, make_server, serve

__all__ = ["SearchApp", "make_server", "serve"]
