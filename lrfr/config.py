"""TOML → dataclasses, strictly: an unknown key is an error that names the key and the file.

Nested dataclass fields are filled from TOML tables; ``list``/``tuple`` fields from arrays.
A numeric or string field may carry its allowed values, declared beside it with :func:`bounded`
(``batch_size: int = bounded(16, ge=1)``); every value read from a file or ``--set`` is checked
against them, and every problem of a mapping (unknown keys, wrong types, values out of range) is
reported at once. The resolved config can be written back (``dump_toml``) next to every checkpoint.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import sys
import types
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


def _number_text(x: float) -> str:
    return f"{x:g}"


@dataclasses.dataclass(frozen=True)
class Bound:
    """The values a config field allows: an interval (any of ``ge``/``gt``/``le``/``lt``) or ``choices``.

    On a list field it applies to every item (``milestones``, ``betas``, per-step weights).
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None
    #: a function that raises ``ValueError`` naming what is wrong with a value (a degradation spec's parser)
    check: Any = None

    def allows(self, value: Any) -> bool:
        return self.problem(value) is None

    def problem(self, value: Any) -> str | None:
        """``None`` when ``value`` is allowed, else what is expected (or what the ``check`` said)."""
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as err:
                return str(err)
            return None
        return None if self._in_range(value) else f"expected {self.describe()}"

    def _in_range(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True  # a type error, reported by the type check
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def describe(self) -> str:
        """``">= 1"``, ``"in [0, 1]"``, ``"in (0, 1]"``, ``"one of 'fp32', 'bf16'"``."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        low = (f"[{_number_text(self.ge)}" if self.ge is not None else f"({_number_text(self.gt)}"
               if self.gt is not None else None)
        high = (f"{_number_text(self.le)}]" if self.le is not None else f"{_number_text(self.lt)})"
                if self.lt is not None else None)
        if low and high:
            return f"in {low}, {high}"
        if low:
            return (">= " if low[0] == "[" else "> ") + low[1:]
        return ("<= " if high[-1] == "]" else "< ") + high[:-1]


def bounded(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, ge: float | None = None,
            gt: float | None = None, le: float | None = None, lt: float | None = None,
            choices: tuple | None = None, check: Any = None):
    """A dataclass field with its allowed values (:class:`Bound`), checked when a config is read.

    ``factory`` instead of ``default`` for lists (``bounded(factory=lambda: [0.9, 0.999], ge=0, lt=1)``).
    """
    bound = Bound(ge=ge, gt=gt, le=le, lt=lt, choices=tuple(choices) if choices is not None else None, check=check)
    for name, x in (("default", default), ("factory", factory() if factory is not dataclasses.MISSING else [])):
        items = x if isinstance(x, (list, tuple)) else [x]
        if check is None and x is not dataclasses.MISSING and not all(bound.allows(v) for v in items):
            raise ValueError(f"bounded: the {name} {x!r} is not {bound.describe()}")
    return dataclasses.field(default=default, default_factory=factory, metadata={"bound": bound})


def section(cls: type, **defaults):
    """A nested section field whose defaults are the enclosing recipe's (``section(OptimConfig, lr=0.1)``).

    A file that gives the section with some keys left out gets these defaults for them, not the
    section class's own (:func:`from_dict` starts from the field's default).
    """
    return dataclasses.field(default_factory=lambda: cls(**copy.deepcopy(defaults)))  # no list shared between configs


def field_bound(f: dataclasses.Field) -> Bound | None:
    """The :class:`Bound` declared on a dataclass field, or ``None``."""
    return f.metadata.get("bound")


def _out_of_bounds(f: dataclasses.Field, value: Any, where: str) -> str | None:
    bound = field_bound(f)
    if bound is None or value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    bad = [p for p in (bound.problem(v) for v in items) if p is not None]
    if not bad:
        return None
    each = " (each item)" if isinstance(value, (list, tuple)) else ""
    what = "is out of range" if bound.choices is None and bound.check is None else "is not allowed"
    return f"{where} = {value!r} {what}: {bad[0]}{each}"


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config", base: T | None = None) -> T:
    """Build dataclass ``cls`` from ``data``, rejecting keys ``cls`` does not declare.

    Every problem in the mapping is reported at once (unknown keys, each with the nearest known
    key as a suggestion, values of the wrong type, values out of their declared bounds), in one
    :class:`ConfigError`. ``base``: an instance whose values stand for the keys ``data`` leaves out
    (a recipe's defaults for a shared section); else the class defaults do.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    problems: list[str] = []
    for key in sorted(set(data) - set(fields)):
        near = difflib.get_close_matches(key, list(fields), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        problems.append(f"{where}: unknown key {key!r}{hint}; known keys of [{cls.__name__}]: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            continue
        try:
            kwargs[key] = _coerce(hints.get(key, Any), value, f"{where}.{key}", _section_default(fields[key]))
        except ConfigError as err:
            problems.extend(str(err).split("\n"))
            continue
        if (problem := _out_of_bounds(fields[key], kwargs[key], f"{where}.{key}")) is not None:
            problems.append(problem)
    if problems:
        raise ConfigError("\n".join(problems))
    if base is not None:
        kwargs = {**{f.name: getattr(base, f.name) for f in dataclasses.fields(cls) if f.init}, **kwargs}
    try:
        return cls(**kwargs)
    except TypeError as err:  # missing required fields
        raise ConfigError(f"{where}: {err}") from err


_SCALARS = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


def _section_default(f: dataclasses.Field) -> Any:
    """The default instance of a nested-section field (``None`` for other fields)."""
    if f.default_factory is dataclasses.MISSING:
        return None
    made = f.default_factory()
    return made if dataclasses.is_dataclass(made) else None


def _coerce(tp: Any, value: Any, where: str, base: Any = None) -> Any:
    """Check ``value`` against the annotation ``tp`` (scalars strictly: ``lr = "0.1x"`` is an error)."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where, base=base if isinstance(base, tp) else None)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {_describe(value)} fits none of {tp}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected an array, got {_describe(value)}")
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {_describe(value)}")
        args = typing.get_args(tp)
        inner = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(inner, v, f"{where}.{k}") for k, v in value.items()}
    if tp in _SCALARS:
        ok = isinstance(value, tp) and (tp is bool or not isinstance(value, bool))
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            hint = ""
            if isinstance(value, str) and tp is not str:
                hint = " (from --set? strings are the fallback for values that are not valid TOML)"
            raise ConfigError(f"{where}: expected {_SCALARS[tp]}, got {_describe(value)}{hint}")
        return value
    return value


def bound_problems(obj: Any, where: str = "config") -> list[str]:
    """Every value of a config instance (nested sections too) outside its field's declared bounds.

    :func:`from_dict` checks what a file gives; this checks a config built in code (or its defaults).
    """
    problems = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            problems += bound_problems(value, f"{where}.{f.name}")
        elif (problem := _out_of_bounds(f, value, f"{where}.{f.name}")) is not None:
            problems.append(problem)
    return problems


def check_bounds(obj: Any, where: str = "config") -> None:
    """Raise one :class:`ConfigError` naming every value of ``obj`` outside its bounds."""
    if problems := bound_problems(obj, where):
        raise ConfigError("\n".join(problems))


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
    """Write a (nested) dict of TOML-representable values as TOML text (no dependency needed).

    TOML has no null: a ``None`` value is written as a comment (``# key = None``) and so left out,
    and reading the text back gives the field its default. Optional fields therefore default to
    ``None``, which makes ``None`` survive the round trip.
    """
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
    if isinstance(v, Path):
        return _dump_value(str(v))
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _dump_key(k: str) -> str:
    """A bare key where TOML allows one, else a quoted key (a degradation spec as a key: ``"down:bicubic"``)."""
    return k if k and all(c.isalnum() or c in "_-" for c in k) and k.isascii() else _dump_value(k)


def _dump_table(data: dict[str, Any], prefix: list[str], lines: list[str]) -> None:
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for k, v in data.items():
        if v is None:
            lines.append(f"# {_dump_key(k)} = None")
        elif k not in tables:
            lines.append(f"{_dump_key(k)} = {_dump_value(v)}")
    for k, v in tables.items():
        lines.append("")
        lines.append("[" + ".".join(_dump_key(p) for p in prefix + [k]) + "]")
        _dump_table(v, prefix + [k], lines)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["optim.iterations=100"]`` → ``data["optim"]["iterations"] = 100`` (the value parsed as TOML).

    A value that is not valid TOML is kept as a bare string (``run.out=runs/x``); the dataclass's
    type check then rejects it where the key is not a string (``optim.lr=0.1x``), naming the key.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE; got {item!r}")
        dotted, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        *sections, key = dotted.strip().split(".")
        table = data
        for s in sections:
            nxt = table.setdefault(s, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {item!r}: {s!r} is a value, not a section")
            table = nxt
        table[key] = value
    return data
