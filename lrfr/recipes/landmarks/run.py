"""``lrfr run`` for ``kind = "landmarks"``: writes ``heatmap_net.pt`` (family "prior"), NME and the history."""
from __future__ import annotations

import copy
from pathlib import Path

from lrfr.engine.outputs import provenance, unfinished, write_run_outputs


def run_landmarks(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
                  stop_after: int | None = None) -> dict:
    """Train the landmark-heatmap network and write its outputs."""
    from lrfr.priors.landmarks import load_heatmap_net, save_heatmap_net
    from lrfr.recipes.landmarks.recipe import check_config, nme_validator, train_landmarks

    check_config(cfg)
    validate = nme_validator(cfg, progress=progress)
    result = train_landmarks(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                             allow_changed=allow_changed)
    out = Path(result["out"])
    if (early := unfinished(out, result["step"], cfg.optim.iterations)) is not None:
        return early
    model = copy.deepcopy(result["recipe"].eval_model()).cpu().eval()
    meta = {**provenance(cfg, result["step"], {}), "weights_dtype": cfg.run.weights_dtype,
            "sigma_fraction": cfg.data.sigma_fraction, "factors": list(cfg.data.factors)}
    path = save_heatmap_net(model, out / "heatmap_net.pt", meta=meta, dtype=cfg.run.weights_dtype)
    final = {}
    if validate is not None:  # what ships is what is scored: the file, read back at its stored dtype
        final = dict(validate(load_heatmap_net(path)))
        meta["validation"] = final
        path = save_heatmap_net(model, path, meta=meta, dtype=cfg.run.weights_dtype)
    files = [path] + write_run_outputs(out, result["history"], meta, f"{cfg.name}: heatmap network")
    return {"out": out, "step": result["step"], "final": final, "files": files}
