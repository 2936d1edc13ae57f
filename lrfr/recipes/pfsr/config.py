"""PFSR's recipe config (``kind = "pfsr"``, ``pipelines/pfsr.toml``): the SR recipe's sections plus
per-step loss weights and the progressive schedule.

Values and where they come from (papers/002 = the paper; "released" = its authors' training code):

============================  ==========================  =========================================
value                         default                     source
============================  ==========================  =========================================
steps, iterations per step    3 × ×2; 50k, 50k, 100k      paper §4.1
fade-in α                     0 → 1 linearly over the     paper: linear; released: over the first
                              first half of each step     half (α = 2·i / step length)
optimizer                     Adam, lr 1e-3, batch 16     paper §4.1
Adam β                        (0, 0.99)                   released (ProGAN's)
pixel loss                    L1, weight 10 every step    released (the paper's eq. 2 is the MSE)
perceptual weight             1e-2, 1e-2, 1e-3            released (VGG16 features; lrfr's default
                                                          extractor is the packaged recognizer)
adversarial (WGAN) weight     1, 1, 0.1                   released
gradient penalty λ, drift     10, 1e-3                    released (λ = 10 is WGAN-GP's)
attention weight η            –, 500, 50                  released (eq. 1 at steps 2 and 3)
heatmap weight λ              –, 50, 50                   released (eq. 5 at steps 2 and 3)
heatmap network               lrfr's own (packaged)       reconstructed (:mod:`lrfr.priors.landmarks`)
HR faces, LR                  112×96, 14×12               lrfr (paper: 128×128, 16×16)
per-step targets              bilinear halving chain      paper §4 ("bilinearly downsampled")
============================  ==========================  =========================================

Weights are lists with one value per step (a 0 switches a term off at that step).
``progressive.step_iterations`` must sum to ``optim.iterations``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lrfr.config import bounded, section
from lrfr.engine.sections import RunConfig
from lrfr.recipes.sr.config import (GAN_LOSSES, PIXEL_LOSSES, EXTRACTORS, DiscriminatorConfig, GANOptimConfig,
                                    GeneratorConfig, SRDataConfig, SRPipeline)


#: the released code's widths (lrfr.sr.pfsr.PAPER_CHANNELS; repeated here so the config imports no torch)
PAPER_CHANNELS = (512, 256, 128, 64)


@dataclass
class PFSRLossConfig:
    pixel: str = bounded("l1", choices=PIXEL_LOSSES)  # released; "mse" is the paper's eq. 2
    pixel_weights: list[float] = bounded(factory=lambda: [10.0, 10.0, 10.0], ge=0)
    perceptual_weights: list[float] = bounded(factory=lambda: [1e-2, 1e-2, 1e-3], ge=0)
    perceptual_extractor: str = bounded("recognizer", choices=EXTRACTORS)  # "vgg19" needs vgg_weights
    perceptual_layer: str = ""
    perceptual_criterion: str = bounded("mse", choices=PIXEL_LOSSES)
    vgg_weights: str = ""
    #: the frozen recognizer of the perceptual loss ("" = the packaged one); steps 1-2 are resized to its input
    recognizer_weights: str = ""
    adversarial: str = bounded("wgan", choices=GAN_LOSSES)
    adversarial_weights: list[float] = bounded(factory=lambda: [1.0, 1.0, 0.1], ge=0)
    gradient_penalty_weight: float = bounded(10.0, ge=0)
    drift: float = bounded(1e-3, ge=0)
    attention_weights: list[float] = bounded(factory=lambda: [0.0, 500.0, 50.0], ge=0)
    heatmap_weights: list[float] = bounded(factory=lambda: [0.0, 50.0, 50.0], ge=0)
    #: min-max normalize both heatmaps (each by its own range) before eq. 5, as the released code does
    heatmap_normalize: bool = True
    #: the heatmap network (a "prior" model file); "" = the packaged lrfr/weights/landmarks_synth.pt
    landmark_weights: str = ""


@dataclass
class ProgressiveConfig:
    step_iterations: list[int] = bounded(factory=lambda: [50_000, 50_000, 100_000], ge=1)
    #: α rises linearly over this fraction of each step (released: 0.5)
    fade_fraction: float = bounded(0.5, ge=0, le=1)


def _paper_generator() -> GeneratorConfig:
    return GeneratorConfig(arch="pfsr", scale=8, kwargs={"channels": list(PAPER_CHANNELS), "blocks": 1})


def _paper_discriminator() -> DiscriminatorConfig:
    return DiscriminatorConfig(arch="pfsr", kwargs={"steps": 3, "channels": list(PAPER_CHANNELS), "dense": 2048})


#: the paper's Adam (lr 1e-3, batch 16, §4.1) with the released code's β = (0, 0.99), no decay, 200k iterations
PFSR_OPTIM = dict(type="adam", lr=1e-3, d_lr=1e-3, betas=[0.0, 0.99], batch_size=16, iterations=200_000,
                  milestones=[], lr_decay=0.1)


@dataclass
class PFSRPipeline(SRPipeline):
    kind: str = "pfsr"
    name: str = "pfsr"
    model: GeneratorConfig = field(default_factory=_paper_generator)
    discriminator: DiscriminatorConfig = field(default_factory=_paper_discriminator)
    loss: PFSRLossConfig = field(default_factory=PFSRLossConfig)
    data: SRDataConfig = section(SRDataConfig, degrade="bilinear_steps")
    optim: GANOptimConfig = section(GANOptimConfig, **PFSR_OPTIM)
    progressive: ProgressiveConfig = field(default_factory=ProgressiveConfig)
    run: RunConfig = section(RunConfig, out="runs/pfsr")
