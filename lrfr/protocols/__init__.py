"""Evaluation protocols: LFW standard, LFW-BLUFR and CelebA verification.

Each protocol is declared by a TOML file (``protocols/NAME.toml`` at the top of the source tree,
shipped in the wheel as the package ``lrfr._protocol_files``) and run by the class its
``kind`` names::

    import lrfr.protocols
    lrfr.protocols.names()                              # ['blufr', 'celeba', 'lfw']
    proto = lrfr.protocols.get("blufr", full_grid=False, trials=[1, 2])
    data = proto.prepare("/data/lfw")                   # data.image_paths: what to embed
    result = proto.run(data, features)                  # features[i] ↔ data.image_paths[i]
    result.summary["vr@far=0.1%_mean_minus_std"], result.per_fold, result.curves["roc"]

``get`` also takes a path to a TOML file of the same form. Keyword overrides replace top-level
keys of the TOML before it is checked, so an unknown key is an error naming it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lrfr.config import ConfigError, from_dict, load_toml
from lrfr.errors import LrfrError
from lrfr.protocols.base import Protocol, ProtocolData, ProtocolResult
from lrfr.protocols.blufr import BlufrData, BlufrProtocol
from lrfr.protocols.celeba import CelebAProtocol, draw_pairs
from lrfr.protocols.lfw import LFWProtocol, PairsData

KINDS: dict[str, type[Protocol]] = {cls.kind: cls for cls in (LFWProtocol, BlufrProtocol, CelebAProtocol)}


def _builtin_files() -> dict[str, Path]:
    """Built-in protocol name → its TOML file.

    Installed from a wheel, the files are the package ``lrfr._protocol_files``: a folder without
    ``__init__.py``, for which ``importlib.resources.files`` returns a namespace ``MultiplexedPath``
    (``str()`` of it is not a path), so its entries are listed through the Traversable API, which
    yields concrete paths. In a source checkout (editable install) the package is not importable
    and the files are the top-level ``protocols/`` folder.
    """
    found: dict[str, Path] = {}
    try:
        from importlib.resources import files

        for entry in files("lrfr._protocol_files").iterdir():
            if entry.name.endswith(".toml") and entry.is_file():
                path = entry if isinstance(entry, Path) else Path(str(entry))
                if path.is_file():  # a real file (not inside a zip archive)
                    found.setdefault(entry.name[: -len(".toml")], path)
    except (ImportError, TypeError, OSError):
        pass
    if not found:
        import lrfr

        source = Path(lrfr.__file__).resolve().parent.parent / "protocols"
        found = {p.stem: p for p in source.glob("*.toml")}
    return dict(sorted(found.items()))


def protocol_dir() -> Path:
    """Folder of the built-in protocol TOMLs (the wheel's ``lrfr._protocol_files``, else the source tree's ``protocols/``)."""
    files = _builtin_files()
    if not files:
        raise LrfrError("lrfr's built-in protocol files are missing (lrfr._protocol_files); reinstall lrfr")
    return next(iter(files.values())).parent


def names() -> list[str]:
    """Names of the built-in protocols."""
    return list(_builtin_files())


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise FileNotFoundError(f"protocol file not found: {p}")
        return p
    built_in = _builtin_files().get(str(name_or_path))
    if built_in is None:
        raise KeyError(f"unknown protocol {str(name_or_path)!r}; known: {', '.join(names()) or '(none found: reinstall lrfr)'} "
                       "(or pass a path to a .toml)")
    return built_in


def get(name_or_path: str | Path, **overrides: Any) -> Protocol:
    """A configured :class:`Protocol` from a built-in name or a TOML path, with top-level keys
    replaced by ``overrides`` (unknown keys, in the file or the overrides, raise ``ConfigError``)."""
    if isinstance(name_or_path, Protocol):
        if overrides:
            raise ValueError("get: overrides need a protocol name or path, not a Protocol instance")
        return name_or_path
    path = _resolve(name_or_path)
    data = load_toml(path)
    data.update(overrides)
    kind = data.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{path}: 'kind' must be one of {', '.join(KINDS)}; got {kind!r}")
    data.setdefault("name", path.stem)
    cls = KINDS[kind]
    where = f"{path}" + (f" (with overrides {', '.join(overrides)})" if overrides else "")
    config = from_dict(cls.config_class, data, where)
    return cls(config, source=path)


__all__ = [
    "BlufrData", "BlufrProtocol", "CelebAProtocol", "KINDS", "LFWProtocol", "PairsData", "Protocol",
    "ProtocolData", "ProtocolResult", "draw_pairs", "get", "names", "protocol_dir",
]
