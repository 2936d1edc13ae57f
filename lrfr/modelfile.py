"""One file format for every trained network lrfr writes: recognizers, SR generators, discriminators.

A model file is a ``torch.save``'d dict of plain types, loadable with
``torch.load(..., weights_only=True)`` (no pickled classes, no code runs on load)::

    {"format": "lrfr-model/1",
     "family": "sr",                      # "recognizer" | "sr" | "discriminator"
     "arch": "srresnet",                  # registry name within the family
     "kwargs": {"scale": 8, ...},         # build kwargs: the family's build(arch, **kwargs)
     "state_dict": {...},                 # loaded strictly
     "dtype": "float16",                  # dtype of the floating tensors as stored
     "meta": {...}}                       # provenance (pipeline, steps, data, config_sha256, ...)

Writing is atomic (:func:`lrfr.io.atomic_torch_save`). Floating tensors may be stored in a smaller
dtype (``dtype="float16"`` halves the file) and are cast back to the model's own dtype on load.
Every failure is a :class:`ModelFileError` (an :class:`~lrfr.errors.LrfrError` and a ``ValueError``)
or a ``FileNotFoundError``, whose message names the file and what was expected.

Files written before this format (``"lrfr-recognizer/1"``: the same keys without ``family`` and
``dtype``) are read as family ``"recognizer"``. This module imports no model family; the
families (``lrfr.recognition``, ``lrfr.sr``) rebuild the architecture from their own registries.
"""
from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrfr.errors import LrfrError
from lrfr.io import atomic_torch_save

__all__ = [
    "FORMAT", "FAMILIES", "ModelFileError", "save_model", "read_model", "parse_model", "load_payload",
    "load_state_dict_checked", "why_unreadable", "plain",
]

FORMAT = "lrfr-model/1"
#: earlier tags still read, and the family their files belong to
LEGACY_FORMATS = {"lrfr-recognizer/1": "recognizer"}
#: family → (what a file of it holds, in words; where such a file goes)
FAMILIES = {
    "recognizer": ("a recognizer", "pass it as --weights / weights= (lrfr.recognition.load)"),
    "sr": ("an SR generator", "pass it as --sr / sr_model= (lrfr.sr.load)"),
    "discriminator": ("an SR discriminator", "load it with lrfr.sr.load_discriminator; it is not a front-end"),
    "prior": ("a face-prior network", "load it with lrfr.priors.landmarks.load_heatmap_net; it is not a front-end"),
}
KEYS = ("format", "family", "arch", "kwargs", "state_dict", "dtype", "meta")
_REQUIRED = ("format", "family", "arch", "kwargs", "state_dict")
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")

EXPECTED = (
    f"an lrfr model file: a torch.save'd dict {{'format': '{FORMAT}', 'family', 'arch', 'kwargs', "
    "'state_dict', 'dtype', 'meta'}"
)


class ModelFileError(LrfrError, ValueError):
    """A model file cannot be read, is of another family, or does not fit its architecture."""


def _family_words(family: str) -> str:
    return FAMILIES.get(family, (f"a {family!r} model",))[0]


# ---- plain types ---------------------------------------------------------------------------

