"""Models adapted to a library (``reidkit adapt``), known to the registry by name.

An adapted model is an ordinary reidkit ONNX export whose sidecar carries an ``adaptation`` record
(base model, library, what changed: :mod:`reidkit.adapt`). Every adapted model is listed in
``adapted_dir()/index.json`` (name -> model file), so it can live wherever ``--output`` put it, and a
library re-embedded with it names it like any registry model: :func:`find_adapted` turns the name
into a :class:`~reidkit.zoo.registry.ModelSpec`, registered on first use. Kept free of torch and onnx.

``adapted_dir()`` is ``$REIDKIT_ADAPTED_DIR``, else ``$XDG_DATA_HOME/reidkit/adapted``
(``~/.local/share/reidkit/adapted``): models a user made are data, not a cache to be wiped.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from reidkit.core.errors import ModelError

INDEX_NAME = "index.json"


def adapted_dir() -> Path:
    env = os.environ.get("REIDKIT_ADAPTED_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "reidkit" / "adapted"


def _read_index() -> dict[str, str]:
    path = adapted_dir() / INDEX_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.get("models", {}).items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(
            f"unreadable list of adapted models ({exc.__class__.__name__})",
            path=path,
            hint="fix or delete it; `reidkit adapt` writes it again",
        ) from exc


def record_adapted(name: str, model_path: Path) -> None:
    """Add (or move) ``name`` -> ``model_path`` in the list of adapted models, atomically."""
    folder = adapted_dir()
    folder.mkdir(parents=True, exist_ok=True)
    models = _read_index()
    models[name] = str(Path(model_path).resolve())
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".index-")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"models": dict(sorted(models.items()))}, indent=2) + "\n")
    os.replace(tmp, folder / INDEX_NAME)


def adapted_models() -> dict[str, tuple[Path, dict[str, Any] | None]]:
    """Every listed adapted model: name -> (model file, its sidecar or None when the file is gone)."""
    from reidkit.zoo.sidecar import read_sidecar

    out: dict[str, tuple[Path, dict[str, Any] | None]] = {}
    for name, file in _read_index().items():
        path = Path(file)
        try:
            sidecar = read_sidecar(path) if path.is_file() else None
        except ModelError:
            sidecar = None
        out[name] = (path, sidecar)
    return out


def find_adapted(name: str) -> Any:
    """The registry spec of the adapted model called ``name`` (registered now), or None."""
    from reidkit.zoo.registry import MODELS, ModelSpec, register_model

    path, sidecar = adapted_models().get(name, (None, None))
    if path is None or sidecar is None:
        return None
    record = sidecar.get("adaptation") or {}
    existing = MODELS.find(name)
    if existing is not None:
        return existing
    return register_model(
        ModelSpec(
            name=name,
            task="reid",
            filename=str(path),
            sha256=record.get("sha256"),
            input=sidecar["input"],
            output_dim=sidecar.get("output_dim"),
            fixed_batch=not sidecar.get("dynamic_batch", True),
            family=str(record.get("base_family", "")),
            licence=str(record.get("base_licence", "")),
            description=f"{record.get('base_model', '?')} adapted to the library {record.get('library', '?')}",
        )
    )
