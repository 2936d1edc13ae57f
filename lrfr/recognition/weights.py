"""Recognizer weight files: lrfr's model files, plus the foreign formats lrfr can read.

lrfr's own files are :mod:`lrfr.modelfile` files of family ``"recognizer"`` (``"lrfr-model/1"``),
and the earlier ``"lrfr-recognizer/1"`` files (the same keys without ``family``/``dtype``; still
what :func:`save_recognizer` writes, so files made by this lrfr load in older ones). Both are
torch pickles of plain types, loadable with ``torch.load(..., weights_only=True)``::

    {"format": "lrfr-recognizer/1",
     "arch": "sphere20a",                         # registry name
     "kwargs": {"width": 0.25, ...},              # build kwargs: build(arch, **kwargs)
     "state_dict": {...},                          # strict
     "meta": {...}}                                # free-form provenance (plain types)

Also read: a training checkpoint ``{"epoch": int, "net_state_dict": {...}}`` (the shared
MobileFaceNet CASIA checkpoint's layout) and a bare state dict (``{name: tensor}``).
Every failure raises :class:`WeightsError` (the same class as
:class:`lrfr.modelfile.ModelFileError`, a ``ValueError``) naming the file and what was expected;
a model file of another family (an SR generator given as recognizer weights) says what it holds.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrfr.io import atomic_torch_save
from lrfr.modelfile import FORMAT as MODEL_FORMAT
from lrfr.modelfile import ModelFileError, load_payload, load_state_dict_checked, parse_model, plain

__all__ = ["FORMAT", "WeightsError", "save_recognizer", "read_weights", "load_state_dict_checked", "recognizer_identity"]

FORMAT = "lrfr-recognizer/1"

EXPECTED = (
    f"a torch.save file holding an lrfr model file {{'format': '{MODEL_FORMAT}' (or '{FORMAT}'), 'family': "
    "'recognizer', 'arch', 'kwargs', 'state_dict', 'meta'}, a training checkpoint {'epoch', 'net_state_dict'}, "
    "or a bare state dict {name: tensor}"
)

#: kept under its historical name: every weight-file error is a ModelFileError
WeightsError = ModelFileError


def save_recognizer(model: nn.Module, path: str | Path, arch: str | None = None,
                    kwargs: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` as an lrfr weight file, atomically (temp file + rename).

    ``arch``/``kwargs`` default to what the model remembers from its construction
    (``model.arch``, ``model.build_kwargs``), so ``save_recognizer(build("sphere20a", width=0.25), p)``
    is enough; ``lrfr.recognition.load(weights=p)`` rebuilds and loads it strictly. (For the
    unified format with a stored dtype use ``lrfr.modelfile.save_model(..., family="recognizer")``;
    ``lrfr.recognition.load`` reads both.)
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
        "kwargs": plain(dict(kwargs), "kwargs", "save_recognizer"),
        "state_dict": state,
        "meta": plain(dict(meta or {}), "meta", "save_recognizer"),
    }
    return atomic_torch_save(payload, path)


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items())


def read_weights(path: str | Path) -> dict[str, Any]:
    """Read a weight file → ``{"kind": "lrfr"|"checkpoint"|"state_dict", "arch", "kwargs",
    "state_dict", "meta", "path"}`` (``arch``/``kwargs`` are None for foreign files)."""
    path = Path(path)
    obj = load_payload(path, "recognizer weights", EXPECTED)
    info: dict[str, Any] = {"path": path, "arch": None, "kwargs": None, "meta": {}}
    if isinstance(obj, Mapping) and "format" in obj:
        model = parse_model(obj, path, family="recognizer")
        info.update(kind="lrfr", arch=model["arch"], kwargs=model["kwargs"],
                    state_dict=model["state_dict"], meta=model["meta"])
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


def recognizer_identity(path: str | Path, arch: str | None = None) -> dict[str, str]:
    """``{"arch", "weights", "sha256"}`` of a recognizer weight file: what results name it by.

    ``arch``: for files that do not record their architecture (else it is read; "inferred" when the file
    holds a bare state dict)."""
    from lrfr.fingerprint import file_sha256

    path = Path(path)
    if not arch:
        arch = read_weights(path)["arch"] or "inferred"
    return {"arch": arch, "weights": str(path), "sha256": file_sha256(path)}
