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

import torch

from lrfr import recognition
from lrfr import sr as sr_models
from lrfr.data.degradations import degrade_batch
from lrfr.data.resample import upsample
from lrfr.devices import resolve_device
from lrfr.engine.batches import take
from lrfr.engine.loop import is_main_process
from lrfr.engine.outputs import config_sha256, export_copy, trained_on
from lrfr.io import atomic_write_text
from lrfr.recipes.cface.algorithm import train_cface
from lrfr.recipes.cface.config import stages_of
from lrfr.recognition.weights import recognizer_identity, save_recognizer
from lrfr.weights import DEFAULT_RECOGNIZER, PACKAGED, resolve

# Imported where they are used: they load pandas (and matplotlib), and `lrfr.recipes` imports every runner
# (`lrfr run --list`, a pipeline's parsing), so here they would load for every kind: lrfr.validation,
# lrfr.evaluation, lrfr.report, lrfr.engine.figures, lrfr.recipes.cface.report.


def run_cface(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
              stop_after: int | None = None) -> dict:
    """Train C-Face (the stages ``cfg.ablation`` names), then score what it made (see the module docstring)."""
    device = resolve_device(cfg.run.device)
    scorer, scorer_id = _scorer(cfg, device)
    validate = _validator(cfg, scorer, progress)
    result = train_cface(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                         allow_changed=allow_changed, after_validation=_grid_after_validation(cfg, validate))
    out = Path(result["out"])
    if result["complete"] and not is_main_process():  # rank 0 alone scores and writes the outputs
        return {"out": out, "step": result["step"], "files": []}
    _plot_stage_histories(cfg, result["histories"], out)
    if not result["complete"]:  # stopped on purpose: the checkpoints are the output
        return {"out": out, "step": result["step"], "files": sorted(out.glob("stage*/checkpoint.pt"))}
    meta = _provenance(cfg, result, scorer_id)
    files, generators = _export_generators(cfg, result["generators"], out, meta, device)
    files += _export_cnn_r(cfg, out, meta)
    final = _final_validation(validate, generators)
    if cfg.eval.protocols:
        table = _results_table(cfg, generators, scorer, scorer_id, device, progress)
        files += _write_results(cfg, table, scorer_id, out)
        meta["results"] = json.loads(table.to_json(orient="records"))
    files += _plot_losses(cfg, result["histories"], out)
    files.append(_final_grid(cfg, validate, result["trainer"], generators, device, out))
    files.append(_write_final(out, meta, final))
    return {"out": out, "step": result["step"], "final": final, "files": files}


def _scorer(cfg, device):
    """The evaluation recognizer (the original CNN^R unless ``eval.recognizer``), frozen, and its identity."""
    weights = cfg.eval.recognizer or cfg.recognizer.weights
    arch = (cfg.eval.recognizer_arch if cfg.eval.recognizer else cfg.recognizer.arch) or None
    scorer = recognition.frozen_recognizer(weights, device, arch)
    return scorer, recognizer_identity(resolve(weights, DEFAULT_RECOGNIZER), arch)


def _validator(cfg, scorer, progress: bool):
    """N^SR's validation on the held-out faces, scored by ``scorer`` (``None`` where ``val.source = "none"``)."""
    if cfg.val.source == "none":
        return None
    from lrfr.validation import sr_validator_for  # pandas: see the imports

    return sr_validator_for(cfg.val, tuple(cfg.data.hr_size), cfg.model.scale, cfg.data.degrade, scorer,
                            progress=progress)


def _grid_after_validation(cfg, validate):
    """What a validation in stages 1 and 4 also writes: the stage's ``grid.png`` (nothing without a validator)."""
    if validate is None:
        return None

    def grid(step, metrics, out, model):
        validate.grid(model, out / "grid.png", title=f"{cfg.name} @{step}")

    return grid


def _plot_stage_histories(cfg, histories: dict, out: Path) -> None:
    """Each trained stage's ``training.png``."""
    from lrfr.engine.figures import plot_history  # pandas: see the imports

    for s, h in histories.items():
        plot_history(h, out / f"stage{s}" / "training.png", title=f"{cfg.name}: stage {s}")


def _provenance(cfg, result: dict, scorer_id: dict) -> dict:
    """What the shipped model files and ``final.json`` record about the run."""
    return {"pipeline": cfg.name, "ablation": cfg.ablation, "compare_k": cfg.compare.k,
            "cface_loss": "eq. 6" if cfg.loss.hinge else "eq. 5", "steps": result["step"],
            "stage_steps": {f"stage{s}": info["total"] for s, info in result["stages"].items()},
            "cnn_r": recognizer_identity(result["recognizer"], cfg.recognizer.arch), "evaluation_recognizer": scorer_id,
            "config_sha256": config_sha256(cfg), "trained_on": trained_on(cfg.data),
            "scale": cfg.model.scale, "degrade": cfg.data.degrade, "weights_dtype": cfg.run.weights_dtype}


def _export_generators(cfg, stage_files: dict, out: Path, meta: dict, device) -> tuple[list[Path], dict]:
    """Each generator written at ``run.weights_dtype`` (``cface_v1.pt``, ...), and reloaded from that file."""
    files, generators = [], {}
    for name, path in stage_files.items():
        files.append(sr_models.save(sr_models.load(path), out / f"{name.replace('-', '_')}.pt",
                                    dtype=cfg.run.weights_dtype, meta={**meta, "pipeline": name}))
        generators[name] = sr_models.load(files[-1], device=device)  # what is scored is what ships
    return files, generators


