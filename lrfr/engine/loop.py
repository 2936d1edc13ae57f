"""The one training loop every recipe runs on.

A recipe (:class:`Recipe`) supplies only what is its own: what to build, one training step that
returns a named dict of losses (BasicSR's ``optimize_parameters`` shape), the objects whose state
a resume needs, and what to export at the end. :func:`train` does the rest, once for everyone:

- steps with a progress bar and a ``history.csv`` (losses averaged per ``log_every`` steps,
  validation rows, learning rates, images/s);
- validation through a callable every ``val_every`` steps (the training layer never imports the
  protocol layer: the caller hands the callable in);
- atomic checkpoints holding every part (models, optimizers, schedulers, EMA, step, stage, the
  resolved config, history, RNG states); the previous checkpoint is kept as ``checkpoint.prev.pt``
  so a corrupted latest file is not the end of a run;
- exact resume: batches and augmentation derive from ``(seed, step)``
  (:mod:`lrfr.engine.batches`), RNG states are restored, so on the CPU a run stopped at step s and
  resumed ends bit-identical to an uninterrupted one; a checkpoint of a different recipe is refused,
  unless the differing keys are named in ``allow_changed`` (e.g. ``optim.lr`` after a divergence);
- a guard: a NaN/inf loss term stops the run naming the term and the step; weights that exploded
  (non-finite, or larger than ``max_abs_weight``) are never written, so the kept checkpoint is
  always a healthy one to resume from with a lower learning rate.

- speed and scale, set here once for every recipe: mixed precision (``[run] precision``, see
  :mod:`lrfr.engine.precision`), ``channels_last`` and ``torch.compile`` switches, and data parallelism
  under ``torchrun`` (:mod:`lrfr.engine.distributed`: each rank takes its rows of the ``(seed, step)``
  batch, gradients are averaged before every optimizer step, BatchNorm sees the global batch, only
  rank 0 writes files, and a checkpoint resumes at any world size).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from lrfr.config import check_bounds, dump_toml
from lrfr.errors import LrfrError
from lrfr.io import FileWriteError, atomic_write_text
from lrfr.engine import distributed
from lrfr.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, set_rng_state
from lrfr.engine.precision import Precision

Validator = Callable[[nn.Module], Mapping[str, float]]

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
#: a new checkpoint is written whole (atomically) here first, then promoted by two renames
INCOMING = "checkpoint.next.pt"


class NonFiniteLossError(LrfrError, RuntimeError):
    """A loss term became NaN/inf, or the weights exploded; the last (healthy) checkpoint is kept."""


class RecipeMismatchError(LrfrError, ValueError):
    """A checkpoint was written by a recipe whose config differs from the one being run."""


def is_main_process() -> bool:
    """True on the process that writes files (rank 0; the only process without DDP)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank() == 0
    return True


@dataclass
class LoopSettings:
    """What the loop needs to know of a recipe's config (built by the recipe from its ``[run]``)."""

    out: Path
    total_steps: int
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    val_every: int = 0
    batch_size: int = 1
    stage: str = "train"
    #: the weights are unhealthy past this magnitude (finite but exploded, as before a NaN)
    max_abs_weight: float = 1e6
    #: "fp32", "bf16" (autocast) or "fp16" (autocast + loss scaling, CUDA); see lrfr.engine.precision
    precision: str = "fp32"
    #: store the networks' weights channels_last (faster convolutions on CPUs and tensor cores)
    channels_last: bool = False
    #: compile the networks' forward with torch.compile (first steps are slow while it compiles)
    compile: bool = False
    #: config keys (``section.key``) that must match between a checkpoint and the run resuming it
    #: are all of them except these, which never change the weights a step produces
    resume_free_keys: tuple[str, ...] = ("run.checkpoint_every", "run.log_every", "val.every", "run.threads",
                                         "run.weights_dtype", "run.device", "run.out", "run.precision",
                                         "run.channels_last", "run.compile")


def settings_for(cfg, out: Path, stage: str) -> LoopSettings:
    """The loop's settings from a recipe config's ``[run]``, ``[optim]`` and ``[val]`` sections (a config
    built in code is held to the same bounds as one read from a file)."""
    check_bounds(cfg, getattr(cfg, "name", "config"))
    return LoopSettings(
        out=Path(out), total_steps=cfg.optim.iterations, seed=cfg.run.seed, checkpoint_every=cfg.run.checkpoint_every,
        log_every=cfg.run.log_every, val_every=cfg.val.every, batch_size=cfg.optim.batch_size, stage=stage,
        **speed_settings(cfg.run),
    )


