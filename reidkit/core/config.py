"""Typed dataclass configs loaded from YAML, with ``_BASE_`` inheritance and ``a.b=c`` overrides.

A config is a (nested) dataclass. YAML files may name a parent with ``_BASE_: ../base.yaml`` (a path
relative to the file, or a list of them); children override parents key by key. Command-line overrides
``a.b=c`` are parsed as YAML scalars (``lr=3e-4``, ``names=[a,b]``, ``amp=false``) and type-checked against
the dataclass fields, so a typo fails loudly instead of being ignored.

Dataset locations are never edited inside YAML: they come from ``--root`` / environment at run time.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from reidkit.core.errors import ReidkitError

C = TypeVar("C")

BASE_KEY = "_BASE_"


def load_yaml_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML file and merge in its ``_BASE_`` chain (parents first)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ReidkitError("circular _BASE_ chain", path=path)
    if not path.is_file():
        raise ReidkitError("config file not found", path=path, hint="check the path passed to --config")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ReidkitError(f"not valid YAML ({exc.__class__.__name__})", path=path) from exc
    if not isinstance(data, dict):
        raise ReidkitError("a config file must hold a mapping at the top level", path=path)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else list(bases):
        merged = deep_merge(merged, load_yaml_tree(path.parent / base, (*_seen, path)))
    return deep_merge(merged, data)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x,y]"]`` -> ``{"a": {"b": 1}, "c": ["x", "y"]}``."""
    tree: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ReidkitError(f"override {item!r} is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        node = tree
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ReidkitError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = value
    return tree


def from_dict(cls: type[C], data: Mapping[str, Any], _where: str = "") -> C:
    """Build dataclass ``cls`` from a mapping, checking keys and coercing simple types."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ReidkitError(
            f"unknown config key {_where + unknown[0]!r}; valid keys here: {', '.join(sorted(names))}"
        )
    kwargs = {key: _coerce(hints[key], value, f"{_where}{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ReidkitError(f"config key {where!r} must be a mapping, got {value!r}")
        return from_dict(tp, value, f"{where}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ReidkitError as exc:
                errors.append(str(exc))
        raise ReidkitError(errors[0] if errors else f"bad value for {where!r}: {value!r}")
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if isinstance(value, str | int | float):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ReidkitError(f"config key {where!r} must be a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, where) for v in value]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ReidkitError(f"config key {where!r} must be a mapping, got {value!r}")
        return dict(value)
    if origin is typing.Literal:
        if value not in args:
            raise ReidkitError(f"config key {where!r} must be one of {list(args)}, got {value!r}")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ReidkitError(f"config key {where!r} must be true/false, got {value!r}")
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if tp in (float, int) and isinstance(value, str):
        try:
            return tp(value)
        except ValueError:
            pass
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ReidkitError(f"config key {where!r} expects {getattr(tp, '__name__', tp)}, got {value!r}")


def load_config(cls: type[C], path: str | Path | None = None, overrides: Sequence[str] = ()) -> C:
    """Defaults of ``cls`` <- YAML file (with its ``_BASE_`` chain) <- ``a.b=c`` overrides."""
    data = load_yaml_tree(path) if path is not None else {}
    data = deep_merge(data, parse_overrides(overrides))
    return from_dict(cls, data)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_config(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
