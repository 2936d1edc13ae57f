"""Name → constructor registries (the pattern of BasicSR's ARCH_REGISTRY and timm's create_model).

Each family (``lrfr.sr``, ``lrfr.recognition``) owns one :class:`Registry` and fills it by
explicit imports in its ``__init__``, so a missing optional dependency of one model never
breaks ``import lrfr``.
"""
from __future__ import annotations

from typing import Any, Callable


class Registry:
    """A named table of constructors. ``build(name, **kw)`` calls the one registered as ``name``."""

    def __init__(self, kind: str):
        self.kind = kind
        self._table: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@REGISTRY.register("sphere20a")`` (default name: the function's name)."""

        def add(fn: Callable[..., Any]) -> Callable[..., Any]:
            key = name or fn.__name__
            if key in self._table:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._table[key] = fn
            return fn

        return add

    def get(self, name: str) -> Callable[..., Any]:
        if not isinstance(name, str) or name not in self._table:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._table[name]

    def build(self, name: str, **kwargs: Any) -> Any:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._table)

    def __contains__(self, name: object) -> bool:
        return name in self._table
