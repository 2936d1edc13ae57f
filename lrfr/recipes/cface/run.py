"""``lrfr run`` for ``kind = "cface"``: Algorithm 1's stages (:mod:`lrfr.recipes.cface.algorithm`), then
C-Face-v1 and -v2 scored on the protocols.

Writes, beside the stage folders: ``cface_v1.pt`` / ``cface_<ablation>.pt`` (``run.weights_dtype``), and
``cface_<ablation>_cnn_r.pt``, the CNN^R stage 4 left (the recognizer Algorithm 1 pairs with its generator),
``results.csv`` / ``.md`` / ``.json`` (``lrfr.evaluate`` on ``eval.protocols``, scored by the original
CNN^R unless ``eval.recognizer`` names another — named with its sha256), ``losses.png`` (per stage),
``grid.png`` (HR / LR / bicubic / v1 / v2) and ``final.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

from lrfr.engine.outputs import config_sha256, export_copy, trained_on


def run_cface(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
              stop_after: int | None = None) -> dict:
    """Train C-Face (the stages ``cfg.ablation`` names), then score what it made (see the module docstring)."""
    import torch

    from lrfr import sr as sr_models
    from lrfr.devices import resolve_device
    from lrfr.io import atomic_write_text
    from lrfr.report import save_sr_grid, write_table
    from lrfr.recipes.cface.algorithm import train_cface
    from lrfr.recipes.cface.config import stages_of
    from lrfr.recognition.weights import recognizer_identity
    from lrfr.weights import DEFAULT_RECOGNIZER, PACKAGED, resolve
    from lrfr.recipes.cface.report import markdown_table, plot_stage_losses
    from lrfr.engine.figures import plot_history
    from lrfr.engine.loop import is_main_process
    from lrfr.recognition import frozen_recognizer
    from lrfr.validation import sr_validator_for

    device = resolve_device(cfg.run.device)
    own = not cfg.eval.recognizer
    scorer_path = resolve(cfg.eval.recognizer or cfg.recognizer.weights, DEFAULT_RECOGNIZER)
    scorer_arch = (cfg.recognizer.arch if own else cfg.eval.recognizer_arch) or None
    scorer = frozen_recognizer(str(scorer_path), device, scorer_arch)
    scorer_id = recognizer_identity(scorer_path, scorer_arch)
    validate = None
    if cfg.val.source != "none":
        validate = sr_validator_for(cfg.val, tuple(cfg.data.hr_size), cfg.model.scale, cfg.data.degrade, scorer,
                                    progress=progress)

    def grid(step, metrics, out, model):
        validate.grid(model, out / "grid.png", title=f"{cfg.name} @{step}")

    result = train_cface(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                         allow_changed=allow_changed, after_validation=grid if validate is not None else None)
    out = Path(result["out"])
    if result["complete"] and not is_main_process():  # rank 0 alone scores and writes the outputs
        return {"out": out, "step": result["step"], "files": []}
    for s, h in result["histories"].items():
        plot_history(h, out / f"stage{s}" / "training.png", title=f"{cfg.name}: stage {s}")
    if not result["complete"]:  # stopped on purpose: the checkpoints are the output
        return {"out": out, "step": result["step"],
                "files": sorted(p for p in out.glob("stage*/checkpoint.pt"))}
    meta = {"pipeline": cfg.name, "ablation": cfg.ablation, "compare_k": cfg.compare.k,
            "cface_loss": "eq. 6" if cfg.loss.hinge else "eq. 5", "steps": result["step"],
            "stage_steps": {f"stage{s}": info["total"] for s, info in result["stages"].items()},
            "cnn_r": recognizer_identity(result["recognizer"], cfg.recognizer.arch), "evaluation_recognizer": scorer_id,
            "config_sha256": config_sha256(cfg), "trained_on": trained_on(cfg.data),
            "scale": cfg.model.scale, "degrade": cfg.data.degrade, "weights_dtype": cfg.run.weights_dtype}
    files, generators = [], {}
    for name, path in result["generators"].items():  # the shipped size; what is scored is what ships
        stage_model = sr_models.load(path)
        files.append(sr_models.save(stage_model, out / f"{name.replace('-', '_')}.pt", dtype=cfg.run.weights_dtype,
                                    meta={**meta, "pipeline": name}))
        generators[name] = sr_models.load(files[-1], device=device)
    if (stage4 := out / "stage4" / "recognizer.pt").is_file() and 4 in stages_of(cfg):
        # the deployment pair of Algorithm 1: C-Face-v2 with the CNN^R its stages 3-4 fine-tuned on D^SR
        # (lrfr evaluate --sr cface_v2.pt --probe-weights cface_v2_cnn_r.pt)
        from lrfr import recognition
        from lrfr.recognition.weights import save_recognizer

        cnn_r = export_copy(recognition.load(cfg.recognizer.arch or None, weights=stage4), cfg.run.weights_dtype)
        files.append(save_recognizer(cnn_r, out / f"cface_{cfg.ablation.replace('-', '_')}_cnn_r.pt",
                                     meta={**meta, "pipeline": f"cface-{cfg.ablation} CNN^R (stage 4)"}))
    final = {}
    if validate is not None:
        for name, g in generators.items():
            metrics = validate(g)
            final.update({f"{name} {k}": metrics[k] for k in ("psnr", "ssim", "acc_sr")})
        final.update({k: metrics[k] for k in ("acc_hr", "acc_bicubic")})
    if cfg.eval.protocols:
        from lrfr.evaluation import evaluate

        baselines = [str(resolve(b, "")) if b.startswith(PACKAGED) else b for b in cfg.eval.baselines]
        table = evaluate([*baselines, *generators.values()], protocol=list(cfg.eval.protocols), recognizer=scorer,
                         data=cfg.eval.data or None, scale=cfg.model.scale, batch_size=cfg.eval.batch_size,
                         device=device, degrade=cfg.data.degrade, workdir=cfg.eval.workdir or None, progress=progress)
        table.insert(1, "ablation", cfg.ablation)
        table.insert(2, "compare_k", str(cfg.compare.k))
        table["evaluation_recognizer"] = scorer_id["arch"]
        table["evaluation_recognizer_sha256"] = scorer_id["sha256"]
        files += write_table(table, out, stem="results")
        head = (f"# {cfg.name}: C-Face {cfg.ablation}, k = {cfg.compare.k}, ×{cfg.model.scale}\n\n"
                f"Scored by {scorer_id['arch']} `{scorer_id['weights']}` (sha256 `{scorer_id['sha256']}`)"
                f"{' — the original CNN^R, as in the paper' if own else ''}; data: {table.attrs.get('data')}.\n\n")
        files.append(atomic_write_text(out / "results.md", head + markdown_table(table)))
        meta["results"] = json.loads(table.to_json(orient="records"))
    fig = plot_stage_losses(result["histories"], out / "losses.png", title=f"{cfg.name}: C-Face {cfg.ablation}")
    files += [fig] if fig else []
    with torch.no_grad():
        from lrfr.data.resample import upsample
        from lrfr.data.degradations import degrade_batch
        from lrfr.engine.batches import take

        if validate is not None:
            hr = validate.hr[torch.as_tensor(validate.grid_rows)]
        else:  # no held-out faces configured: the first training faces
            data = result["trainer"].data
            hr = take(data, torch.arange(min(cfg.val.grid_images, len(data))))[0]
        lr = degrade_batch(hr, cfg.model.scale, cfg.data.degrade, key=(cfg.run.seed,))
        panels = {"HR": hr, f"LR ×{cfg.model.scale}": lr, "bicubic": upsample(lr, scale=cfg.model.scale)}
        panels.update({name: g(lr.to(device)).clamp(0, 1).cpu() for name, g in generators.items()})
    files.append(save_sr_grid(panels, out / "grid.png", max_rows=cfg.val.grid_images))
    meta["validation"] = final
    files.append(atomic_write_text(out / "final.json", json.dumps(meta, indent=2, default=str) + "\n"))
    return {"out": out, "step": result["step"], "final": final, "files": files}


