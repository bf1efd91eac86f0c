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


class ConfigKeyError(ReidkitError):
    """A config key that is unknown or holds a bad value; ``key`` (dotted) lets :func:`load_config` name
    the file or the override it came from, which the merged tree no longer knows."""

    def __init__(
        self, message: str, *, key: str, path: str | Path | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, path=path, hint=hint)
        self.key = key


def load_yaml_tree(
    path: str | Path,
    _seen: tuple[Path, ...] = (),
    sources: list[tuple[Path, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Read a YAML file and merge in its ``_BASE_`` chain (parents first); ``sources`` collects each
    file's own tree in merge order."""
    path = Path(path).resolve()
    if path in _seen:
        raise ReidkitError("circular _BASE_ chain", path=path)
    if not path.is_file():
        raise ReidkitError("config file not found", path=path, hint="check the path passed to --config")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ReidkitError(yaml_problem(exc), path=path, hint="fix the YAML syntax there") from exc
    if not isinstance(data, dict):
        raise ReidkitError("a config file must hold a mapping at the top level", path=path)
    bases = data.pop(BASE_KEY, None)
    merged: dict[str, Any] = {}
    for base in [] if bases is None else [bases] if isinstance(bases, str) else list(bases):
        merged = deep_merge(merged, load_yaml_tree(path.parent / base, (*_seen, path), sources))
    if sources is not None:
        sources.append((path, data))
    return deep_merge(merged, data)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line saying what is wrong with a YAML text and where (1-based line and column)."""
    mark = getattr(exc, "problem_mark", None)
    problem = " ".join(str(getattr(exc, "problem", None) or exc.__class__.__name__).split())
    if mark is None:
        return f"not valid YAML: {problem}"
    text = f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    # An unclosed bracket or quote is found only at the end of the file: the context says where it opened.
    context, opened = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and opened is not None and opened.line != mark.line:
        text += f" ({' '.join(str(context).split())} at line {opened.line + 1}, column {opened.column + 1})"
    return text


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
        raise ConfigKeyError(
            f"unknown config key {_where + unknown[0]!r}; valid keys here: {', '.join(sorted(names))}",
            key=_where + unknown[0],
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
            raise ConfigKeyError(f"config key {where!r} must be a mapping, got {value!r}", key=where)
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
        raise ConfigKeyError(errors[0] if errors else f"bad value for {where!r}: {value!r}", key=where)
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if isinstance(value, str | int | float):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigKeyError(f"config key {where!r} must be a list, got {value!r}", key=where)
        inner = args[0] if args else Any
        items = [_coerce(inner, v, where) for v in value]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigKeyError(f"config key {where!r} must be a mapping, got {value!r}", key=where)
        return dict(value)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigKeyError(
                f"config key {where!r} must be one of {list(args)}, got {value!r}", key=where
            )
        return value
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigKeyError(f"config key {where!r} must be true/false, got {value!r}", key=where)
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
    raise ConfigKeyError(
        f"config key {where!r} expects {getattr(tp, '__name__', tp)}, got {value!r}", key=where
    )


def load_config(cls: type[C], path: str | Path | None = None, overrides: Sequence[str] = ()) -> C:
    """Defaults of ``cls`` <- YAML file (with its ``_BASE_`` chain) <- ``a.b=c`` overrides."""
    files: list[tuple[Path, dict[str, Any]]] = []
    data = load_yaml_tree(path, sources=files) if path is not None else {}
    data = deep_merge(data, parse_overrides(overrides))
    try:
        return from_dict(cls, data)
    except ConfigKeyError as exc:
        raise named_by_source(exc, files, overrides) from exc


def named_by_source(
    exc: ConfigKeyError, files: Sequence[tuple[Path, Mapping[str, Any]]], overrides: Sequence[str]
) -> ConfigKeyError:
    """``exc`` naming where its key was set: the last override or file that sets it (the one that won)."""
    for item in reversed(overrides):
        if _sets(parse_overrides([item]), exc.key):
            return ConfigKeyError(f"{exc.message} (from the override {item!r})", key=exc.key, hint=exc.hint)
    for file, tree in reversed(files):
        if _sets(tree, exc.key):
            return ConfigKeyError(exc.message, key=exc.key, path=file, hint=exc.hint)
    return exc


def _sets(tree: Mapping[str, Any], key: str) -> bool:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_config(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
