"""Name -> entry registries (backbones, heads, losses, datasets, detectors, model specs, ...).

Usage::

    BACKBONES = Registry("backbone")

    @BACKBONES.register("osnet_x0_25")
    def osnet_x0_25(**kwargs): ...

    model = BACKBONES.build("osnet_x0_25", pretrained=False)

Entries that are not factories (the model zoo's specs) are added with :meth:`Registry.add`. A name is
registered once: a second, different entry under it is an error, never a silent replacement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name`` (default: its ``__name__``)."""

        def deco(obj: T) -> T:
            key = name or getattr(obj, "__name__", None)
            if not key:
                raise ValueError(f"cannot register an unnamed {self.kind}")
            return self.add(key, obj)

        return deco

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name``; re-adding the very same object (a module reload) is a no-op."""
        if name in self._items and self._items[name] is not obj:
            raise KeyError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def find(self, name: str) -> T | None:
        """The entry under ``name``, or None."""
        return self._items.get(name)

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        factory: Any = self.get(name)
        return factory(*args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._items)

    def values(self) -> list[T]:
        """Every entry, in name order."""
        return [self._items[name] for name in sorted(self._items)]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
