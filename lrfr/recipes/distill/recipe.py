"""Low-resolution embedding distillation (``kind = "distill"``), on the engine.

One iteration (:meth:`DistillRecipe.train_step`):

1. the faces of step ``s`` (a slice of a per-epoch permutation, as every recipe's) and their flips,
   scales and HR/LR choice, all drawn from ``(seed, s)``;
2. the LR side: each face degraded at its scale (``data.degrade``, seeded per image) and brought back
   to the recognizer's size by the frozen front-end — bicubic, or a generator whose faces, when the
   degradation is deterministic, are computed once for the whole training set (:mod:`lrfr.engine.frozen`:
   the mirror of a generator's output stands for its output on the mirrored face);
3. the target: the frozen teacher's embedding of the same face at HR (computed once, both flips);
4. one optimizer step of the student on ``embedding_weight · (1 − cos)`` (or the squared distance of the
   normalised embeddings), plus ``softmax_weight`` × A-Softmax on the identity labels when asked.

What a resume needs (student, head, optimizer, schedule) is in :meth:`parts`; exact resume,
checkpoints, history and the NaN guard are the engine's. The values are lrfr's: see
:mod:`lrfr.recipes.distill.config`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lrfr.config import ConfigError
from lrfr.engine.batches import EpochBatches, apply_flip, flip_mask, step_generator, take
from lrfr.engine.distributed import local_rows
from lrfr.engine.frozen import FrozenFeatures, super_resolve_all
from lrfr.engine.loop import Recipe, Validator, settings_for, train
from lrfr.engine.optim import build_optimizer, build_step_schedule, set_learning_rate
from lrfr.recipes.distill.config import DistillPipeline
from lrfr.recognition import frozen_recognizer

#: the step_generator streams of this recipe's draws (0: flips, as every recipe's)
SCALE_STREAM, HR_STREAM = 3, 4


def training_faces(cfg: DistillPipeline, progress: bool = True):
    """``data.root`` and every ``data.also`` source, decoded once and joined (identities kept apart)."""
    from lrfr.engine.training_set import build_training_set

    return build_training_set(cfg.data, tuple(cfg.data.hr_size), progress=progress)


def build_front_end(cfg: DistillPipeline, device: torch.device) -> tuple[nn.Module, bool]:
    """(the frozen front-end, whether it is learned). A generator must work at ``data.scales``' one scale."""
    from lrfr import sr
    from lrfr.weights import resolve

    if cfg.front_end.model == "bicubic":
        return sr.build("bicubic", scale=cfg.data.scales[0]), False
    model = sr.load(resolve(cfg.front_end.model), device=device)
    if list(cfg.data.scales) != [model.scale]:
        raise ConfigError(f"[front_end] model = {cfg.front_end.model!r} super-resolves ×{model.scale}; set "
                          f"data.scales = [{model.scale}] (got {list(cfg.data.scales)})")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval(), True


def build_student(cfg: DistillPipeline, teacher: nn.Module, device: torch.device) -> nn.Module:
    """A copy of the teacher, a recognizer file, or a new network of ``student.arch``, in train mode."""
    import copy

    from lrfr import recognition
    from lrfr.weights import resolve

    s = cfg.student
    if s.init == "teacher":
        student = copy.deepcopy(teacher)
    elif s.init:
        student = recognition.load(s.arch or None, weights=resolve(s.init), device=device)
    else:
        student = recognition.build(s.arch or teacher.arch, **s.kwargs)
    if tuple(student.input_size) != tuple(teacher.input_size):
        raise ConfigError(f"[student] takes {list(student.input_size)} faces, the teacher {list(teacher.input_size)}: "
                          "the student learns the teacher's embedding of the same face, so both take its size")
    if student.embedding_dim != teacher.embedding_dim:
        raise ConfigError(f"[student] embeds in {student.embedding_dim} dimensions, the teacher in "
                          f"{teacher.embedding_dim}: the embedding loss compares them")
    student.requires_grad_(True)
    return student.to(device).train()


