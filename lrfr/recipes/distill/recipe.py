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
from lrfr.data.degradations import parse_mix
from lrfr.recipes.distill.config import ADDED_KEYS, DistillPipeline
from lrfr.recognition import frozen_recognizer

#: the step_generator streams of this recipe's draws (0: flips, as every recipe's)
SCALE_STREAM, HR_STREAM, FAMILY_STREAM, SIZE_STREAM = 3, 4, 5, 6


def training_faces(cfg: DistillPipeline, progress: bool = True):
    """``data.root`` and every ``data.also`` source, decoded once and joined (identities kept apart; faces of
    an ``"unlabelled:PATH"`` source get label −1)."""
    from lrfr.engine.training_set import build_training_set

    return build_training_set(cfg.data, tuple(cfg.data.hr_size), progress=progress, needs_labels=False)


def check_lr_sizes(cfg: DistillPipeline) -> tuple[int, int] | None:
    """``data.lr_long_side`` as ``(lo, hi)`` (None when empty), or a ConfigError saying what is wrong."""
    sizes = list(cfg.data.lr_long_side)
    if not sizes:
        return None
    longest = max(cfg.data.hr_size)
    if len(sizes) != 2 or not 4 <= sizes[0] <= sizes[1] <= longest:
        raise ConfigError(f"data.lr_long_side = {sizes}: give [lo, hi] pixels on the face's long side, "
                          f"4 <= lo <= hi <= {longest} (the HR face is {cfg.data.hr_size[0]}x{cfg.data.hr_size[1]})")
    return sizes[0], sizes[1]


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

    added_keys = ADDED_KEYS

    def __init__(self, cfg: DistillPipeline, progress: bool = True, *, data=None):
        dev = self.use_config(cfg)
        self.hr_size = tuple(cfg.data.hr_size)
        for s in cfg.data.scales:
            if self.hr_size[0] % s or self.hr_size[1] % s:
                raise ConfigError(f"data.scales: {s} does not divide data.hr_size {list(self.hr_size)}")
        self.teacher = frozen_recognizer(cfg.teacher.weights, dev, cfg.teacher.arch or None)
        if tuple(self.teacher.input_size) != self.hr_size:
            raise ConfigError(f"data.hr_size = {list(self.hr_size)}, but the teacher takes {list(self.teacher.input_size)}")
        self.lr_long_side = check_lr_sizes(cfg)
        self.mix = parse_mix(cfg.data.mix, cfg.data.degrade)
        self.front_end, learned = build_front_end(cfg, dev)
        self.fit_front_end = fitted_front_end(self.front_end, learned)
        self.data = data if data is not None else training_faces(cfg, progress)
        labelled = torch.as_tensor(self.data.labels) >= 0
        if cfg.loss.softmax_weight > 0 and not bool(labelled.any()):
            raise ConfigError(f"loss.softmax_weight = {cfg.loss.softmax_weight:g} asks for a margin term, but no "
                              "training face has an identity label (every source is 'unlabelled:'): set it to 0")
        self.targets = FrozenFeatures.compute(self.teacher, self.data, hflip=cfg.augment.hflip, device=dev,
                                              workers=cfg.data.workers, progress=progress,
                                              cache_dir=cfg.data.cache_dir or None)
        self.sr_faces = None
        if learned and not self.mix.random:  # a frozen generator on fixed inputs: its faces, once
            self.sr_faces, _ = super_resolve_all(self.front_end, self.data, scale=cfg.data.scales[0],
                                                 degrade=cfg.data.degrade, workers=cfg.data.workers, progress=progress)
        torch.manual_seed(cfg.run.seed)
        self.student = build_student(cfg, self.teacher, dev)
        self.head = None
        params = list(self.student.parameters())
        if cfg.loss.softmax_weight > 0:
            labels = torch.as_tensor(self.data.labels)
            n_classes = len(self.data.classes) if self.data.classes is not None else int(labels.max()) + 1
            self.head = cfg.loss.margin.head(self.student.embedding_dim, n_classes).to(dev)
            if cfg.loss.head_init == "teacher":
                self.head.set_centres(class_centres(self.targets.lookup(torch.nonzero(labelled).flatten()),
                                                    labels[labelled], n_classes).to(dev))
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
        if hasattr(self.head, "lambda_"):  # A-Softmax's schedule
            out["lambda"] = self.head.lambda_
        return out

    def apply_config_to_optimizers(self, changed: list[str]) -> None:
        o = self.cfg.optim
        set_learning_rate(self.opt, self.sched, o.lr, o.milestones, o.lr_decay)

    # -- one step ---------------------------------------------------------------------------------

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(student inputs, teacher targets, labels) of ``step``: this rank's rows, drawn from ``(seed, step)``."""
        from lrfr.data.degradations import draw_lr_sizes, image_seed

        cfg, seed = self.cfg, self.cfg.run.seed
        idx = self.batches.indices(step)
        n, rows = len(idx), local_rows(len(idx))
        flip = flip_mask(n, step_generator(seed, step)) if cfg.augment.hflip else torch.zeros(n, dtype=torch.bool)
        scales = torch.as_tensor(cfg.data.scales)[torch.randint(len(cfg.data.scales), (n,),
                                                                generator=step_generator(seed, step, SCALE_STREAM))]
        at_hr = torch.rand(n, generator=step_generator(seed, step, HR_STREAM)) < cfg.loss.hr_fraction
        family = self.mix.draw(n, step_generator(seed, step, FAMILY_STREAM))
        sizes = (draw_lr_sizes(n, self.lr_long_side, self.hr_size, step_generator(seed, step, SIZE_STREAM))
                 if self.lr_long_side else None)
        idx, flip, scales, at_hr, family = idx[rows], flip[rows], scales[rows], at_hr[rows], family[rows]
        hr, labels = take(self.data, idx, cfg.data.workers)
        hr = apply_flip(hr, flip)
        inputs = hr.clone()
        seeds = [image_seed(seed, step, rows.start + i) for i in range(len(idx))]
        if self.sr_faces is not None:
            low = ~at_hr
            inputs[low] = apply_flip(self.sr_faces[idx[low]].float().div_(255), flip[low])
        elif sizes is not None:
            low = (~at_hr).nonzero().flatten().tolist()
            faces = [self.lr_face_at_size(hr[i:i + 1], int(family[i]), sizes[rows.start + i], seeds[i])[0] for i in low]
            if low:  # one front-end call for the batch: fitted face by face, then (a generator) batched
                inputs[low] = self.fit_front_end(faces, self.hr_size)
        else:
            for s in scales.unique().tolist():
                for f in family.unique().tolist():
                    pick = (scales == s) & (family == f) & ~at_hr
                    if bool(pick.any()):
                        inputs[pick] = self.lr_faces_at_scale(hr[pick], s, f, [seeds[i] for i in pick.nonzero().flatten()])
        return inputs.to(self.device), self.targets.lookup(idx, flip).to(self.device), labels.to(self.device)

    def lr_faces_at_scale(self, hr: torch.Tensor, scale: int, family: int, seeds: list[int]) -> torch.Tensor:
        """HR faces degraded at ``scale`` by mix family ``family`` and brought back by the front-end."""
        from lrfr.data.degradations import apply_degradation

        lr = apply_degradation(hr, scale, self.mix.specs[family], seeds)
        with torch.no_grad():
            front = self.front_end if scale == self.front_end.scale else _bicubic(scale)
            return front(lr.to(self.device)).float().clamp_(0, 1).cpu()

    def lr_face_at_size(self, hr: torch.Tensor, family: int, size: tuple[int, int], seed: int) -> torch.Tensor:
        """One HR face ``(1, 3, H, W)`` degraded to ``size`` by mix family ``family``: the LR face itself (the
        front-end brings it back, :attr:`fit_front_end`)."""
        from lrfr.data.degradations import apply_degradation

        return apply_degradation(hr, None, self.mix.specs[family], [seed], size=size)

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
        if self.head is not None:  # the margin term, on the faces with identity labels only
            known = labels >= 0
            margin = (F.cross_entropy(self.head(emb[known], labels[known]), labels[known]) if bool(known.any())
                      else emb.sum() * 0.0)
            losses["softmax"] = L.softmax_weight * margin
        total = torch.stack(list(losses.values())).sum()
        losses["total"] = total
        if not torch.isfinite(total):
            return {k: v.detach() for k, v in losses.items()}  # the engine stops before any change
        self.opt.zero_grad(set_to_none=True)
        self.backward(total)
        self.step(self.opt)
        self.sched.step()
        return {k: v.detach() for k, v in losses.items()}


def class_centres(features: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``(n_classes, D)``: the mean of each class's L2-normalised ``features`` (zero for a class without any)."""
    sums = torch.zeros(n_classes, features.shape[1], dtype=torch.float32)
    sums.index_add_(0, labels.long(), F.normalize(features.float(), dim=1))
    return sums / torch.bincount(labels.long(), minlength=n_classes).clamp_min(1)[:, None]


def fitted_front_end(front_end: nn.Module, learned: bool):
    """The native-LR rule of :class:`lrfr.probe.FrontEnd` around the recipe's front-end, for LR faces of any size:
    bicubic fits each face to the HR size (:func:`lrfr.data.resample.fit_to_size`); a generator gets each face
    fitted to what it takes (HR size / its scale) first — what ``lrfr index search`` and the robustness grid do
    with a probe of another size, so training and deployment see the same pixels."""
    from lrfr.probe import FrontEnd

    return FrontEnd.resolve(front_end if learned else "bicubic")


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
