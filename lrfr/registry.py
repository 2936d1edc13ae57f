"""Name → constructor registries (the pattern of BasicSR's ARCH_REGISTRY and timm's create_model).

Each family (``lrfr.sr``, ``lrfr.recognition``) owns one :class:`Registry` and fills it by
explicit imports in its ``__init__``, so a missing optional dependency of one model never
breaks ``import lrfr``.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from lrfr.errors import UnknownArgumentError


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
        """The constructor registered as ``name`` called with ``kwargs``: an unknown ``name`` is a ``KeyError``
        listing the known ones, an unknown keyword an :class:`~lrfr.errors.UnknownArgumentError` (a
        ``TypeError``) listing the accepted ones — before anything is built (``build("bicubic", sclae=4)``)."""
        factory = self.get(name)
        check_kwargs(self.kind, name, factory, kwargs)
        return factory(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._table)

    def __contains__(self, name: object) -> bool:
        return name in self._table


def check_kwargs(kind: str, name: str, factory: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse keyword arguments ``factory`` does not take, naming them and the accepted ones."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items()
                if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    bad = [k for k in kwargs if k not in accepted]
    if bad:
        raise UnknownArgumentError(f"{kind} {name!r} got unknown argument(s) {', '.join(map(repr, bad))}; "
                                   f"it accepts: {', '.join(accepted) or '(none)'}")