def _export_cnn_r(cfg, out: Path, meta: dict) -> list[Path]:
    """Stage 4's CNN^R at ``run.weights_dtype`` (``cface_<ablation>_cnn_r.pt``; none without stage 4)."""
    stage4 = out / "stage4" / "recognizer.pt"
    if not (stage4.is_file() and 4 in stages_of(cfg)):
        return []
    # the deployment pair of Algorithm 1: C-Face-v2 with the CNN^R its stages 3-4 fine-tuned on D^SR
    # (lrfr evaluate --sr cface_v2.pt --probe-weights cface_v2_cnn_r.pt)
    cnn_r = export_copy(recognition.load(cfg.recognizer.arch or None, weights=stage4), cfg.run.weights_dtype)
    return [save_recognizer(cnn_r, out / f"cface_{cfg.ablation.replace('-', '_')}_cnn_r.pt",
                            meta={**meta, "pipeline": f"cface-{cfg.ablation} CNN^R (stage 4)"})]


def _final_validation(validate, generators: dict) -> dict:
    """Each shipped generator's PSNR, SSIM and accuracy on the held-out faces, and HR's and bicubic's accuracy."""
    final = {}
    if validate is not None:
        for name, g in generators.items():
            metrics = validate(g)
            final.update({f"{name} {k}": metrics[k] for k in ("psnr", "ssim", "acc_sr")})
        final.update({k: metrics[k] for k in ("acc_hr", "acc_bicubic")})
    return final


def _results_table(cfg, generators: dict, scorer, scorer_id: dict, device, progress: bool):
    """``lrfr.evaluate`` of the baselines and the shipped generators on ``eval.protocols``, by ``scorer``."""
    from lrfr.evaluation import evaluate  # pandas: see the imports

    baselines = [str(resolve(b, "")) if b.startswith(PACKAGED) else b for b in cfg.eval.baselines]
    table = evaluate([*baselines, *generators.values()], protocol=list(cfg.eval.protocols), recognizer=scorer,
                     data=cfg.eval.data or None, scale=cfg.model.scale, batch_size=cfg.eval.batch_size,
                     device=device, degrade=cfg.data.degrade, workdir=cfg.eval.workdir or None, progress=progress)
    table.insert(1, "ablation", cfg.ablation)
    table.insert(2, "compare_k", str(cfg.compare.k))
    table["evaluation_recognizer"] = scorer_id["arch"]
    table["evaluation_recognizer_sha256"] = scorer_id["sha256"]
    return table


def _write_results(cfg, table, scorer_id: dict, out: Path) -> list[Path]:
    """``results.csv`` / ``.json`` and ``results.md`` (headed by what scored it and on which data)."""
    from lrfr.recipes.cface.report import markdown_table  # pandas: see the imports
    from lrfr.report import write_table

    files = write_table(table, out, stem="results")
    head = (f"# {cfg.name}: C-Face {cfg.ablation}, k = {cfg.compare.k}, ×{cfg.model.scale}\n\n"
            f"Scored by {scorer_id['arch']} `{scorer_id['weights']}` (sha256 `{scorer_id['sha256']}`)"
            f"{' — the original CNN^R, as in the paper' if not cfg.eval.recognizer else ''}; "
            f"data: {table.attrs.get('data')}.\n\n")
    return [*files, atomic_write_text(out / "results.md", head + markdown_table(table))]


def _plot_losses(cfg, histories: dict, out: Path) -> list[Path]:
    """``losses.png``, every stage's losses side by side (none when nothing was logged)."""
    from lrfr.recipes.cface.report import plot_stage_losses  # pandas: see the imports

    fig = plot_stage_losses(histories, out / "losses.png", title=f"{cfg.name}: C-Face {cfg.ablation}")
    return [fig] if fig else []


def _final_grid(cfg, validate, trainer, generators: dict, device, out: Path) -> Path:
    """``grid.png``: HR, LR, bicubic and each shipped generator on the held-out faces (or the first training faces)."""
    from lrfr.report import save_sr_grid  # pandas: see the imports

    with torch.no_grad():
        if validate is not None:
            hr = validate.hr[torch.as_tensor(validate.grid_rows)]
        else:  # no held-out faces configured: the first training faces
            data = trainer.data
            hr = take(data, torch.arange(min(cfg.val.grid_images, len(data))))[0]
        lr = degrade_batch(hr, cfg.model.scale, cfg.data.degrade, key=(cfg.run.seed,))
        panels = {"HR": hr, f"LR ×{cfg.model.scale}": lr, "bicubic": upsample(lr, scale=cfg.model.scale)}
        panels.update({name: g(lr.to(device)).clamp(0, 1).cpu() for name, g in generators.items()})
    return save_sr_grid(panels, out / "grid.png", max_rows=cfg.val.grid_images)


def _write_final(out: Path, meta: dict, final: dict) -> Path:
    """``final.json``: the provenance, the results' rows, the final validation."""
    text = json.dumps({**meta, "validation": final}, indent=2, default=str) + "\n"
    return atomic_write_text(out / "final.json", text)