def speed_settings(run) -> dict[str, Any]:
    """The ``[run]`` switches that change how fast a step runs, not what it computes (up to rounding)."""
    return {"precision": run.precision, "channels_last": run.channels_last, "compile": run.compile}


class Recipe:
    """What a recipe supplies to :func:`train`. Subclass and fill in the methods below."""

    #: the resolved config as TOML text (written next to every checkpoint and model file)
    config_text: str = ""
    #: key of the step-total in the config (may change on resume, e.g. to train longer)
    steps_key: str = "optim.iterations"
    #: keys newer than some checkpoints, with the value those checkpoints were trained with: a checkpoint
    #: without such a key resumes when the config still has that value (see :func:`check_same_recipe`)
    added_keys: Mapping[str, Any] = {}
    #: set by :func:`train` from the loop settings; recipes go through :meth:`backward` and :meth:`step`
    precision: Precision = Precision("fp32")

    def use_config(self, cfg) -> torch.device:
        """Take a recipe config: ``self.cfg``, its ``[run] threads`` and device, and the config text its
        checkpoints are bound to; returns the device."""
        from lrfr.devices import resolve_device

        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        self.cfg = cfg
        self.device = resolve_device(cfg.run.device)
        self.config_text = dump_toml(dataclasses.asdict(cfg))
        return self.device

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()`` (scaled under fp16)."""
        self.precision.backward(loss)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()`` (through the loss scaler under fp16; gradients averaged across ranks under DDP)."""
        self.precision.step(optimizer)

    def parts(self) -> dict[str, Any]:
        """Objects with ``state_dict``/``load_state_dict`` that a resume needs (models, optimizers, …)."""
        raise NotImplementedError

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        """One iteration (all of its D/G updates); returns the named loss terms (0-d tensors)."""
        raise NotImplementedError

    def eval_model(self) -> nn.Module:
        """The network handed to the validator."""
        raise NotImplementedError

    def watched_modules(self) -> dict[str, nn.Module]:
        """Networks whose weights are checked for health before each checkpoint (default: ``parts``)."""
        return {k: v for k, v in self.parts().items() if isinstance(v, nn.Module)}

    def set_mode(self, train: bool) -> None:
        for m in self.watched_modules().values():
            m.train(train)

    def log_values(self) -> dict[str, float]:
        """Extra numbers for the history rows (learning rates, λ, …)."""
        return {}

    def after_validation(self, step: int, metrics: Mapping[str, float], out: Path) -> None:
        """Hook for what a validation also writes (e.g. an image grid)."""


def check_same_recipe(saved_text: str, now_text: str, path: Path, free: Iterable[str],
                      allow_changed: Iterable[str] = (), added_keys: Mapping[str, Any] = {}) -> list[str]:
    """Refuse a checkpoint of another recipe; returns the allowed keys that did change.

    ``added_keys``: keys a config written by an older lrfr lacks, each with the value that older code
    used implicitly; the saved config counts as having that value.
    """
    from lrfr.config import tomllib

    def flat(d: dict, prefix: str = "") -> dict[str, Any]:
        out = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            out.update(flat(v, key + ".") if isinstance(v, dict) else {key: v})
        return out

    saved, now = flat(tomllib.loads(saved_text)), flat(tomllib.loads(now_text))
    saved = {**{k: v for k, v in added_keys.items() if k in now}, **saved}
    skip = set(free)
    diffs = sorted(k for k in set(saved) | set(now) if k not in skip and saved.get(k) != now.get(k))
    allowed = set(allow_changed)
    refused = [k for k in diffs if k not in allowed]
    if refused:
        detail = ", ".join(f"{k} ({saved.get(k)!r} → {now.get(k)!r})" for k in refused)
        raise RecipeMismatchError(
            f"{path} was written by a different recipe (differs in: {detail}). To continue it anyway with the "
            f"new value(s), pass --allow-changed {' '.join(refused)}; to start over, pass --restart "
            "(or use another run.out)"
        )
    return [k for k in diffs if k in allowed]


def _unhealthy(modules: Mapping[str, nn.Module], limit: float) -> str | None:
    """The first parameter or buffer that is non-finite or larger than ``limit``, described; else None."""
    for name, module in modules.items():
        for pname, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point() or t.numel() == 0:
                continue
            peak = float(t.detach().abs().max())
            if not math.isfinite(peak) or peak > limit:
                return f"{name}.{pname} has max |w| = {peak:.3g}"
    return None


