"""The recipes ``lrfr run`` knows: ``kind`` → (config dataclass, runner).

A pipeline TOML's top-level ``kind`` picks the recipe; the rest of the file fills its config
dataclass strictly (unknown keys and wrong types are errors naming them). The runner builds what
the training layer must not import (validation over the protocol layer), runs the recipe on the
engine, and writes the recipe's outputs: the model file(s), ``history.csv``, ``training.png``,
``final.json``. The CLI only parses and calls :func:`run_pipeline`.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lrfr.config import ConfigError, from_dict
from lrfr.registry import Registry


@dataclass(frozen=True)
class RecipeEntry:
    config: type
    runner: Callable[..., dict]
    summary: str


RECIPE_REGISTRY = Registry("recipe kind")


def register_recipe(kind: str, config: type, summary: str):
    def add(runner):
        RECIPE_REGISTRY.register(kind)(RecipeEntry(config, runner, summary))
        return runner

    return add


def known_kinds() -> list[str]:
    return RECIPE_REGISTRY.names()


def parse_pipeline(data: dict[str, Any], where: str):
    """The config dataclass for a pipeline mapping, every problem reported (unknown ``kind`` too)."""
    kind = data.get("kind")
    if kind is None:
        raise ConfigError(f"{where}: missing top-level key kind = \"...\" (one of {', '.join(known_kinds())})"
                          + _other_problems(data, where))
    if kind not in RECIPE_REGISTRY:
        raise ConfigError(f"{where}: kind = {kind!r} is not a known recipe; known: {', '.join(known_kinds())}")
    return from_dict(RECIPE_REGISTRY.get(kind).config, data, where)


def _other_problems(data: dict, where: str) -> str:
    """Without a kind, still name keys no recipe knows (a typo of ``kind`` is the usual cause)."""
    import difflib

    known = {f.name for entry in (RECIPE_REGISTRY.get(k) for k in known_kinds()) for f in dataclasses.fields(entry.config)}
    unknown = sorted(k for k in data if k not in known)
    parts = []
    for k in unknown:
        near = difflib.get_close_matches(k, sorted(known), n=1)
        parts.append(f"unknown key {k!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    return "; " + "; ".join(parts) if parts else ""


def run_pipeline(path: str | Path, overrides: list[str] = (), *, resume: bool = True, progress: bool = True,
                 allow_changed: tuple[str, ...] = (), stop_after: int | None = None) -> dict:
    """Load ``path`` (+ ``--set`` overrides), pick the recipe by ``kind``, run it; returns its summary."""
    from lrfr.config import apply_overrides, load_toml

    data = apply_overrides(load_toml(path), list(overrides))
    cfg = parse_pipeline(data, str(path))
    entry = RECIPE_REGISTRY.get(cfg.kind)
    return entry.runner(cfg, resume=resume, progress=progress, allow_changed=tuple(allow_changed),
                        stop_after=stop_after)


def config_sha256(cfg) -> str:
    import hashlib

    from lrfr.config import dump_toml

    return hashlib.sha256(dump_toml(dataclasses.asdict(cfg)).encode()).hexdigest()


def write_run_outputs(out: Path, history: list[dict], meta: dict, title: str) -> list[Path]:
    """``history.csv``, ``final.json`` and ``training.png`` of a finished run."""
    import pandas as pd

    from lrfr.io import atomic_write_text
    from lrfr.train.figures import plot_history

    frame = pd.DataFrame(history)
    files = [atomic_write_text(out / "history.csv", frame.to_csv(index=False)),
             atomic_write_text(out / "final.json", json.dumps(meta, indent=2, default=str) + "\n")]
    fig = plot_history(frame, out / "training.png", title=title)
    return files + ([fig] if fig else [])


# ---------------------------------------------------------------------------------------------
# recognizer


def _recognizer_config():
    from lrfr.train.recognizer_config import RecognizerPipeline

    return RecognizerPipeline


def run_recognizer(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
                   stop_after: int | None = None) -> dict:
    import copy

    import torch

    from lrfr.recognition.weights import save_recognizer
    from lrfr.train.recognizer import train_recognizer
    from lrfr.validation import validator_for

    validate = validator_for(cfg.val, tuple(cfg.model.input_size), progress=progress)
    result = train_recognizer(cfg, validate=validate, resume=resume, progress=progress, stop_after=stop_after,
                              allow_changed=allow_changed)
    out = Path(result["out"])
    if result["step"] < cfg.optim.iterations:  # stopped early on purpose: the checkpoint is the output
        return {"out": out, "step": result["step"], "files": [out / "checkpoint.pt"]}
    final = dict(validate(result["model"])) if validate is not None else {}
    m = cfg.model
    meta = {"pipeline": cfg.name, "steps": result["step"], "validation": final, "config_sha256": config_sha256(cfg),
            "trained_on": f"{cfg.data.source}:{cfg.data.root or 'SynthFaces'}"}
    dtypes = {"float32": torch.float32, "float16": torch.float16}
    if cfg.run.weights_dtype not in dtypes:
        raise ConfigError(f"run.weights_dtype must be one of {', '.join(dtypes)}; got {cfg.run.weights_dtype!r}")
    export = copy.deepcopy(result["model"]).to(device="cpu", dtype=dtypes[cfg.run.weights_dtype])
    meta["weights_dtype"] = cfg.run.weights_dtype
    weights = save_recognizer(export, out / "recognizer.pt", arch=m.arch,
                              kwargs={"width": m.width, "embedding_dim": m.embedding_dim, "input_size": list(m.input_size)},
                              meta=meta)
    files = [weights] + write_run_outputs(out, result["history"], meta, f"{cfg.name}: {m.arch}")
    return {"out": out, "step": result["step"], "final": final, "files": files}


register_recipe("recognizer", _recognizer_config(), "A-Softmax recognizer training (SphereFace)")(run_recognizer)


# ---------------------------------------------------------------------------------------------
# SR generators (SRResNet, SRGAN)


def _sr_config():
    from lrfr.train.sr_config import SRPipeline

    return SRPipeline


def run_sr(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
           stop_after: int | None = None) -> dict:
    """Train an SR generator; writes ``generator.pt`` (+ ``discriminator.pt``), ``grid.png`` and the history."""
    import copy

    from lrfr import sr as sr_models
    from lrfr.devices import resolve_device
    from lrfr.train.sr_gan import frozen_recognizer, train_sr
    from lrfr.validation import sr_validator_for

    if cfg.run.weights_dtype not in ("float32", "float16"):
        raise ConfigError(f"run.weights_dtype must be float32 or float16; got {cfg.run.weights_dtype!r}")
    device = resolve_device(cfg.run.device)
    validate = None
    if cfg.val.source != "none":
        scorer = frozen_recognizer(cfg.val.recognizer_weights, device)
        validate = sr_validator_for(cfg.val, tuple(cfg.data.hr_size), cfg.model.scale, cfg.data.degrade, scorer,
                                    progress=progress)

    def grid(step, metrics, out, model):
        validate.grid(model, out / "grid.png", title=f"{cfg.name} @{step}")

    result = train_sr(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                      allow_changed=allow_changed, after_validation=grid if validate is not None else None)
    out = Path(result["out"])
    if result["step"] < cfg.optim.iterations:
        return {"out": out, "step": result["step"], "files": [out / "checkpoint.pt"]}
    recipe = result["recipe"]
    generator = recipe.eval_model()
    final = dict(validate(generator)) if validate is not None else {}
    meta = {"pipeline": cfg.name, "steps": result["step"], "validation": final, "config_sha256": config_sha256(cfg),
            "trained_on": f"{cfg.data.source}:{cfg.data.root or 'SynthFaces'}", "degrade": cfg.data.degrade,
            "scale": cfg.model.scale, "weights_dtype": cfg.run.weights_dtype}
    files = [sr_models.save(copy.deepcopy(generator).cpu(), out / "generator.pt", meta=meta, dtype=cfg.run.weights_dtype)]
    if recipe.D is not None:
        files.append(sr_models.save_discriminator(copy.deepcopy(recipe.D).cpu(), out / "discriminator.pt", meta=meta,
                                                  dtype=cfg.run.weights_dtype))
    if validate is not None:
        files.append(validate.grid(generator, out / "grid.png", title=cfg.name))
    files += write_run_outputs(out, result["history"], meta, f"{cfg.name}: {cfg.model.arch} ×{cfg.model.scale}")
    return {"out": out, "step": result["step"], "final": final, "files": files}


register_recipe("sr", _sr_config(), "SR generator training: SRResNet (pixel loss), SRGAN (perceptual + adversarial)")(run_sr)
