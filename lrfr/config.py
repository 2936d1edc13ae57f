"""TOML → dataclasses, strictly: an unknown key is an error that names the key and the file.

Nested dataclass fields are filled from TOML tables; ``list``/``tuple`` fields from arrays.
The resolved config can be written back (``dump_toml``) next to every checkpoint.
"""
from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or mapping does not match the dataclass it should fill."""


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting keys ``cls`` does not declare."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"known keys of [{cls.__name__}]: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(hints.get(key, Any), value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as err:  # missing required fields
        raise ConfigError(f"{where}: {err}") from err


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (list, tuple) and isinstance(value, list):
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is typing.Union or str(origin) == "types.UnionType":
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return from_dict(arg, value, where)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def load_config(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load ``path`` (optionally one top-level ``section`` of it) into dataclass ``cls``."""
    data = load_toml(path)
    where = str(path)
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: missing section [{section}]")
        data, where = data[section], f"{path} [{section}]"
    return from_dict(cls, data, where)


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def dump_toml(data: dict[str, Any]) -> str:
    """Write a (nested) dict of TOML-representable values as TOML text (no dependency needed)."""
    lines: list[str] = []
    _dump_table(data, [], lines)
    return "\n".join(lines).strip() + "\n"


def _dump_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_dump_value(x) for x in v) + "]"
    if v is None:
        return '""'
    if isinstance(v, Path):
        return _dump_value(str(v))
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _dump_table(data: dict[str, Any], prefix: list[str], lines: list[str]) -> None:
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for k, v in data.items():
        if k not in tables:
            lines.append(f"{k} = {_dump_value(v)}")
    for k, v in tables.items():
        lines.append("")
        lines.append("[" + ".".join(prefix + [k]) + "]")
        _dump_table(v, prefix + [k], lines)