def _load_resumable(out: Path, progress: bool) -> tuple[dict | None, Path | None]:
    """The newest readable checkpoint in ``out``.

    Preference: a fully written but not yet promoted ``checkpoint.next.pt`` (a kill between the
    renames), then ``checkpoint.pt``, then ``checkpoint.prev.pt`` when the latest is unreadable.
    Half-written temporary files of a killed write are removed.
    """
    for stale in out.glob(".checkpoint*.tmp"):
        stale.unlink(missing_ok=True)
    candidates = [out / INCOMING, out / CHECKPOINT, out / PREVIOUS]
    existing = [c for c in candidates if c.exists()]
    if not existing:
        return None, None
    errors = []
    for path in existing:
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as err:
            errors.append(str(err))
            continue
        if errors and progress:
            print(f"warning: {'; '.join(errors)}; resuming from the previous checkpoint {path}")
        return ckpt, path
    raise CheckpointError("no readable checkpoint in " + str(out) + ": " + "; ".join(errors)
                          + ". Pass --restart to start over")


def _write_history(history: list[dict], path: Path) -> None:
    import pandas as pd

    atomic_write_text(path, pd.DataFrame(history).to_csv(index=False))


def train(
    recipe: Recipe,
    settings: LoopSettings,
    validate: Validator | None = None,
    *,
    resume: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
    allow_changed: Iterable[str] = (),
) -> dict[str, Any]:
    """Run ``recipe`` to ``settings.total_steps``; returns ``{"step", "history", "out", "resumed_from"}``.

    ``resume`` continues from ``<out>/checkpoint.pt`` when it exists; ``stop_after`` ends early at
    that step after writing a checkpoint (used to test resume and to split long runs).
    """
    from tqdm.auto import tqdm

    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    main = is_main_process()
    recipe.precision = Precision(settings.precision, getattr(recipe, "device", torch.device("cpu")))
    parts = recipe.parts()
    if recipe.precision.scaler is not None:
        parts["grad_scaler"] = recipe.precision
    prepare_networks(recipe, parts, settings)
    history: list[dict] = []
    step = 0
    resumed_from = None
    if resume:
        ckpt, path = _load_resumable(out, progress)
        if ckpt is not None:
            if ckpt.get("stage") != settings.stage:
                raise RecipeMismatchError(f"{path} holds stage {ckpt.get('stage')!r}, not {settings.stage!r}; "
                                          "pass --restart or use another run.out")
            changed = check_same_recipe(ckpt["config"], recipe.config_text, path,
                                        (*settings.resume_free_keys, recipe.steps_key), allow_changed,
                                        recipe.added_keys)
            missing = sorted(set(parts) - set(ckpt["parts"]) - {"grad_scaler"})  # fp16's scale may start fresh
            if missing:
                raise CheckpointError(f"{path} lacks the part(s) {', '.join(missing)} this recipe needs")
            for name, obj in parts.items():
                if name in ckpt["parts"]:
                    obj.load_state_dict(ckpt["parts"][name])
            if changed:
                _apply_changed_hyperparameters(recipe, changed)
            set_rng_state(ckpt["rng"])
            step = int(ckpt["step"])
            history = json.loads(ckpt["history"])
            resumed_from = str(path)
            if progress:
                note = f" with changed {', '.join(changed)}" if changed else ""
                print(f"resuming from {path} at step {step}{note}")
    if distributed.is_distributed():
        _broadcast_state(recipe)
    if main:
        atomic_write_text(out / "config.toml", recipe.config_text)
    ckpt_path = out / CHECKPOINT

    def checkpoint() -> None:
        problem = _unhealthy(recipe.watched_modules(), settings.max_abs_weight)
        if problem is not None:
            raise NonFiniteLossError(
                f"weights exploded by step {step} ({problem}); the checkpoint was not overwritten, so "
                f"{ckpt_path if ckpt_path.exists() else 'no checkpoint'} still holds the last healthy state. "
                "Lower the learning rate (resume with --set optim.lr=... --allow-changed optim.lr) or check the data."
            )
        if not main:
            distributed.barrier()  # rank 0 is writing: nobody reads a half-promoted checkpoint
            return
        try:
            save_checkpoint(out / INCOMING, parts={k: v.state_dict() for k, v in parts.items()}, step=step,
                            stage=settings.stage, config=recipe.config_text, history=json.dumps(history))
        except FileWriteError as err:
            kept = f"the last checkpoint, {ckpt_path}, is kept" if ckpt_path.exists() else "no checkpoint was kept"
            raise FileWriteError(f"{err} at step {step}; {kept}: make room and run again to resume") from err
        if ckpt_path.exists():
            os.replace(ckpt_path, out / PREVIOUS)
        os.replace(out / INCOMING, ckpt_path)
        _write_history(history, out / "history.csv")
        distributed.barrier()

    total = settings.total_steps
    end = total if stop_after is None else min(total, stop_after)
    bar = tqdm(total=total, initial=step, desc=f"{settings.stage}", disable=not progress or not main)
    recipe.set_mode(True)
    sums: dict[str, float] = {}
    seen, t0 = 0, time.perf_counter()
    while step < end:
        losses = run_step(recipe, step)
        values = distributed.average_values({k: float(v) for k, v in losses.items()})
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise NonFiniteLossError(
                f"loss term {bad[0]!r} became {values[bad[0]]} at step {step} (all terms: "
                + ", ".join(f"{k}={v:.4g}" for k, v in values.items())
                + f"); nothing was written past the last checkpoint ({ckpt_path if ckpt_path.exists() else 'none yet'}). "
                "Lower optim.lr (resume with --set optim.lr=... --allow-changed optim.lr) or check the data."
            )
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        step += 1
        seen += 1
        bar.update(1)
        if step % settings.log_every == 0 or step == end:
            rec = {"step": step, **{k: v / seen for k, v in sums.items()}, **recipe.log_values(),
                   "images_per_s": seen * settings.batch_size / (time.perf_counter() - t0)}
            head = list(sums)[:3]
            bar.set_postfix({k: f"{rec[k]:.3g}" for k in head})
            history.append(rec)
            sums, seen, t0 = {}, 0, time.perf_counter()
        if validate is not None and settings.val_every and (step % settings.val_every == 0 or step == total):
            recipe.set_mode(False)
            metrics = None
            if main:  # once, on rank 0; the numbers are shared so every rank logs the same history
                with torch.no_grad():
                    metrics = dict(validate(recipe.eval_model()))
            metrics = distributed.broadcast_from_main(metrics)
            recipe.set_mode(True)
            history.append({"step": step, **metrics})
            if main:
                recipe.after_validation(step, metrics, out)
                if progress:
                    bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if step % settings.checkpoint_every == 0 or step == end:
            checkpoint()
    bar.close()
    recipe.set_mode(False)
    return {"step": step, "history": history, "out": out, "resumed_from": resumed_from}


