"""What every recipe's runner writes at the end of a run, the same way: provenance, history, figure.

A runner (``lrfr/recipes/*/run.py``) trains on the engine, then calls :func:`unfinished` (a run
stopped on purpose, or a rank other than 0, writes nothing more) and :func:`write_run_outputs`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from lrfr.config import dump_toml


def unfinished(out: Path, step: int, total: int) -> dict | None:
    """The runner's result when there is nothing more to write, else ``None``.

    A run stopped before ``total`` steps (``stop_after``) has its checkpoint as its output; under
    torchrun every rank but 0 is done once training is (rank 0 alone scores and writes the outputs).
    """
    from lrfr.engine.loop import CHECKPOINT, is_main_process

    if step < total:
        return {"out": out, "step": step, "files": [out / CHECKPOINT]}
    if not is_main_process():
        return {"out": out, "step": step, "files": []}
    return None


def config_sha256(cfg) -> str:
    """The sha256 of a resolved config's TOML text: what a model file is bound to."""
    return hashlib.sha256(dump_toml(dataclasses.asdict(cfg)).encode()).hexdigest()


def trained_on(data) -> str:
    """``source:root`` of a ``[data]`` section, as model files and tables record it."""
    return f"{data.source}:{data.root or 'SynthFaces'}"


def provenance(cfg, steps: int, validation: dict) -> dict:
    """What every model file of a run records about how it was made."""
    return {"pipeline": cfg.name, "steps": steps, "validation": validation, "config_sha256": config_sha256(cfg),
            "trained_on": trained_on(cfg.data)}


def write_run_outputs(out: Path, history: list[dict], meta: dict, title: str) -> list[Path]:
    """``history.csv``, ``final.json`` and ``training.png`` of a finished run."""
    import pandas as pd

    from lrfr.engine.figures import plot_history
    from lrfr.io import atomic_write_text

    frame = pd.DataFrame(history)
    files = [atomic_write_text(out / "history.csv", frame.to_csv(index=False)),
             atomic_write_text(out / "final.json", json.dumps(meta, indent=2, default=str) + "\n")]
    fig = plot_history(frame, out / "training.png", title=title)
    return files + ([fig] if fig else [])


def export_copy(model, weights_dtype: str):
    """A CPU copy of ``model`` in the run's ``[run] weights_dtype`` (``"float32"`` / ``"float16"``), in eval mode:
    what a runner writes as its model file (the model under training is left as it is)."""
    import copy

    import torch

    dtype = {"float32": torch.float32, "float16": torch.float16}[weights_dtype]
    return copy.deepcopy(model).to(device="cpu", dtype=dtype).eval()
