"""The SR recipe's config (``kind = "sr"``: ``pipelines/srresnet.toml``, ``pipelines/srgan.toml``).

Defaults are SRGAN's published recipe (Ledig et al. 2017, §3.2 / §4): SRResNet with 16 residual
blocks of 64 channels; Adam β = (0.9, 0.999), learning rate 1e-4, batch 16; SRResNet trained on
the pixel MSE; SRGAN initialised from it, trained on a perceptual (VGG φ5,4) loss plus 10⁻³ ×
the adversarial loss, with alternating D/G updates and the learning rate ÷10 half-way.

lrfr's choices, said here so numbers can be reproduced:
- The perceptual extractor defaults to ``"recognizer"`` (intermediate features of a frozen lrfr
  recognizer, the packaged SynthFaces sphere20a unless ``recognizer_weights`` names another):
  ImageNet VGG weights cannot be fetched at run time. ``perceptual_extractor = "vgg19"`` with
  ``vgg_weights = "PATH"`` is the paper's loss.
- Faces are 112×96 HR crops (SphereFace's template) degraded on the fly by
  :func:`lrfr.data.resample.downsample` (bicubic with antialias; C-Face's chain), not the paper's
  random 96×96 ImageNet patches.
- ``identity_weight`` > 0 adds C-Face's super-identity loss L_SI (papers/004 eq. 4) under the same
  frozen recognizer; 0 in the SRGAN/SRResNet recipes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lrfr.config import bounded, section
from lrfr.engine.sections import AugmentConfig, DataConfig, HeldOutConfig, OptimConfig, RunConfig

#: the pixel losses and GAN kinds of the loss library, and its feature extractors: read from it, defined once
from lrfr.losses import EXTRACTOR_REGISTRY, GAN_KINDS as GAN_LOSSES, PIXEL_LOSSES  # noqa: E402

EXTRACTORS = tuple(EXTRACTOR_REGISTRY.names())


def degradation_spec(text: str) -> None:
    """Raise ``ValueError`` naming what is wrong with a degradation spec (checked when a pipeline is read)."""
    from lrfr.data.degradations import parse_degradation

    parse_degradation(text)


@dataclass
class GeneratorConfig:
    arch: str = "srresnet"
    scale: int = bounded(8, ge=1)
    #: build kwargs of the registered architecture (checked by its factory: an unknown one is an error)
    kwargs: dict[str, Any] = field(default_factory=lambda: {"channels": 64, "blocks": 16})
    #: a generator model file to start from (SRGAN starts from an SRResNet run); "" = random init
    init: str = ""


@dataclass
class DiscriminatorConfig:
    #: registered discriminator ("srgan"); "" = no adversarial training (SRResNet)
    arch: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class SRLossConfig:
    pixel: str = bounded("mse", choices=PIXEL_LOSSES)  # "mse" (SRResNet), "l1", "charbonnier"
    pixel_weight: float = bounded(1.0, ge=0)
    perceptual_weight: float = bounded(0.0, ge=0)
    perceptual_extractor: str = bounded("recognizer", choices=EXTRACTORS)  # "vgg19" needs vgg_weights
    perceptual_layer: str = ""  # "" = the extractor's default layer
    perceptual_criterion: str = bounded("mse", choices=PIXEL_LOSSES)
    vgg_weights: str = ""
    adversarial: str = bounded("vanilla", choices=GAN_LOSSES)  # "wgan": with gradient penalty
    adversarial_weight: float = bounded(1e-3, ge=0)
    gradient_penalty_weight: float = bounded(10.0, ge=0)  # WGAN-GP only
    identity_weight: float = bounded(0.0, ge=0)  # C-Face's L_SI (eq. 4)
    #: the frozen recognizer of the perceptual ("recognizer") and identity losses; "" = the packaged one
    recognizer_weights: str = ""
    #: prior-guided generators (prior_attention, papers/003; lrfr.recipes.sr.prior_terms): L_c, the coarse SR's
    #: pixel loss (eq. 3.5) ...
    coarse_weight: float = bounded(0.0, ge=0)
    #: ... and L_p, the parsing-prior loss (eq. 3.6) against true maps from ``parsing``: "auto" (SynthFaces'
    #: exact maps for [data] source = "synth", else "landmarks": masks from the aligned 5-point template),
    #: "synth", "landmarks"
    prior_weight: float = bounded(0.0, ge=0)
    parsing: str = bounded("auto", choices=("auto", "synth", "landmarks"))


@dataclass
class SRDataConfig(DataConfig):
    hr_size: list[int] = bounded(factory=lambda: [112, 96], ge=1)
    #: "bicubic", "bilinear_steps" (PFSR's chain), or a spec of lrfr.data.degradations
    degrade: str = bounded("bicubic", check=degradation_spec)


@dataclass
class SRValConfig(HeldOutConfig):
    #: the recognizer that scores SR faces during validation; "" = the packaged one
    recognizer_weights: str = ""
    grid_images: int = bounded(6, ge=1)


@dataclass
class GANOptimConfig(OptimConfig):
    """``[optim]`` of a recipe that trains a discriminator beside its generator."""

    #: the discriminator's learning rate (same optimizer type, betas, schedule)
    d_lr: float = bounded(1e-4, gt=0)
    #: exponential moving average of G's weights (0 = off); the EMA copy is what is validated and exported
    ema_decay: float = bounded(0.0, ge=0, lt=1)


#: SRGAN's optimizer (Ledig et al. 2017): Adam, 1e-4, batch 16, ÷10 half-way through 10^5 steps
SRGAN_OPTIM = dict(type="adam", lr=1e-4, d_lr=1e-4, betas=[0.9, 0.999], batch_size=16, iterations=100_000,
                   milestones=[50_000], lr_decay=0.1)


@dataclass
class SRPipeline:
    kind: str = "sr"
    name: str = "srresnet"
    description: str = ""
    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: SRLossConfig = field(default_factory=SRLossConfig)
    data: SRDataConfig = field(default_factory=SRDataConfig)
    val: SRValConfig = field(default_factory=SRValConfig)
    optim: GANOptimConfig = section(GANOptimConfig, **SRGAN_OPTIM)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = section(RunConfig, out="runs/sr")