def run_step(recipe: Recipe, step: int) -> dict[str, Any]:
    """One training step under the recipe's precision: the step inside its autocast, then its
    ``end_step`` (the fp16 loss scale's update). The loop's body, and what benchmarks time."""
    with recipe.precision.autocast():
        losses = recipe.train_step(step)
    recipe.precision.end_step()
    return losses


def prepare_networks(recipe: Recipe, parts: Mapping[str, Any], settings: LoopSettings) -> None:
    """Memory format, compilation and, under torchrun, global BatchNorm and gradient averaging."""
    modules = recipe.watched_modules()
    if distributed.is_distributed():
        for m in modules.values():
            distributed.sync_batch_norm(m)
        for part in parts.values():
            if isinstance(part, torch.optim.Optimizer):
                distributed.average_gradients_before_step(part)
    for m in modules.values():
        if settings.channels_last:
            m.to(memory_format=torch.channels_last)
        if settings.compile:
            m.compile()


def _broadcast_state(recipe: Recipe) -> None:
    """Every rank starts from rank 0's weights (equal already when seeds agree; this makes it certain)."""
    for m in recipe.watched_modules().values():
        for t in list(m.parameters()) + list(m.buffers()):
            torch.distributed.broadcast(t.data, src=0)


def _apply_changed_hyperparameters(recipe: Recipe, changed: list[str]) -> None:
    """After loading an optimizer's state, put the config's (changed) learning rate back in force."""
    if hasattr(recipe, "apply_config_to_optimizers"):
        recipe.apply_config_to_optimizers(changed)


__all__ = ["Recipe", "LoopSettings", "settings_for", "speed_settings", "prepare_networks", "train", "NonFiniteLossError", "RecipeMismatchError", "check_same_recipe",
           "is_main_process", "Validator"]
