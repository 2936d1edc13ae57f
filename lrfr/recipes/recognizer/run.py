"""``lrfr run`` for ``kind = "recognizer"``: validation from the protocol layer, the training, the outputs.

Writes ``recognizer.pt`` (``run.weights_dtype``), ``history.csv``, ``training.png`` and ``final.json``.
"""
from __future__ import annotations

from pathlib import Path

from lrfr.engine.outputs import export_copy, provenance, unfinished, write_run_outputs


def run_recognizer(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
                   stop_after: int | None = None) -> dict:
    from lrfr.recipes.recognizer.recipe import train_recognizer
    from lrfr.recognition.weights import save_recognizer
    from lrfr.validation import validator_for

    validate = validator_for(cfg.val, tuple(cfg.model.input_size), progress=progress)
    result = train_recognizer(cfg, validate=validate, resume=resume, progress=progress, stop_after=stop_after,
                              allow_changed=allow_changed)
    out = Path(result["out"])
    if (early := unfinished(out, result["step"], cfg.optim.iterations)) is not None:
        return early
    final = dict(validate(result["model"])) if validate is not None else {}
    m = cfg.model
    meta = {**provenance(cfg, result["step"], final), "weights_dtype": cfg.run.weights_dtype}
    export = export_copy(result["model"], cfg.run.weights_dtype)
    weights = save_recognizer(export, out / "recognizer.pt", arch=m.arch,
                              kwargs={"width": m.width, "embedding_dim": m.embedding_dim, "input_size": list(m.input_size)},
                              meta=meta)
    files = [weights] + write_run_outputs(out, result["history"], meta, f"{cfg.name}: {m.arch}")
    return {"out": out, "step": result["step"], "final": final, "files": files}
