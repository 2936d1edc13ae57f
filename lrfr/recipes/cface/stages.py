"""The pieces of C-Face's Algorithm 1 (papers/004 §3.4) that run on the engine, stage by stage.

* :class:`CFaceGANRecipe` — stages 1 and 4: N^SR and N^D descend eq. (7),
  ``L_total = α·L_GAN + β·L_P + L_CF``, on triplets (:mod:`lrfr.recipes.cface.triplets`). It is the SR
  recipe (:class:`~lrfr.recipes.sr.recipe.SRRecipe`: G, D, their optimizers and schedules, the optional
  EMA, the perceptual and adversarial losses, the D step) with the C-Face term added to G's
  objective. In stage 1 CNN^R is frozen and the HR-side features come from a cache computed once;
  in stage 4 they are recomputed every step, and CNN^R then takes one L_FR step
  (:class:`RecognizerUpdate`, eq. 3) after N^SR and N^D took theirs.
* :func:`super_resolve_all` (:mod:`lrfr.engine.frozen`) — stage 2: every training LR face through the stage-1 N^SR → D^SR
  (uint8 in RAM, as saved images would be).
* :class:`FaceUnion` — stage 3's training set D^HR ∪ D^SR (or D^SR alone for v2-1 / v2-2), which
  the recognizer recipe (:class:`~lrfr.recipes.recognizer.recipe.RecognizerRecipe`) fine-tunes CNN^R on.

Which values are the paper's and which are lrfr's is said in :mod:`lrfr.recipes.cface.config`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lrfr.engine.batches import apply_flip, take
from lrfr.engine.distributed import local_rows
from lrfr.engine.precision import Precision
from lrfr.engine.optim import build_optimizer, build_step_schedule, set_learning_rate
from lrfr.recipes.cface.config import ADDED_KEYS
from lrfr.recipes.sr.config import SRPipeline
from lrfr.recipes.sr.recipe import SRRecipe
from lrfr.engine.frozen import FrozenFeatures
from lrfr.recipes.cface.triplets import TripletSampler

__all__ = ["CFaceGANRecipe", "RecognizerUpdate", "FaceUnion"]


class RecognizerUpdate:
    """Stage 4's CNN^R update: one A-Softmax step (L_FR, eq. 3) on the step's faces.

    ``images``: which faces of the step it sees — ``"hr+sr"`` (HR_o and SR_o together, lrfr's default,
    mirroring stage 3's D^HR ∪ D^SR), ``"sr"`` or ``"hr"``. SGD at a constant learning rate (lrfr's choice;
    the paper gives no stage-4 recognizer optimizer). Between these steps the network is frozen
    (:meth:`freeze`) so that L_CF trains only N^SR.
    """

    def __init__(self, model: nn.Module, head: nn.Module, *, lr: float, momentum: float = 0.9,
                 weight_decay: float = 5e-4, images: str = "hr+sr"):
        self.model, self.head, self.images, self.base_lr = model, head, images, lr
        model.requires_grad_(True)
        self.opt = build_optimizer(list(model.parameters()) + list(head.parameters()), type="sgd", lr=lr,
                                   momentum=momentum, weight_decay=weight_decay)
        self.sched = build_step_schedule(self.opt, [], 1.0)

    def parts(self) -> dict[str, Any]:
        return {"recognizer": self.model, "head": self.head, "optimizer_r": self.opt, "scheduler_r": self.sched}

    def freeze(self) -> None:
        self.model.requires_grad_(False)
        self.model.eval()

    def step(self, hr: torch.Tensor, sr: torch.Tensor, labels: torch.Tensor, precision: Precision) -> torch.Tensor:
        if self.images == "hr+sr":
            images, labels = torch.cat([hr, sr]), torch.cat([labels, labels])
        else:
            images = sr if self.images == "sr" else hr
        self.model.requires_grad_(True)
        self.model.train()
        self.head.train()
        loss = F.cross_entropy(self.head(self.model.forward_trusted(images), labels), labels)  # L_FR, eq. (3)
        if torch.isfinite(loss):
            self.opt.zero_grad(set_to_none=True)
            precision.backward(loss)
            precision.step(self.opt)
            self.sched.step()
        return loss.detach()

    def set_learning_rate(self) -> None:
        set_learning_rate(self.opt, self.sched, self.base_lr, [], 1.0)


class CFaceGANRecipe(SRRecipe):
    """Stages 1 and 4 of Algorithm 1 on the engine (see the module docstring).

    Parameters
    ----------
    sr_cfg : the SR recipe's config for this stage (generator, its init, discriminator, α/β as the
        adversarial/perceptual weights, the optimizer and schedule, ``run.out`` = the stage's folder).
    data : the HR training faces (shared by all stages).
    sampler : the triplets of each step.
    cface : the C-Face loss (eq. 6/5) on CNN^R — frozen in stage 1, ``trainable`` in stage 4.
    config_text : what the stage's checkpoints are bound to (:func:`~lrfr.recipes.cface.config.stage_config_text`).
    cache : stage 1: CNN^R's features of every HR face (both flips). ``None``: recompute them each step.
    fr : stage 4: CNN^R's L_FR update, run after each G/D step.
    discriminator_init : a discriminator model file to start N^D from (stage 4: stage 1's).
    """

    def __init__(self, sr_cfg: SRPipeline, *, data, sampler: TripletSampler, cface, config_text: str,
                 steps_key: str, cache: FrozenFeatures | None = None, fr: RecognizerUpdate | None = None,
                 discriminator_init: str | Path = "", progress: bool = True):
        if cache is None and fr is None:
            raise ValueError("CFaceGANRecipe: give the HR feature cache (frozen CNN^R) or the CNN^R update")
        super().__init__(sr_cfg, progress=progress, data=data)
        if self.D is None:
            raise ValueError("C-Face trains N^SR and N^D (eq. 7): [discriminator] arch must name one")
        if discriminator_init:
            from lrfr import sr as sr_models

            self.D.load_state_dict(sr_models.load_discriminator(discriminator_init).state_dict())
        self.sampler, self.cface, self.cache, self.fr = sampler, cface.to(self.device), cache, fr
        self.config_text, self.steps_key, self.added_keys = config_text, steps_key, ADDED_KEYS
        self._targets: tuple[torch.Tensor, torch.Tensor] | None = None
        self._logged: dict[str, torch.Tensor] = {}

    # -- one step ---------------------------------------------------------------------------------

    def triplet_batch(self, step: int):
        """(LR_o, HR_o, features of HR_o, features of HR_c, labels) of ``step``, on the device."""
        from lrfr.data.degradations import degrade_batch

        cfg, dev = self.cfg, self.device
        t = self.sampler.draw(step)
        rows = local_rows(len(t.index))
        t = t.rows(rows)  # this rank's share of the global batch under torchrun
        hr, labels = take(self.data, t.index, cfg.data.workers)
        hr = apply_flip(hr, t.flip)
        hr = hr.to(dev)
        lr = degrade_batch(hr, cfg.model.scale, cfg.data.degrade, key=(cfg.run.seed, step), first_row=rows.start)
        if self.cache is not None:  # frozen CNN^R: features computed once
            f_hr, f_c = self.cache.lookup(t.index, t.flip), self.cache.lookup(t.compare, t.flip)
        else:  # CNN^R changes every step: its features of HR_o and HR_c too
            compare = apply_flip(take(self.data, t.compare, cfg.data.workers)[0], t.flip).to(dev)
            f_hr, f_c = self.cface.target_features(hr), self.cface.target_features(compare)
        return lr, hr, f_hr.to(dev), f_c.to(dev), labels.to(dev)

    def generator_losses(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = super().generator_losses(sr, hr)  # α·L_GAN, β·L_P (and lrfr's optional pixel term)
        f_hr, f_c = self._targets
        cf = self.cface.terms(sr.clamp(0, 1), hr_features=f_hr, compare_features=f_c)
        self._logged = {k: v for k, v in cf.items() if k != "cface"}
        # eq. (7): L_total = α·L_GAN + β·L_P + L_CF — the engine's G step descends the sum of these terms
        return {**terms, "cface": cf["cface"]}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        if self.fr is not None:
            self.fr.freeze()  # CNN^R in eval mode without gradients until its own step: L_CF trains N^SR only
        lr, hr, f_hr, f_c, labels = self.triplet_batch(step)
        self._targets = (f_hr, f_c)
        losses, sr = self.gan_step(step, lr, hr)
        losses.update(self._logged)
        if self.fr is not None and torch.isfinite(losses["total_g"]):
            losses["fr"] = self.fr.step(hr, sr.clamp(0, 1), labels, self.precision)  # Algorithm 1, stage 4: CNN^R with L_FR
        return losses

    # -- the engine's interface -------------------------------------------------------------------

    def parts(self) -> dict[str, Any]:
        parts = super().parts()
        if self.fr is not None:
            parts.update(self.fr.parts())
        return parts

    def watched_modules(self) -> dict[str, nn.Module]:
        mods = super().watched_modules()
        if self.fr is not None:
            mods.update(recognizer=self.fr.model, head=self.fr.head)
        return mods

    def log_values(self) -> dict[str, float]:
        out = super().log_values()
        if self.fr is not None:
            out["lr_r"] = self.fr.sched.get_last_lr()[0]
            if hasattr(self.fr.head, "lambda_"):  # A-Softmax's schedule
                out["lambda"] = self.fr.head.lambda_
        return out

    def apply_config_to_optimizers(self, changed: list[str]) -> None:
        super().apply_config_to_optimizers(changed)
        if self.fr is not None:
            self.fr.set_learning_rate()


class FaceUnion(torch.utils.data.Dataset):
    """Stage 3's training set: D^HR (the HR training faces, optional) followed by D^SR (uint8 ``(N, 3, H, W)``)."""

    def __init__(self, sr_images: torch.Tensor, labels: torch.Tensor, hr=None, classes=None, workers: int = 2):
        if sr_images.dtype != torch.uint8 or len(sr_images) != len(labels):
            raise ValueError("FaceUnion needs uint8 SR faces and one label per face")
        self.sr, self.hr, self.workers = sr_images, hr, workers
        self.n_hr = len(hr) if hr is not None else 0
        sr_labels = torch.as_tensor(labels, dtype=torch.long)
        self.labels = torch.cat([sr_labels, sr_labels]) if hr is not None else sr_labels
        self.classes = classes

    def __len__(self) -> int:
        return self.n_hr + len(self.sr)

    def __getitem__(self, i: int):
        images, labels = self.batch(torch.tensor([int(i)]))
        return images[0], int(labels[0])

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        indices = torch.as_tensor(indices, dtype=torch.long)
        out = torch.empty((len(indices), *self.sr.shape[1:]), dtype=torch.float32)
        from_hr = indices < self.n_hr
        if bool(from_hr.any()):
            out[from_hr] = take(self.hr, indices[from_hr], self.workers)[0]
        from_sr = ~from_hr
        out[from_sr] = self.sr[indices[from_sr] - self.n_hr].float().div_(255)
        return out, self.labels[indices]
