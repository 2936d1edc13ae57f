"""Checkpoints that hold everything needed to resume, written atomically.

A checkpoint is a dict of plain tensors and numbers (loadable with ``weights_only=True``):
model/optimizer/scheduler state dicts, ``step``, ``stage``, the resolved config (as TOML text)
and RNG states. The margin's λ counter lives in the margin's own state dict.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lrfr.errors import LrfrError
from lrfr.io import atomic_torch_save

FORMAT = "lrfr-checkpoint/2"


class CheckpointError(LrfrError, ValueError):
    """A checkpoint file is unreadable (truncated, corrupt) or is not an lrfr training checkpoint."""


def rng_state() -> dict[str, Any]:
    """Global RNG states, as tensors and numbers (so the checkpoint loads with ``weights_only=True``)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": py_version, "internal": torch.tensor(py_internal, dtype=torch.int64), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))


def save_checkpoint(path: str | Path, **parts: Any) -> Path:
    """Write ``{"format": FORMAT, **parts, "rng": rng_state()}`` atomically to ``path``."""
    return atomic_torch_save({"format": FORMAT, **parts, "rng": rng_state()}, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"cannot read checkpoint {path} ({path.stat().st_size} bytes): truncated or corrupt "
                              f"({type(err).__name__}: {first})") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not an lrfr training checkpoint of this version (format {found!r}; "
                              f"expected {FORMAT!r}); pass --restart to start over")
    return ckpt
