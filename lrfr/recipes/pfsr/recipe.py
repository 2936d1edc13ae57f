"""PFSR's progressive recipe (``kind = "pfsr"``, papers/002), on the engine and the SR recipe's pieces.

The run is one sequence of ``optim.iterations`` iterations split into the steps of
``progressive.step_iterations``. Iteration ``i`` (:meth:`PFSRRecipe.train_step`):

1. its step ``s`` and fade-in weight α (:func:`fade_in_schedule`), written into the generator's,
   the discriminator's and the EMA's buffers (so a checkpoint or a model file carries them);
2. HR faces of ``i`` (a pure function of ``(seed, i)``, as in :class:`~lrfr.recipes.sr.recipe.SRRecipe`),
   the LR input degraded from them by ``data.degrade`` (PFSR: bilinear halvings), and the step's
   target, the HR face halved ``S − s`` times (paper §4: 128 → 64 → 32 bilinearly; here
   112×96 → 56×48 → 28×24);
3. one G update on eq. (6) with the step's weights — pixel + perceptual + WGAN at step 1, plus the
   heatmap loss (eq. 5) and the facial attention loss (eq. 1) from step 2 — then one critic update
   (WGAN-GP with the drift term), then the EMA; the SR recipe's :meth:`~lrfr.recipes.sr.recipe.SRRecipe.gan_step`.

lrfr's choices: the critic scores G's output of the same iteration (detached), where the released
code runs G a second time after its update; the perceptual loss of steps 1–2 resizes both images
bilinearly to the recognizer's input when the extractor is the (fixed-size) recognizer; validation
before the last step sees the current output bicubic-upsampled to the final size
(:class:`FinalSize`), so its rows stay comparable; the exported generator is the final-step one.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lrfr.config import ConfigError, dump_toml
from lrfr.engine.loop import Validator, settings_for, train
from lrfr.recipes.pfsr.config import PFSRPipeline
from lrfr.recipes.sr.config import SRLossConfig
from lrfr.recipes.sr.recipe import SRRecipe


def fade_in_schedule(iteration: int, step_iterations: list[int], fade_fraction: float = 0.5) -> tuple[int, float]:
    """``(step, α)`` of a 0-based ``iteration``: step ``k`` (1-based) covers its ``step_iterations[k−1]``
    iterations; within steps 2… α = ``j / (fade_fraction · length)`` at the step's ``j``-th iteration,
    capped at 1 (released code: α = 2j / length). Step 1 has nothing to fade from: α = 1."""
    start = 0
    for k, length in enumerate(step_iterations, 1):
        if iteration < start + length or k == len(step_iterations):
            fade = fade_fraction * length
            if k == 1 or fade <= 0:
                return k, 1.0
            return k, min(1.0, (iteration - start) / fade)
        start += length
    raise ValueError("fade_in_schedule: step_iterations is empty")


class FinalSize(nn.Module):
    """A generator's output brought to its final scale (bicubic) when it is at an earlier step."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator
        self.train(generator.training)  # a validator restores this mode afterwards

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        out = self.generator(lr)
        size = (lr.shape[-2] * self.generator.scale, lr.shape[-1] * self.generator.scale)
        if tuple(out.shape[-2:]) != size:
            out = F.interpolate(out, size=size, mode="bicubic", align_corners=False)
        return out


def _check(cfg: PFSRPipeline, steps: int) -> None:
    L, P = cfg.loss, cfg.progressive
    problems = []
    if len(P.step_iterations) != steps or any(n < 1 for n in P.step_iterations):
        problems.append(f"progressive.step_iterations must hold {steps} positive counts (one per ×2 step of "
                        f"scale {cfg.model.scale}); got {P.step_iterations}")
    elif sum(P.step_iterations) != cfg.optim.iterations:
        problems.append(f"progressive.step_iterations {P.step_iterations} sum to {sum(P.step_iterations)}, "
                        f"but optim.iterations = {cfg.optim.iterations}")
    if not 0.0 <= P.fade_fraction <= 1.0:
        problems.append(f"progressive.fade_fraction must be in [0, 1]; got {P.fade_fraction}")
    for key in ("pixel_weights", "perceptual_weights", "adversarial_weights", "attention_weights", "heatmap_weights"):
        values = getattr(L, key)
        if len(values) != steps or any(v < 0 for v in values):
            problems.append(f"loss.{key} must hold {steps} non-negative weights (one per step); got {values}")
    if problems:
        raise ConfigError("; ".join(problems))


