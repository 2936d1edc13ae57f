"""The SR recipe (``kind = "sr"``): SRResNet (pixel loss) and SRGAN (perceptual + adversarial), on the engine.

One iteration (:meth:`SRRecipe.train_step`, BasicSR's ``optimize_parameters`` shape):

1. HR faces of step ``s`` (a pure function of ``(seed, s)``) → augmentation → LR by
   :func:`lrfr.data.resample.downsample` (on the fly, any scale);
2. G step: ``L_G = w_pix·L_pix + w_per·L_per + w_adv·L_adv^G + w_id·L_SI`` (SRGAN eq. 3 with
   lrfr's optional identity term; each term is a weighted loss module), D frozen;
3. D step (when a discriminator is configured): ``L_D`` of the configured GAN loss (+ WGAN-GP's
   gradient penalty), on G's output detached;
4. the EMA of G, when enabled.

What a resume needs (G, D, both optimizers and schedules, the EMA) is returned by :meth:`parts`;
exact resume, checkpoints, history and the NaN guard are the engine's.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lrfr.engine.batches import EpochBatches, draw_batch, step_generator
from lrfr.engine.distributed import local_rows
from lrfr.engine.training_set import build_training_set
from lrfr.engine.loop import Recipe, Validator, settings_for, train
from lrfr.engine.optim import build_optimizer, build_step_schedule, set_learning_rate
from lrfr.recognition import frozen_recognizer
from lrfr.recipes.sr.config import SRLossConfig, SRPipeline


class EMA(nn.Module):
    """An exponential moving average of a network's weights (a full copy; buffers are copied as they are)."""

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for mine, theirs in zip(self.model.parameters(), model.parameters()):
            mine.lerp_(theirs.detach(), 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)

    def train(self, mode: bool = True):  # the average is only ever evaluated
        return super().train(False)