def plain(obj: Any, where: str, caller: str = "save_model") -> Any:
    """``obj`` checked to be made of types a ``weights_only`` load accepts (tensors moved to CPU).

    Raises ``TypeError`` naming ``caller`` and ``where`` (e.g. ``"meta"``) otherwise.
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v, where, caller) for v in obj)
    if isinstance(obj, Mapping):
        return {str(k): plain(v, where, caller) for k, v in obj.items()}
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    raise TypeError(f"{caller}: {where} must hold plain types (str, int, float, bool, None, list, tuple, "
                    f"dict, tensor) to load with weights_only=True; got {type(obj).__name__}")


def _dtype_name(dtype: str | torch.dtype) -> str:
    name = str(dtype).removeprefix("torch.")
    if name not in _FLOAT_DTYPES:
        raise ValueError(f"model file dtype must be one of {', '.join(_FLOAT_DTYPES)}; got {dtype!r}")
    return name


# ---- reading -------------------------------------------------------------------------------

def why_unreadable(path: Path, err: Exception) -> str:
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


def load_payload(path: str | Path, what: str = "model file", expected: str = EXPECTED,
                 error: type[Exception] = ModelFileError) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with errors naming the file:
    ``FileNotFoundError`` for a missing file, ``error`` for a directory or an unreadable file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if not path.is_file():
        raise error(f"{what} {path} is not a file; expected {expected}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt files raise anything: struct.error, EOFError, RuntimeError, …
        raise error(
            f"cannot read {what} {path} ({path.stat().st_size} bytes): {why_unreadable(path, err)}. "
            f"Expected {expected}."
        ) from err


def _describe(obj: Any) -> str:
    what = type(obj).__name__
    if isinstance(obj, Mapping):
        if obj and all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
            return f"a bare state dict ({len(obj)} tensors, no architecture name)"
        what += f" with keys {list(obj)[:8]}"
    return f"a {what}"


def parse_model(obj: Any, path: str | Path, family: str | None = None) -> dict[str, Any]:
    """Check a loaded model-file payload → ``{"format", "family", "arch", "kwargs", "state_dict",
    "dtype", "meta", "path"}``; ``family`` (if given) is the one the caller needs."""
    path = Path(path)
    wanted = f" of {_family_words(family)}" if family else ""
    if not isinstance(obj, Mapping) or "format" not in obj:
        raise ModelFileError(f"{path} holds {_describe(obj)}, not an lrfr model file{wanted}; expected {EXPECTED}")
    fmt = obj["format"]
    if fmt == "lrfr-checkpoint/1":
        raise ModelFileError(f"{path} is an lrfr training checkpoint ({fmt!r}), not a model file{wanted}; "
                             "use the model file the recipe exports (or resume training from it)")
    if fmt in LEGACY_FORMATS:
        obj = {**obj, "family": LEGACY_FORMATS[fmt], "dtype": None}
        allowed = set(KEYS)
    elif fmt == FORMAT:
        allowed = set(KEYS)
    else:
        raise ModelFileError(f"{path}: model file format {fmt!r} is not supported; this lrfr reads {FORMAT!r} "
                             f"(and {', '.join(map(repr, LEGACY_FORMATS))})")
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise ModelFileError(f"{path}: unknown key(s) {unknown} in a {fmt!r} file; expected exactly "
                             f"{', '.join(KEYS)} (a newer lrfr, or a hand-edited file?)")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise ModelFileError(f"{path}: model file lacks {missing}; expected {EXPECTED}")
    fam = obj["family"]
    if fam not in FAMILIES:
        raise ModelFileError(f"{path}: unknown model family {fam!r}; expected one of {', '.join(FAMILIES)}")
    if family is not None and fam != family:
        raise ModelFileError(f"{path} holds {_family_words(fam)} ({obj['arch']!r}), not {_family_words(family)}; "
                             f"{FAMILIES[fam][1]}")
    problems = []
    if not isinstance(obj["arch"], str) or not obj["arch"]:
        problems.append(f"'arch' must be a registry name, got {obj['arch']!r}")
    if obj["kwargs"] is not None and not isinstance(obj["kwargs"], Mapping):
        problems.append(f"'kwargs' must be a dict, got {type(obj['kwargs']).__name__}")
    state = obj["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        problems.append("'state_dict' must map names to tensors")
    meta = obj.get("meta")
    if meta is not None and not isinstance(meta, Mapping):
        problems.append(f"'meta' must be a dict, got {type(meta).__name__}")
    dtype = obj.get("dtype")
    if dtype is not None and dtype not in _FLOAT_DTYPES:
        problems.append(f"'dtype' must be one of {', '.join(_FLOAT_DTYPES)}, got {dtype!r}")
    if problems:
        raise ModelFileError(f"{path}: malformed model file: {'; '.join(problems)}")
    return {
        "format": fmt, "family": fam, "arch": obj["arch"], "kwargs": dict(obj["kwargs"] or {}),
        "state_dict": dict(state), "dtype": dtype, "meta": dict(meta or {}), "path": path,
    }


def read_model(path: str | Path, family: str | None = None) -> dict[str, Any]:
    """Read and check a model file → ``{"family", "arch", "kwargs", "state_dict", "dtype", "meta",
    "path", "format"}``. With ``family`` ("recognizer", "sr", "discriminator") a file of another
    family is an error that says what it holds and where it goes."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")
    what = f"{FAMILIES[family][0].split(' ', 1)[1]} model file" if family else "model file"
    return parse_model(load_payload(path, what), path, family)


# ---- writing -------------------------------------------------------------------------------

def save_model(model: nn.Module, path: str | Path, *, family: str, arch: str | None = None,
               kwargs: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None,
               dtype: str | torch.dtype | None = None) -> Path:
    """Write ``model`` as an lrfr model file, atomically (temp file + rename); returns the path.

    ``arch``/``kwargs`` default to what the model remembers from its construction (``model.arch``,
    ``model.build_kwargs``). ``dtype`` (e.g. ``"float16"``) casts the floating tensors of the saved
    state dict; ``None`` keeps them as they are. ``meta`` is free-form provenance of plain types.
    """
    if family not in FAMILIES:
        raise ValueError(f"save_model: family must be one of {', '.join(FAMILIES)}; got {family!r}")
    arch = arch if arch is not None else getattr(model, "arch", None)
    if not arch or not isinstance(arch, str):
        raise ValueError("save_model: pass arch= (the registry name); the model does not record one")
    if kwargs is None:
        kwargs = getattr(model, "build_kwargs", {}) or {}
    target = _dtype_name(dtype) if dtype is not None else None
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if target is not None and v.is_floating_point():
            v = v.to(getattr(torch, target))
        state[k] = v.clone()
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    stored = target or (_dtype_name(floats[0]) if floats else "float32")
    payload = {
        "format": FORMAT,
        "family": family,
        "arch": arch,
        "kwargs": plain(dict(kwargs), "kwargs"),
        "state_dict": state,
        "dtype": stored,
        "meta": plain(dict(meta or {}), "meta"),
    }
    return atomic_torch_save(payload, path)


# ---- loading into a model ------------------------------------------------------------------

def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | Path,
                            arch: str) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with an error naming the file, the
    architecture, and the missing / unexpected / mis-shaped entries. Floating tensors are cast to
    the model's own dtype (an fp16 file loads into an fp32 model)."""
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
        raise ModelFileError(
            f"{path} does not fit architecture {arch!r} (expected its {len(own)}-entry state dict; the file "
            f"has {len(state_dict)}): " + "; ".join(parts) + ". Wrong architecture name or build kwargs?"
        )
    cast = {k: (v.to(own[k].dtype) if v.is_floating_point() and own[k].is_floating_point() else v)
            for k, v in state_dict.items()}
    model.load_state_dict(cast, strict=True)