class PFSRRecipe(SRRecipe):
    """The SR recipe grown step by step; see the module docstring."""

    def __init__(self, cfg: PFSRPipeline, progress: bool = True, *, data=None):
        from lrfr.sr.blocks import log2_scale

        if cfg.model.arch != "pfsr" or cfg.discriminator.arch != "pfsr":
            raise ConfigError(f"kind = 'pfsr' trains model.arch = 'pfsr' with discriminator.arch = 'pfsr'; got "
                              f"{cfg.model.arch!r} and {cfg.discriminator.arch!r}")
        self.steps = log2_scale(cfg.model.scale)
        _check(cfg, self.steps)
        super().__init__(cfg, progress, data=data)
        if self.D.steps != self.steps:
            raise ConfigError(f"discriminator.kwargs.steps = {self.D.steps}, but scale {cfg.model.scale} has "
                              f"{self.steps} steps")
        self.config_text = dump_toml(dataclasses.asdict(cfg))
        self.stage, self.alpha = self.steps, 1.0

    def _build_losses(self, L=None) -> None:
        from lrfr.losses.adversarial import GANLoss
        from lrfr.losses.landmark import FacialAttentionLoss, HeatmapLoss

        P = self.cfg.loss
        # the SR recipe's modules at unit weight for every term some step uses; train_step sets the step's weights
        view = SRLossConfig(
            pixel=P.pixel, pixel_weight=float(any(P.pixel_weights)), perceptual_weight=float(any(P.perceptual_weights)),
            perceptual_extractor=P.perceptual_extractor, perceptual_layer=P.perceptual_layer,
            perceptual_criterion=P.perceptual_criterion, vgg_weights=P.vgg_weights, adversarial=P.adversarial,
            adversarial_weight=1.0, gradient_penalty_weight=P.gradient_penalty_weight, identity_weight=0.0,
            recognizer_weights=P.recognizer_weights)
        super()._build_losses(view)
        self.gan = GANLoss(kind=P.adversarial, weight=1.0, drift=P.drift if P.adversarial == "wgan" else 0.0)
        self.attention = FacialAttentionLoss(weight=1.0)
        self.heatmap = HeatmapLoss(normalize=P.heatmap_normalize, weight=1.0)
        self.landmarks = None
        if any(P.attention_weights) or any(P.heatmap_weights):
            from lrfr.priors.landmarks import load_heatmap_net

            self.landmarks = load_heatmap_net(P.landmark_weights or None, device=self.device)

    # -- the progressive schedule -----------------------------------------------------------------

    def set_progress(self, step: int, alpha: float) -> None:
        self.stage, self.alpha = step, alpha
        for net in (self.G, self.D, self.ema.model if self.ema is not None else None):
            if net is not None:
                net.set_progress(step, alpha)
        L, k = self.cfg.loss, step - 1
        for module, weights in ((self.pixel, L.pixel_weights), (self.perceptual, L.perceptual_weights),
                                (self.gan, L.adversarial_weights), (self.attention, L.attention_weights),
                                (self.heatmap, L.heatmap_weights)):
            if module is not None:
                module.weight = float(weights[k])

    def log_values(self) -> dict[str, float]:
        return {**super().log_values(), "pfsr_step": self.stage, "alpha": self.alpha}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        from lrfr.data.resample import downsample

        self.set_progress(*fade_in_schedule(step, self.cfg.progressive.step_iterations,
                                            self.cfg.progressive.fade_fraction))
        lr, hr = self.batch(step)
        factor = 2 ** (self.steps - self.stage)
        target = hr if factor == 1 else downsample(hr, factor, method="bilinear_steps")
        return self.gan_step(step, lr, target)[0]

    def _perceptual_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.recognizer is not None and tuple(x.shape[-2:]) != self.hr_size:
            return F.interpolate(x, size=self.hr_size, mode="bilinear", align_corners=False)
        return x

    def generator_losses(self, sr: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted terms of eq. (6) at the current step (terms of weight 0 are skipped)."""
        losses: dict[str, torch.Tensor] = {}
        if self.pixel is not None and self.pixel.weight:
            losses["pixel"] = self.pixel(sr, target)
        if self.perceptual is not None and self.perceptual.weight:
            losses["perceptual"] = self.perceptual(self._perceptual_input(sr.clamp(0, 1)),
                                                   self._perceptual_input(target))
        if self.gan.weight:
            losses["adversarial_g"] = self.gan.generator(None, self.D(sr))
        if self.landmarks is not None and (self.attention.weight or self.heatmap.weight):
            with torch.no_grad():
                target_heat = self.landmarks(target)
            if self.attention.weight:
                losses["attention"] = self.attention(sr, target, target_heat)  # eq. (1)
            if self.heatmap.weight:
                losses["heatmap"] = self.heatmap(self.landmarks(sr), target_heat)  # eq. (5)
        return losses


def train_pfsr(cfg: PFSRPipeline, validate: Validator | None = None, *, resume: bool = True, progress: bool = True,
               stop_after: int | None = None, allow_changed: tuple[str, ...] = (), after_validation=None) -> dict:
    """Train per ``cfg``; returns ``{"recipe", "step", "history", "out", ...}`` (as :func:`.sr_gan.train_sr`).

    ``validate`` and ``after_validation(step, metrics, out, model)`` see the generator at the final size.
    """
    recipe = PFSRRecipe(cfg, progress=progress)
    checked = (lambda model: validate(FinalSize(model))) if validate is not None else None
    if after_validation is not None:
        recipe.after_validation = lambda step, metrics, out: after_validation(step, metrics, out,
                                                                              FinalSize(recipe.eval_model()))
    result = train(recipe, settings_for(cfg, Path(cfg.run.out), "pfsr"), checked, resume=resume, progress=progress,
                   stop_after=stop_after, allow_changed=allow_changed)
    return {"recipe": recipe, **result}
