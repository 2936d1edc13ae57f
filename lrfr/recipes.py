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
    # under torchrun (WORLD_SIZE > 1) every process runs this same call; see lrfr.train.distributed
    from lrfr.train import distributed

    formed = distributed.init_from_env(getattr(getattr(cfg, "run", None), "device", "auto"))
    try:
        return entry.runner(cfg, resume=resume, progress=progress and distributed.rank() == 0,
                            allow_changed=tuple(allow_changed), stop_after=stop_after)
    finally:
        if formed:
            distributed.barrier()
            import torch.distributed as dist

            dist.destroy_process_group()


def _main_writes(out: Path, step: int) -> dict | None:
    """After a data-parallel run, every rank but 0 is done: rank 0 alone scores and writes the outputs."""
    from lrfr.train.engine import is_main_process

    return None if is_main_process() else {"out": out, "step": step, "files": []}


def config_sha256(cfg) -> str:
    import hashlib

    from lrfr.config import dump_toml

    return hashlib.sha256(dump_toml(dataclasses.asdict(cfg)).encode()).hexdigest()


def provenance(cfg, steps: int, validation: dict) -> dict:
    """What every model file of a run records about how it was made."""
    return {"pipeline": cfg.name, "steps": steps, "validation": validation, "config_sha256": config_sha256(cfg),
            "trained_on": f"{cfg.data.source}:{cfg.data.root or 'SynthFaces'}"}


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
    if (elsewhere := _main_writes(out, result["step"])) is not None:
        return elsewhere
    final = dict(validate(result["model"])) if validate is not None else {}
    m = cfg.model
    meta = provenance(cfg, result["step"], final)
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
           stop_after: int | None = None, trainer: Callable[..., dict] | None = None) -> dict:
    """Train an SR generator; writes ``generator.pt`` (+ ``discriminator.pt``), ``grid.png`` and the history.

    ``trainer``: the training function (default :func:`lrfr.train.sr_gan.train_sr`; PFSR passes its own)."""
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

    result = (trainer or train_sr)(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                      allow_changed=allow_changed, after_validation=grid if validate is not None else None)
    out = Path(result["out"])
    if result["step"] < cfg.optim.iterations:
        return {"out": out, "step": result["step"], "files": [out / "checkpoint.pt"]}
    if (elsewhere := _main_writes(out, result["step"])) is not None:
        return elsewhere
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


register_recipe("sr", _sr_config(), "SR generator training: SRResNet (pixel loss), SRGAN (perceptual + adversarial)")(run_sr)


# ---------------------------------------------------------------------------------------------
# C-Face (papers/004): the stages of Algorithm 1, then C-Face-v1 and -v2 on the protocols


def _cface_config():
    from lrfr.train.cface_config import CFacePipeline

    return CFacePipeline


def run_cface(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
              stop_after: int | None = None) -> dict:
    """Train C-Face (the stages ``cfg.ablation`` names; :mod:`lrfr.train.cface`), then score what it made.

    Writes, beside the stage folders: ``cface_v1.pt`` / ``cface_<ablation>.pt`` (``run.weights_dtype``),
    ``results.csv`` / ``.md`` / ``.json`` (``lrfr.evaluate`` on ``eval.protocols``, scored by the original
    CNN^R unless ``eval.recognizer`` names another — named with its sha256), ``losses.png`` (per stage),
    ``grid.png`` (HR / LR / bicubic / v1 / v2) and ``final.json``.
    """
    import torch

    from lrfr import sr as sr_models
    from lrfr.devices import resolve_device
    from lrfr.io import atomic_write_text
    from lrfr.report import save_sr_grid, write_table
    from lrfr.train.cface import PACKAGED_RECOGNIZER, train_cface, weights_identity
    from lrfr.train.cface_config import PACKAGED, resolve_weights
    from lrfr.train.cface_report import markdown_table, plot_stage_losses
    from lrfr.train.figures import plot_history
    from lrfr.train.sr_gan import frozen_recognizer
    from lrfr.validation import sr_validator_for

    device = resolve_device(cfg.run.device)
    own = not cfg.eval.recognizer
    scorer_path = resolve_weights(cfg.eval.recognizer or cfg.recognizer.weights, PACKAGED_RECOGNIZER)
    scorer_arch = (cfg.recognizer.arch if own else cfg.eval.recognizer_arch) or None
    scorer = frozen_recognizer(str(scorer_path), device, scorer_arch)
    scorer_id = weights_identity(scorer_path, scorer_arch)
    validate = None
    if cfg.val.source != "none":
        validate = sr_validator_for(cfg.val, tuple(cfg.data.hr_size), cfg.model.scale, cfg.data.degrade, scorer,
                                    progress=progress)

    def grid(step, metrics, out, model):
        validate.grid(model, out / "grid.png", title=f"{cfg.name} @{step}")

    result = train_cface(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                         allow_changed=allow_changed, after_validation=grid if validate is not None else None)
    out = Path(result["out"])
    if result["complete"] and (elsewhere := _main_writes(out, result["step"])) is not None:
        return elsewhere
    for s, h in result["histories"].items():
        plot_history(h, out / f"stage{s}" / "training.png", title=f"{cfg.name}: stage {s}")
    if not result["complete"]:  # stopped on purpose: the checkpoints are the output
        return {"out": out, "step": result["step"],
                "files": sorted(p for p in out.glob("stage*/checkpoint.pt"))}
    meta = {"pipeline": cfg.name, "ablation": cfg.ablation, "compare_k": cfg.compare.k,
            "cface_loss": "eq. 6" if cfg.loss.hinge else "eq. 5", "steps": result["step"],
            "stage_steps": {f"stage{s}": info["total"] for s, info in result["stages"].items()},
            "cnn_r": weights_identity(result["recognizer"], cfg.recognizer.arch), "evaluation_recognizer": scorer_id,
            "config_sha256": config_sha256(cfg), "trained_on": f"{cfg.data.source}:{cfg.data.root or 'SynthFaces'}",
            "scale": cfg.model.scale, "degrade": cfg.data.degrade, "weights_dtype": cfg.run.weights_dtype}
    files, generators = [], {}
    for name, path in result["generators"].items():  # the shipped size; what is scored is what ships
        stage_model = sr_models.load(path)
        files.append(sr_models.save(stage_model, out / f"{name.replace('-', '_')}.pt", dtype=cfg.run.weights_dtype,
                                    meta={**meta, "pipeline": name}))
        generators[name] = sr_models.load(files[-1], device=device)
    final = {}
    if validate is not None:
        for name, g in generators.items():
            metrics = validate(g)
            final.update({f"{name} {k}": metrics[k] for k in ("psnr", "ssim", "acc_sr")})
        final.update({k: metrics[k] for k in ("acc_hr", "acc_bicubic")})
    if cfg.eval.protocols:
        from lrfr.evaluation import evaluate

        baselines = [str(resolve_weights(b, "")) if b.startswith(PACKAGED) else b for b in cfg.eval.baselines]
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
        from lrfr.data.degrade import degrade_batch, upsample
        from lrfr.train.batches import take

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