class DistillRecipe(Recipe):
    """``data``: the training faces when the caller already holds them (else :func:`training_faces`)."""

    def __init__(self, cfg: DistillPipeline, progress: bool = True, *, data=None):
        dev = self.use_config(cfg)
        self.hr_size = tuple(cfg.data.hr_size)
        for s in cfg.data.scales:
            if self.hr_size[0] % s or self.hr_size[1] % s:
                raise ConfigError(f"data.scales: {s} does not divide data.hr_size {list(self.hr_size)}")
        self.teacher = frozen_recognizer(cfg.teacher.weights, dev, cfg.teacher.arch or None)
        if tuple(self.teacher.input_size) != self.hr_size:
            raise ConfigError(f"data.hr_size = {list(self.hr_size)}, but the teacher takes {list(self.teacher.input_size)}")
        self.front_end, learned = build_front_end(cfg, dev)
        self.data = data if data is not None else training_faces(cfg, progress)
        self.targets = FrozenFeatures.compute(self.teacher, self.data, hflip=cfg.augment.hflip, device=dev,
                                              workers=cfg.data.workers, progress=progress,
                                              cache_dir=cfg.data.cache_dir or None)
        self.sr_faces = None
        if learned and not _random(cfg.data.degrade):  # a frozen generator on fixed inputs: its faces, once
            self.sr_faces, _ = super_resolve_all(self.front_end, self.data, scale=cfg.data.scales[0],
                                                 degrade=cfg.data.degrade, workers=cfg.data.workers, progress=progress)
        torch.manual_seed(cfg.run.seed)
        self.student = build_student(cfg, self.teacher, dev)
        self.head = None
        params = list(self.student.parameters())
        if cfg.loss.softmax_weight > 0:
            from lrfr.recognition.margins import AngleLinear

            g = cfg.loss.margin
            n_classes = len(self.data.classes) if self.data.classes is not None else int(self.data.labels.max()) + 1
            self.head = AngleLinear(self.student.embedding_dim, n_classes, m=g.m, base=g.base, gamma=g.gamma,
                                    power=g.power, lambda_min=g.lambda_min).to(dev)
            params += list(self.head.parameters())
        o = cfg.optim
        self.opt = build_optimizer(params, type=o.type, lr=o.lr, momentum=o.momentum, betas=o.betas,
                                   weight_decay=o.weight_decay)
        self.sched = build_step_schedule(self.opt, o.milestones, o.lr_decay)
        self.batches = EpochBatches(len(self.data), o.batch_size, cfg.run.seed)

    # -- the engine's interface -------------------------------------------------------------------

    def parts(self) -> dict[str, Any]:
        parts: dict[str, Any] = {"student": self.student, "optimizer": self.opt, "scheduler": self.sched}
        if self.head is not None:
            parts["head"] = self.head
        return parts

    def watched_modules(self) -> dict[str, nn.Module]:
        return {"student": self.student, **({"head": self.head} if self.head is not None else {})}

    def eval_model(self) -> nn.Module:
        return self.student

    def log_values(self) -> dict[str, float]:
        out = {"lr": self.sched.get_last_lr()[0]}
        if self.head is not None:
            out["lambda"] = self.head.lambda_
        return out

    def apply_config_to_optimizers(self, changed: list[str]) -> None:
        o = self.cfg.optim
        set_learning_rate(self.opt, self.sched, o.lr, o.milestones, o.lr_decay)

    # -- one step ---------------------------------------------------------------------------------

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(student inputs, teacher targets, labels) of ``step``: this rank's rows, drawn from ``(seed, step)``."""
        from lrfr.data.degradations import degrade_batch, image_seed

        cfg, seed = self.cfg, self.cfg.run.seed
        idx = self.batches.indices(step)
        n, rows = len(idx), local_rows(len(idx))
        flip = flip_mask(n, step_generator(seed, step)) if cfg.augment.hflip else torch.zeros(n, dtype=torch.bool)
        scales = torch.as_tensor(cfg.data.scales)[torch.randint(len(cfg.data.scales), (n,),
                                                                generator=step_generator(seed, step, SCALE_STREAM))]
        at_hr = torch.rand(n, generator=step_generator(seed, step, HR_STREAM)) < cfg.loss.hr_fraction
        idx, flip, scales, at_hr = idx[rows], flip[rows], scales[rows], at_hr[rows]
        hr, labels = take(self.data, idx, cfg.data.workers)
        hr = apply_flip(hr, flip)
        inputs = hr.clone()
        if self.sr_faces is not None:
            low = ~at_hr
            inputs[low] = apply_flip(self.sr_faces[idx[low]].float().div_(255), flip[low])
        else:
            for s in scales.unique().tolist():
                pick = (scales == s) & ~at_hr
                if not bool(pick.any()):
                    continue
                where = pick.nonzero().flatten()
                lr = degrade_batch(hr[pick], s, cfg.data.degrade,
                                   seeds=[image_seed(seed, step, rows.start + int(i)) for i in where])
                with torch.no_grad():
                    front = self.front_end if s == self.front_end.scale else _bicubic(s)
                    inputs[pick] = front(lr.to(self.device)).float().clamp_(0, 1).cpu()
        return inputs.to(self.device), self.targets.lookup(idx, flip).to(self.device), labels.to(self.device)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        L = self.cfg.loss
        inputs, targets, labels = self.batch(step)
        emb = self.student.forward_trusted(inputs).float()
        s, t = F.normalize(emb, dim=1), F.normalize(targets.float(), dim=1)
        if L.embedding == "cosine":
            match = (1 - (s * t).sum(1)).mean()
        else:  # the squared distance of the normalised embeddings
            match = (s - t).pow(2).sum(1).mean()
        losses = {"embedding": L.embedding_weight * match}
        if self.head is not None:
            losses["softmax"] = L.softmax_weight * F.cross_entropy(self.head(emb, labels), labels)
        total = torch.stack(list(losses.values())).sum()
        losses["total"] = total
        if not torch.isfinite(total):
            return {k: v.detach() for k, v in losses.items()}  # the engine stops before any change
        self.opt.zero_grad(set_to_none=True)
        self.backward(total)
        self.step(self.opt)
        self.sched.step()
        return {k: v.detach() for k, v in losses.items()}


def _random(spec: str) -> bool:
    from lrfr.data.degradations import parse_degradation

    return parse_degradation(spec).random


def _bicubic(scale: int) -> nn.Module:
    from lrfr import sr

    return sr.build("bicubic", scale=scale)


def train_distill(cfg: DistillPipeline, validate: Validator | None = None, *, resume: bool = True,
                  progress: bool = True, stop_after: int | None = None, allow_changed: tuple[str, ...] = ()) -> dict:
    """Train per ``cfg`` on the engine; returns ``{"recipe", "step", "history", "out", ...}``."""
    recipe = DistillRecipe(cfg, progress=progress)
    result = train(recipe, settings_for(cfg, Path(cfg.run.out), "distill"), validate, resume=resume,
                   progress=progress, stop_after=stop_after, allow_changed=allow_changed)
    return {"recipe": recipe, **result}
