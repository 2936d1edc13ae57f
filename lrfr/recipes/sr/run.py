"""``lrfr run`` for ``kind = "sr"`` (and PFSR, which trains with its own step): validation, training, outputs.

Writes ``generator.pt`` (+ ``discriminator.pt``; ``run.weights_dtype``), ``grid.png``, ``history.csv``,
``training.png`` and ``final.json``.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

from lrfr.engine.outputs import provenance, unfinished, write_run_outputs


def run_sr(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
           stop_after: int | None = None, trainer: Callable[..., dict] | None = None) -> dict:
    """Train an SR generator and write its outputs.

    ``trainer``: the training function (default :func:`lrfr.recipes.sr.recipe.train_sr`; PFSR passes its own)."""
    from lrfr import sr as sr_models
    from lrfr.devices import resolve_device
    from lrfr.recipes.sr.recipe import train_sr
    from lrfr.recognition import frozen_recognizer
    from lrfr.validation import sr_validator_for

    device = resolve_device(cfg.run.device)
    validate = None
    if cfg.val.source != "none":
        scorer = frozen_recognizer(cfg.val.recognizer_weights, device)
        validate = sr_validator_for(cfg.val, tuple(cfg.data.hr_size), cfg.model.scale, cfg.data.degrade, scorer,
                                    progress=progress)

    def grid(step, metrics, out, model):
        validate.grid(model, out / "grid.png", title=f"{cfg.name} @{step}")

    result = (trainer or train_sr)(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                                   allow_changed=allow_changed, after_validation=grid if validate is not None else None)
    out = Path(result["out"])
    if (early := unfinished(out, result["step"], cfg.optim.iterations)) is not None:
        return early
    recipe = result["recipe"]
    generator = recipe.eval_model()
    final = dict(validate(generator)) if validate is not None else {}
    meta = {**provenance(cfg, result["step"], final), "degrade": cfg.data.degrade, "scale": cfg.model.scale,
            "weights_dtype": cfg.run.weights_dtype}
    files = [sr_models.save(copy.deepcopy(generator).cpu(), out / "generator.pt", meta=meta, dtype=cfg.run.weights_dtype)]
    if recipe.D is not None:
        files.append(sr_models.save_discriminator(copy.deepcopy(recipe.D).cpu(), out / "discriminator.pt", meta=meta,
                                                  dtype=cfg.run.weights_dtype))
    if validate is not None:
        files.append(validate.grid(generator, out / "grid.png", title=cfg.name))
    files += write_run_outputs(out, result["history"], meta, f"{cfg.name}: {cfg.model.arch} ×{cfg.model.scale}")
    return {"out": out, "step": result["step"], "final": final, "files": files}