register_recipe("cface", _cface_config(), "C-Face: compare-face loss, four-stage training (papers/004)")(run_cface)


# ---------------------------------------------------------------------------------------------
# PFSR (papers/002): the progressive generator, and the landmark-heatmap network its losses need


def _pfsr_config():
    from lrfr.train.pfsr_config import PFSRPipeline

    return PFSRPipeline


def run_pfsr(cfg, **kwargs) -> dict:
    """Train PFSR step by step (:mod:`lrfr.train.pfsr`); the outputs are the SR recipe's."""
    from lrfr.train.pfsr import train_pfsr

    return run_sr(cfg, trainer=train_pfsr, **kwargs)


register_recipe("pfsr", _pfsr_config(),
                "PFSR: progressive 8x generator, attention and heatmap losses (papers/002)")(run_pfsr)


def _landmarks_config():
    from lrfr.train.landmarks_config import LandmarksPipeline

    return LandmarksPipeline


def run_landmarks(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
                  stop_after: int | None = None) -> dict:
    """Train the landmark-heatmap network; writes ``heatmap_net.pt`` (family "prior"), NME and the history."""
    import copy

    from lrfr.priors.landmarks import save_heatmap_net
    from lrfr.train.landmarks import check_config, nme_validator, train_landmarks

    check_config(cfg)
    if cfg.run.weights_dtype not in ("float32", "float16"):
        raise ConfigError(f"run.weights_dtype must be float32 or float16; got {cfg.run.weights_dtype!r}")
    validate = nme_validator(cfg, progress=progress)
    result = train_landmarks(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                             allow_changed=allow_changed)
    out = Path(result["out"])
    if result["step"] < cfg.optim.iterations:
        return {"out": out, "step": result["step"], "files": [out / "checkpoint.pt"]}
    if (elsewhere := _main_writes(out, result["step"])) is not None:
        return elsewhere
    model = copy.deepcopy(result["recipe"].eval_model()).cpu().eval()
    meta = {**provenance(cfg, result["step"], {}), "weights_dtype": cfg.run.weights_dtype,
            "sigma_fraction": cfg.data.sigma_fraction, "factors": list(cfg.data.factors)}
    path = save_heatmap_net(model, out / "heatmap_net.pt", meta=meta, dtype=cfg.run.weights_dtype)
    final = {}
    if validate is not None:  # what ships is what is scored: the file, read back at its stored dtype
        from lrfr.priors.landmarks import load_heatmap_net

        final = dict(validate(load_heatmap_net(path)))
        meta["validation"] = final
        path = save_heatmap_net(model, path, meta=meta, dtype=cfg.run.weights_dtype)
    files = [path] + write_run_outputs(out, result["history"], meta, f"{cfg.name}: heatmap network")
    return {"out": out, "step": result["step"], "final": final, "files": files}


register_recipe("landmarks", _landmarks_config(), "PFSR's 5-landmark heatmap network (papers/002 §3.3)")(run_landmarks)