class SRRecipe(Recipe):
    """``data``: the training set when the caller already holds it (else built from ``cfg.data``)."""

    def __init__(self, cfg: SRPipeline, progress: bool = True, *, data=None):
        from lrfr import sr as sr_models

        dev = self.use_config(cfg)
        self.hr_size = tuple(cfg.data.hr_size)
        s = cfg.model.scale
        if self.hr_size[0] % s or self.hr_size[1] % s:
            raise ValueError(f"[data] hr_size {self.hr_size} is not divisible by [model] scale = {s}")
        self.data = data if data is not None else build_training_set(cfg.data, self.hr_size, progress=progress)
        self.batches = EpochBatches(len(self.data), cfg.optim.batch_size, cfg.run.seed)
        torch.manual_seed(cfg.run.seed)  # initial weights follow the seed
        self.G = sr_models.build(cfg.model.arch, scale=s, **cfg.model.kwargs).to(dev)
        if cfg.model.init:
            self._init_generator(cfg.model.init)
        o = cfg.optim
        self.opt_g = build_optimizer(self.G.parameters(), type=o.type, lr=o.lr, momentum=o.momentum, betas=o.betas,
                                     weight_decay=o.weight_decay)
        self.sched_g = build_step_schedule(self.opt_g, o.milestones, o.lr_decay)
        self.D = None
        if cfg.discriminator.arch:
            self.D = sr_models.build_discriminator(cfg.discriminator.arch, **cfg.discriminator.kwargs).to(dev)
            self.opt_d = build_optimizer(self.D.parameters(), type=o.type, lr=o.d_lr, momentum=o.momentum,
                                         betas=o.betas, weight_decay=o.weight_decay)
            self.sched_d = build_step_schedule(self.opt_d, o.milestones, o.lr_decay)
        self.ema = EMA(self.G, o.ema_decay).to(dev) if o.ema_decay > 0 else None
        self._build_losses()
        from lrfr.recipes.sr.prior_terms import prior_terms_for

        self.priors = prior_terms_for(self)  # papers/003's L_c and L_p, for generators with a prior branch

    # -- construction -------------------------------------------------------------------------

    def _init_generator(self, path: str) -> None:
        from lrfr import sr as sr_models

        from lrfr.weights import resolve

        init = sr_models.load(resolve(path))
        want = (self.cfg.model.arch, self.cfg.model.scale, dict(self.cfg.model.kwargs))
        have = (init.arch, init.scale, {k: v for k, v in init.build_kwargs.items() if k != "scale"})
        if (want[0], want[1]) != (have[0], have[1]) or any(have[2].get(k) != v for k, v in want[2].items()):
            raise ValueError(f"[model] init = {path!r} holds {have[0]} ×{have[1]} {have[2]}, but the recipe builds "
                             f"{want[0]} ×{want[1]} {want[2]}")
        self.G.load_state_dict({k: v.to(self.G.state_dict()[k].dtype) for k, v in init.state_dict().items()})

    def _build_losses(self, L: SRLossConfig | None = None) -> None:
        """The loss modules of ``L`` (default ``cfg.loss``; a recipe on top may pass its own view of its config)."""
        from lrfr.losses import build_loss

        L = self.cfg.loss if L is None else L
        dev = self.device
        self.pixel = build_loss(L.pixel, weight=L.pixel_weight) if L.pixel_weight else None
        needs_recognizer = L.identity_weight > 0 or (L.perceptual_weight > 0 and L.perceptual_extractor == "recognizer")
        self.recognizer = frozen_recognizer(L.recognizer_weights, dev) if needs_recognizer else None
        if self.recognizer is not None and tuple(self.recognizer.input_size) != self.hr_size:
            raise ValueError(f"[data] hr_size = {list(self.hr_size)}, but the loss recognizer "
                             f"({L.recognizer_weights or 'packaged sphere20a'}) takes {list(self.recognizer.input_size)} "
                             "faces; use that HR size or set perceptual/identity weights to 0")
        self.perceptual = None
        if L.perceptual_weight > 0:
            from lrfr.losses.features import RecognizerFeatures, VGG19Features
            from lrfr.losses.perceptual import PerceptualLoss

            layer = L.perceptual_layer or None
            if L.perceptual_extractor == "recognizer":
                extractor = RecognizerFeatures(self.recognizer, layer=layer)
            elif L.perceptual_extractor == "vgg19":
                if not L.vgg_weights:
                    raise ValueError("[loss] perceptual_extractor = 'vgg19' needs vgg_weights = 'PATH' (a local "
                                     "torchvision VGG19 state dict: lrfr downloads nothing)")
                extractor = VGG19Features(layer=layer or "relu5_4", weights=L.vgg_weights)
            else:
                raise ValueError(f"[loss] perceptual_extractor must be 'recognizer' or 'vgg19'; got {L.perceptual_extractor!r}")
            self.perceptual = PerceptualLoss(extractor.to(dev), criterion=L.perceptual_criterion, weight=L.perceptual_weight)
        self.identity = None
        if L.identity_weight > 0:
            from lrfr.losses.identity import SuperIdentityLoss

            self.identity = SuperIdentityLoss(self.recognizer, weight=L.identity_weight)
        self.gan = None
        if self.D is not None:
            from lrfr.losses.adversarial import GANLoss

            self.gan = GANLoss(kind=L.adversarial, weight=L.adversarial_weight)
        if not any((self.pixel, self.perceptual, self.identity, self.gan)):
            raise ValueError("[loss] every weight is 0: the generator would not learn")

    # -- the engine's interface -----------------------------------------------------------------

    def parts(self) -> dict[str, Any]:
        parts: dict[str, Any] = {"generator": self.G, "optimizer_g": self.opt_g, "scheduler_g": self.sched_g}
        if self.D is not None:
            parts.update(discriminator=self.D, optimizer_d=self.opt_d, scheduler_d=self.sched_d)
        if self.ema is not None:
            parts["ema"] = self.ema
        return parts

    def watched_modules(self) -> dict[str, nn.Module]:
        mods = {"generator": self.G}
        if self.D is not None:
            mods["discriminator"] = self.D
        return mods

    def eval_model(self) -> nn.Module:
        return self.ema.model if self.ema is not None else self.G

    def log_values(self) -> dict[str, float]:
        out = {"lr_g": self.sched_g.get_last_lr()[0]}
        if self.D is not None:
            out["lr_d"] = self.sched_d.get_last_lr()[0]
        return out

    def apply_config_to_optimizers(self, changed: list[str]) -> None:
        o = self.cfg.optim
        set_learning_rate(self.opt_g, self.sched_g, o.lr, o.milestones, o.lr_decay)
        if self.D is not None:
            set_learning_rate(self.opt_d, self.sched_d, o.d_lr, o.milestones, o.lr_decay)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) of ``step``: HR drawn and augmented from ``(seed, step)``, LR degraded from it."""
        from lrfr.data.degradations import degrade_batch

        cfg = self.cfg
        hr, _ = draw_batch(self.data, self.batches, step, cfg.run.seed, cfg.augment.hflip, cfg.augment.crop_pad,
                           cfg.data.workers)
        hr = hr.to(self.device, non_blocking=True)
        first_row = local_rows(cfg.optim.batch_size).start  # seeds follow the row of the global batch
        return degrade_batch(hr, cfg.model.scale, cfg.data.degrade, key=(cfg.run.seed, step), first_row=first_row), hr

    def generator_losses(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted terms of G's objective at this step, each already times its weight; G descends their sum.

        SRGAN eq. 3, l^SR = content + 10^-3 · adversarial (the weights live in the loss modules). A recipe on top
        of this one (C-Face's eq. 7) adds its own terms here.
        """
        losses: dict[str, torch.Tensor] = {}
        if self.pixel is not None:
            losses["pixel"] = self.pixel(sr, hr)
        if self.perceptual is not None:
            losses["perceptual"] = self.perceptual(sr.clamp(0, 1), hr)
        if self.identity is not None:
            losses["identity"] = self.identity(sr.clamp(0, 1), hr)
        if self.D is not None:
            with torch.no_grad():
                real_logits = self.D(hr)
            losses["adversarial_g"] = self.gan.generator(real_logits, self.D(sr))
        return losses

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        lr, hr = self.batch(step)
        return self.gan_step(step, lr, hr)[0]

    def gan_step(self, step: int, lr: torch.Tensor, hr: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One G update on :meth:`generator_losses`, then one D update; returns (detached losses, G's output)."""
        # --- G, D frozen
        if self.D is not None:
            self.D.requires_grad_(False)
        outputs = self.G.forward_with_priors(lr) if self.priors is not None else None
        sr = self.G(lr) if outputs is None else outputs.sr
        losses = self.generator_losses(sr, hr)
        if self.priors is not None:
            losses.update(self.priors.losses(outputs, hr, step))  # L_content = L_c + L_p + L_f (papers/003 eq. 3.8)
        total = torch.stack(list(losses.values())).sum()
        losses["total_g"] = total
        if not torch.isfinite(total):
            return {k: v.detach() for k, v in losses.items()}, sr.detach()  # the engine stops before any change
        self.opt_g.zero_grad(set_to_none=True)
        self.backward(total)
        self.step(self.opt_g)
        self.sched_g.step()
        # --- D: the configured GAN loss on real HR vs G's output (detached)
        if self.D is not None:
            self.D.requires_grad_(True)
            fake = sr.detach()
            loss_d = self.gan.discriminator(self.D(hr), self.D(fake))
            if self.cfg.loss.adversarial == "wgan":
                from lrfr.losses.adversarial import gradient_penalty

                gp = gradient_penalty(self.D, hr, fake, weight=self.cfg.loss.gradient_penalty_weight,
                                      generator=step_generator(self.cfg.run.seed, step, stream=1))
                losses["gradient_penalty"] = gp
                loss_d = loss_d + gp
            losses["discriminator"] = loss_d
            if torch.isfinite(loss_d):
                self.opt_d.zero_grad(set_to_none=True)
                self.backward(loss_d)
                self.step(self.opt_d)
                self.sched_d.step()
        if self.ema is not None:
            self.ema.update(self.G)
        return {k: v.detach() for k, v in losses.items()}, sr.detach()


def train_sr(cfg: SRPipeline, validate: Validator | None = None, *, resume: bool = True, progress: bool = True,
             stop_after: int | None = None, allow_changed: tuple[str, ...] = (), after_validation=None) -> dict:
    """Train per ``cfg``; returns ``{"recipe", "step", "history", "out", ...}``.

    ``after_validation(step, metrics, out, model)``: what a validation also writes (the image grid).
    """
    recipe = SRRecipe(cfg, progress=progress)
    if after_validation is not None:
        recipe.after_validation = lambda step, metrics, out: after_validation(step, metrics, out, recipe.eval_model())
    result = train(recipe, settings_for(cfg, Path(cfg.run.out), "sr"), validate, resume=resume, progress=progress,
                   stop_after=stop_after, allow_changed=allow_changed)
    return {"recipe": recipe, **result}
