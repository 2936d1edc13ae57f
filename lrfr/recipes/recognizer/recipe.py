"""Recognizer training: SphereFace (or any registered recognizer) with A-Softmax, on the engine.

The recipe supplies the build (network, A-Softmax head, SGD, step decay) and one step; the loop,
validation, checkpoints, exact resume and the NaN guard are :mod:`lrfr.engine.loop`'s. Batches and
augmentations derive from ``(seed, step)`` (see :mod:`lrfr.engine.batches`), so on the CPU a run
stopped at step s and resumed reaches bit-identical weights to an uninterrupted one.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from lrfr.engine.batches import EpochBatches, draw_batch
from lrfr.engine.training_set import build_training_set
from lrfr.engine.optim import build_optimizer, build_step_schedule, set_learning_rate
from lrfr.engine.loop import Recipe, Validator, settings_for, train
from lrfr.recipes.recognizer.config import MARGIN_ADDED_KEYS, RecognizerPipeline

__all__ = ["RecognizerRecipe", "train_recognizer"]


def _build(cfg: RecognizerPipeline, n_classes: int, device: torch.device, model=None):
    """Network (``model`` when given: fine-tuning; else built from ``cfg.model``), A-Softmax head, optimizer, schedule."""
    from lrfr.recognition import build

    m = cfg.model
    if model is None:
        model = build(m.arch, width=m.width, embedding_dim=m.embedding_dim, input_size=tuple(m.input_size))
    head = cfg.margin.head(model.embedding_dim, n_classes)
    model.to(device), head.to(device)
    params = list(model.parameters()) + list(head.parameters())
    o = cfg.optim
    opt = build_optimizer(params, type=o.type, lr=o.lr, momentum=o.momentum, betas=o.betas, weight_decay=o.weight_decay)
    sched = build_step_schedule(opt, o.milestones, o.lr_decay)
    return model, head, opt, sched


class RecognizerRecipe(Recipe):
    added_keys = {f"margin.{k}": v for k, v in MARGIN_ADDED_KEYS.items()}

    """A-Softmax training of a recognizer: SGD (or Adam) over identity-labelled faces.

    ``data``: the training set when the caller already holds it (else built from ``cfg.data``); ``model``: a
    recognizer to fine-tune (else a new one is built from ``cfg.model``). Both are used as they are.
    """

    def __init__(self, cfg: RecognizerPipeline, progress: bool = True, *, data=None, model=None):
        self.use_config(cfg)
        self.data = data if data is not None else build_training_set(cfg.data, tuple(cfg.model.input_size),
                                                                      progress=progress)
        d = self.data
        n_classes = len(d.classes) if getattr(d, "classes", None) is not None else int(max(d.labels)) + 1
        torch.manual_seed(cfg.run.seed)  # the initial weights follow the seed too
        self.model, self.head, self.opt, self.sched = _build(cfg, n_classes, self.device, model)
        self.batches = EpochBatches(len(d), cfg.optim.batch_size, cfg.run.seed)

    def parts(self):
        return {"model": self.model, "head": self.head, "optimizer": self.opt, "scheduler": self.sched}

    def watched_modules(self):
        return {"model": self.model, "head": self.head}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        images, labels = draw_batch(self.data, self.batches, step, cfg.run.seed, cfg.augment.hflip, cfg.augment.crop_pad,
                                    cfg.data.workers)
        images, labels = images.to(self.device), labels.to(self.device)
        logits = self.head(self.model(images), labels)
        loss = F.cross_entropy(logits, labels)  # A-Softmax (SphereFace eq. 7): the margin lives in the head
        if not torch.isfinite(loss):
            return {"loss": loss.detach()}  # the engine stops here, before the optimizer touches the weights
        self.opt.zero_grad(set_to_none=True)
        self.backward(loss)
        self.step(self.opt)
        self.sched.step()
        return {"loss": loss.detach()}

    def eval_model(self):
        return self.model

    def log_values(self):
        lam = {"lambda": self.head.lambda_} if hasattr(self.head, "lambda_") else {}  # A-Softmax's schedule
        return {**lam, "lr": self.sched.get_last_lr()[0]}

    def apply_config_to_optimizers(self, changed: list[str]) -> None:
        set_learning_rate(self.opt, self.sched, self.cfg.optim.lr, self.cfg.optim.milestones, self.cfg.optim.lr_decay)


def train_recognizer(
    cfg: RecognizerPipeline,
    validate: Validator | None = None,
    resume: bool = True,
    progress: bool = True,
    stop_after: int | None = None,
    allow_changed: tuple[str, ...] = (),
) -> dict:
    """Train per ``cfg`` on the engine; returns ``{"model", "head", "step", "history", "out"}``.

    ``resume=True`` continues from ``<out>/checkpoint.pt`` when it exists (the config must match,
    except ``optim.iterations``, the ``[run]`` bookkeeping keys and ``allow_changed``);
    ``stop_after`` ends the run early at that step, after writing a checkpoint (used to test resume).
    """
    recipe = RecognizerRecipe(cfg, progress=progress)
    settings = settings_for(cfg, Path(cfg.run.out), "recognizer")
    result = train(recipe, settings, validate, resume=resume, progress=progress, stop_after=stop_after,
                   allow_changed=allow_changed)
    return {"model": recipe.model, "head": recipe.head, **result}
