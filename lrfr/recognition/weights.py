"""Recognizer weight files: lrfr's own format, plus the foreign formats lrfr can read.

lrfr's format (``"lrfr-recognizer/1"``) is a torch pickle of plain types, loadable with
``torch.load(..., weights_only=True)``::

    {"format": "lrfr-recognizer/1",
     "arch": "sphere20a",                         # registry name
     "kwargs": {"width": 0.25, ...},              # build kwargs: build(arch, **kwargs)
     "state_dict": {...},                          # strict
     "meta": {...}}                                # free-form provenance (plain types)

Also read: a training checkpoint ``{"epoch": int, "net_state_dict": {...}}`` (the shared
MobileFaceNet CASIA checkpoint's layout) and a bare state dict (``{name: tensor}``).
Every failure raises :class:`WeightsError` (a ``ValueError``) naming the file and what was expected.
"""
from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrfr.io import atomic_torch_save

__all__ = ["FORMAT", "WeightsError", "save_recognizer", "read_weights", "load_state_dict_checked"]

FORMAT = "lrfr-recognizer/1"

EXPECTED = (
    f"a torch.save file holding an lrfr weight file {{'format': '{FORMAT}', 'arch', 'kwargs', "
    "'state_dict', 'meta'}, a training checkpoint {'epoch', 'net_state_dict'}, or a bare state dict "
    "{name: tensor}"
)


class WeightsError(ValueError):
    """A weight file cannot be read, or does not fit the architecture it is loaded into."""


def _plain(obj: Any, where: str) -> Any:
    """Check that ``obj`` is made of types ``weights_only=True`` can load (and copy tuples/lists)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v, where) for v in obj)
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, where) for k, v in obj.items()}
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    raise TypeError(f"save_recognizer: {where} must hold plain types (str, int, float, bool, list, dict, "
                    f"tensor) to load with weights_only=True; got {type(obj).__name__}")


def save_recognizer(model: nn.Module, path: str | Path, arch: str | None = None,
                    kwargs: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` as an lrfr weight file, atomically (temp file + rename).

    ``arch``/``kwargs`` default to what the model remembers from its construction
    (``model.arch``, ``model.build_kwargs``), so ``save_recognizer(build("sphere20a", width=0.25), p)``
    is enough; ``lrfr.recognition.load(weights=p)`` rebuilds and loads it strictly.
    """
    arch = arch if arch is not None else getattr(model, "arch", None)
    if not arch:
        raise ValueError("save_recognizer: pass arch= (the registry name); the model does not record one")
    if kwargs is None:
        kwargs = getattr(model, "build_kwargs", {}) or {}
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "arch": str(arch),
        "kwargs": _plain(dict(kwargs), "kwargs"),
        "state_dict": state,
        "meta": _plain(dict(meta or {}), "meta"),
    }
    return atomic_torch_save(payload, path)


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items())


def _why_unreadable(path: Path, err: Exception) -> str:
    """One readable reason for a failed ``torch.load`` (without torch's advice to drop weights_only)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    detail = next((ln for ln in lines if "Unsupported global" in ln or "WeightsUnpickler error" in ln), None)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != b"PK\x03\x04" and not head.startswith(b"\x80"):
        return "neither a torch.save zip archive nor a legacy torch pickle (random bytes, or another file type)"
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return f"a torch zip archive that is truncated or corrupt ({type(err).__name__}: {(lines or [''])[0][:200]})"
    if detail is not None and "GLOBAL" in detail:
        detail = detail[detail.index("GLOBAL"):].split(" was not")[0]
        return f"it holds Python objects that a weights-only load refuses ({detail})"
    return f"truncated or corrupt ({type(err).__name__}: {(lines or [''])[0][:200]})"


def read_weights(path: str | Path) -> dict[str, Any]:
    """Read a weight file → ``{"kind": "lrfr"|"checkpoint"|"state_dict", "arch", "kwargs",
    "state_dict", "meta", "path"}`` (``arch``/``kwargs`` are None for foreign files)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"recognizer weights not found: {path}")
    if not path.is_file():
        raise WeightsError(f"recognizer weights {path} is not a file; expected {EXPECTED}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt files raise anything: struct.error, EOFError, RuntimeError, …
        raise WeightsError(
            f"cannot read recognizer weights {path} ({path.stat().st_size} bytes): {_why_unreadable(path, err)}. "
            f"Expected {EXPECTED}."
        ) from err
    info: dict[str, Any] = {"path": path, "arch": None, "kwargs": None, "meta": {}}
    if isinstance(obj, Mapping) and "format" in obj:
        if obj.get("format") != FORMAT:
            raise WeightsError(f"{path}: weight file format {obj.get('format')!r} is not supported; "
                               f"this lrfr reads {FORMAT!r}")
        missing = [k for k in ("arch", "kwargs", "state_dict") if k not in obj]
        if missing or not isinstance(obj["state_dict"], Mapping):
            raise WeightsError(f"{path}: lrfr weight file lacks {missing or ['a state_dict mapping']}; "
                               f"expected {EXPECTED}")
        info.update(kind="lrfr", arch=obj["arch"], kwargs=dict(obj["kwargs"] or {}),
                    state_dict=dict(obj["state_dict"]), meta=dict(obj.get("meta") or {}))
    elif isinstance(obj, Mapping) and "net_state_dict" in obj:
        if not _is_state_dict(obj["net_state_dict"]):
            raise WeightsError(f"{path}: 'net_state_dict' is not a mapping of names to tensors; expected {EXPECTED}")
        info.update(kind="checkpoint", state_dict=dict(obj["net_state_dict"]),
                    meta={k: v for k, v in obj.items() if k != "net_state_dict" and isinstance(v, (int, float, str))})
    elif isinstance(obj, Mapping) and "state_dict" in obj and _is_state_dict(obj["state_dict"]):
        info.update(kind="checkpoint", state_dict=dict(obj["state_dict"]))
    elif _is_state_dict(obj):
        info.update(kind="state_dict", state_dict=dict(obj))
    else:
        what = type(obj).__name__
        if isinstance(obj, Mapping):
            what += f" with keys {list(obj)[:8]}"
        raise WeightsError(f"{path}: holds a {what}, not recognizer weights; expected {EXPECTED}")
    return info


def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | Path,
                            arch: str) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with an error naming the file, the
    architecture, and the missing / unexpected / mis-shaped entries."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k}: file {tuple(state_dict[k].shape)} vs {arch} {tuple(v.shape)}"
              for k, v in own.items() if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        def few(items):
            return ", ".join(items[:5]) + (f" … (+{len(items) - 5} more)" if len(items) > 5 else "")

        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {few(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es): {few(shapes)}")
        raise WeightsError(
            f"{path} does not fit architecture {arch!r} (expected its {len(own)}-entry state dict; the file "
            f"has {len(state_dict)}): " + "; ".join(parts) + ". Wrong architecture name or build kwargs?"
        )
    model.load_state_dict(state_dict, strict=True)
