"""Recognizer training: SphereFace (or any registered recognizer) with A-Softmax.

One loop, one job: SGD over identity-labelled faces, step-decayed learning rate, periodic
validation through a callable the caller supplies (so ``train/`` does not import the protocol
layer above it), atomic checkpoints and exact resume. Batches and augmentations derive from
``(seed, step)`` (see :mod:`lrfr.train.batches`), so on the CPU a run stopped at step s and resumed
reaches bit-identical weights to an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from lrfr.config import dump_toml
from lrfr.devices import resolve_device
from lrfr.io import atomic_write_text
from lrfr.train.batches import EpochBatches, InMemoryFaces, augment, gather, step_generator
from lrfr.train.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from lrfr.train.recognizer_config import RecognizerPipeline

Validator = Callable[[torch.nn.Module], dict]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the last checkpoint is left untouched."""


def build_training_set(cfg: RecognizerPipeline, progress: bool = True):
    d = cfg.data
    size = tuple(cfg.model.input_size)
    if d.source == "synth":
        from lrfr.data.synth import SynthFaces

        ds = SynthFaces(
            n_identities=d.n_identities, images_per_identity=d.images_per_identity,
            size=size, seed=d.seed, identity_offset=d.identity_offset,
        )
    elif d.source == "folder":
        from lrfr.data.folders import open_faces

        if not d.root:
            raise ValueError("[data] source = 'folder' needs root = 'path/to/identity/folders'")
        ds = open_faces(d.root, size=size)
    else:
        raise ValueError(f"[data] source must be 'synth' or 'folder'; got {d.source!r}")
    return InMemoryFaces(ds, progress=progress, desc="loading training set") if d.in_memory else ds


def _build(cfg: RecognizerPipeline, n_classes: int, device: torch.device):
    from lrfr.recognition import build
    from lrfr.recognition.margins import AngleLinear

    m = cfg.model
    model = build(m.arch, width=m.width, embedding_dim=m.embedding_dim, input_size=tuple(m.input_size))
    g = cfg.margin
    head = AngleLinear(m.embedding_dim, n_classes, m=g.m, base=g.base, gamma=g.gamma, power=g.power, lambda_min=g.lambda_min)
    model.to(device), head.to(device)
    params = list(model.parameters()) + list(head.parameters())
    o = cfg.optim
    opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(o.milestones), gamma=o.lr_decay)
    return model, head, opt, sched


def _config_text(cfg: RecognizerPipeline) -> str:
    return dump_toml(dataclasses.asdict(cfg))


def train_recognizer(
    cfg: RecognizerPipeline,
    validate: Validator | None = None,
    resume: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict:
    """Train per ``cfg``; returns ``{"model", "head", "step", "history", "out"}``.

    ``resume=True`` continues from ``<out>/checkpoint.pt`` when it exists (the config must match,
    except ``optim.iterations`` and ``run.checkpoint_every``); ``stop_after`` ends the run early
    at that step, after writing a checkpoint (used to test resume).
    """
    from tqdm.auto import tqdm

    out = Path(cfg.run.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    device = resolve_device(cfg.run.device)
    data = build_training_set(cfg, progress=progress)
    n_classes = len(data.classes) if getattr(data, "classes", None) is not None else int(max(data.labels)) + 1
    torch.manual_seed(cfg.run.seed)  # the initial weights follow the seed too
    model, head, opt, sched = _build(cfg, n_classes, device)
    batches = EpochBatches(len(data), cfg.optim.batch_size, cfg.run.seed)
    ckpt_path = out / "checkpoint.pt"
    history: list[dict] = []
    step = 0
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        _check_same_recipe(ckpt["config"], cfg, ckpt_path)
        model.load_state_dict(ckpt["model"])
        head.load_state_dict(ckpt["head"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        step = int(ckpt["step"])
        history = json.loads(ckpt["history"])
        if progress:
            print(f"resuming from {ckpt_path} at step {step} (λ = {head.lambda_:.2f})")
    atomic_write_text(out / "config.toml", _config_text(cfg))

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path, model=model.state_dict(), head=head.state_dict(), optimizer=opt.state_dict(),
            scheduler=sched.state_dict(), step=step, stage="recognizer", config=_config_text(cfg),
            history=json.dumps(history),
        )

    total = cfg.optim.iterations
    end = total if stop_after is None else min(total, stop_after)
    bar = tqdm(total=total, initial=step, desc=f"train {cfg.model.arch}", disable=not progress)
    model.train(), head.train()
    running, seen, t0 = 0.0, 0, time.perf_counter()
    while step < end:
        idx = batches.indices(step)
        images, labels = data.batch(idx) if hasattr(data, "batch") else gather(data, idx, cfg.data.workers)
        images = augment(images, step_generator(cfg.run.seed, step), cfg.augment.hflip, cfg.augment.crop_pad)
        images, labels = images.to(device), labels.to(device)
        logits = head(model(images), labels)
        loss = F.cross_entropy(logits, labels)
        if not math.isfinite(loss.item()):
            raise NonFiniteLossError(
                f"loss became {loss.item()} at step {step}; nothing was written past the last checkpoint "
                f"({ckpt_path if ckpt_path.exists() else 'none yet'}). Lower optim.lr or check the data."
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        running += loss.item()
        seen += 1
        bar.update(1)
        if step % cfg.run.log_every == 0 or step == end:
            rec = {"step": step, "loss": running / seen, "lambda": head.lambda_, "lr": sched.get_last_lr()[0],
                   "images_per_s": seen * cfg.optim.batch_size / (time.perf_counter() - t0)}
            bar.set_postfix(loss=f"{rec['loss']:.3f}", lam=f"{rec['lambda']:.1f}")
            history.append(rec)
            running, seen, t0 = 0.0, 0, time.perf_counter()
        if validate is not None and cfg.val.every and (step % cfg.val.every == 0 or step == total):
            model.eval()
            metrics = validate(model)
            model.train()
            history.append({"step": step, **metrics})
            if progress:
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if step % cfg.run.checkpoint_every == 0 or step == end:
            checkpoint()
    bar.close()
    model.eval()
    return {"model": model, "head": head, "step": step, "history": history, "out": out}


def _check_same_recipe(saved_text: str, cfg: RecognizerPipeline, path: Path) -> None:
    """Refuse to resume a checkpoint written by a different recipe (a silent mix is worse than an error)."""
    from lrfr.config import tomllib

    saved = tomllib.loads(saved_text)
    now = tomllib.loads(_config_text(cfg))
    # keys that do not change the weights a step produces
    for section, key in (("optim", "iterations"), ("run", "checkpoint_every"), ("run", "log_every"),
                         ("val", "every"), ("run", "weights_dtype")):
        saved.get(section, {}).pop(key, None)
        now.get(section, {}).pop(key, None)
    if saved != now:
        diffs = [f"{s}.{k}" for s in now for k in now[s] if isinstance(now[s], dict) and saved.get(s, {}).get(k) != now[s][k]]
        diffs += [k for k in now if not isinstance(now[k], dict) and saved.get(k) != now[k]]
        raise ValueError(
            f"{path} was written by a different recipe (differs in: {', '.join(diffs) or '?'}); "
            "use another run.out, or delete the checkpoint to start over"
        )
