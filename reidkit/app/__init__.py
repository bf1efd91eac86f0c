"""The web app over a library (``reidkit serve``): FastAPI + uvicorn, a page with no build step.

from reidkit.app import ServeConfig, serve
serve(ServeConfig(library=Path("lib/")))      # http://127.0.0.1:8000/ until Ctrl+C
"""

from reidkit.app.server import create_app, guarded_app, serve
from reidkit.app.state import AppState, ServeConfig

__all__ = ["AppState", "ServeConfig", "create_app", "guarded_app", "serve"]
