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
  :func:`lrfr.data.degrade.downsample` (bicubic with antialias; C-Face's chain), not the paper's
  random 96×96 ImageNet patches.
- ``identity_weight`` > 0 adds C-Face's super-identity loss L_SI (papers/004 eq. 4) under the same
  frozen recognizer; 0 in the SRGAN/SRResNet recipes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lrfr.train.sections import AugmentConfig, DataConfig, HeldOutConfig, RunConfig


@dataclass
class GeneratorConfig:
    arch: str = "srresnet"
    scale: int = 8
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
    pixel: str = "mse"  # "mse" (SRResNet), "l1", "charbonnier"
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.0
    perceptual_extractor: str = "recognizer"  # or "vgg19" (needs vgg_weights)
    perceptual_layer: str = ""  # "" = the extractor's default layer
    perceptual_criterion: str = "mse"
    vgg_weights: str = ""
    adversarial: str = "vanilla"  # "vanilla", "ragan", "wgan" (with gradient penalty)
    adversarial_weight: float = 1e-3
    gradient_penalty_weight: float = 10.0  # WGAN-GP only
    identity_weight: float = 0.0  # C-Face's L_SI (eq. 4)
    #: the frozen recognizer of the perceptual ("recognizer") and identity losses; "" = the packaged one
    recognizer_weights: str = ""
    #: prior-guided generators (prior_attention, papers/003; lrfr.train.prior_terms): L_c, the coarse SR's
    #: pixel loss (eq. 3.5) ...
    coarse_weight: float = 0.0
    #: ... and L_p, the parsing-prior loss (eq. 3.6) against true maps from ``parsing``: "auto" (SynthFaces'
    #: exact maps for [data] source = "synth", else "landmarks": masks from the aligned 5-point template),
    #: "synth", "landmarks"
    prior_weight: float = 0.0
    parsing: str = "auto"


@dataclass
class SRDataConfig(DataConfig):
    hr_size: list[int] = field(default_factory=lambda: [112, 96])
    degrade: str = "bicubic"  # or "bilinear_steps" (PFSR's chain), or a spec of lrfr.data.degradations


@dataclass
class SRValConfig(HeldOutConfig):
    #: the recognizer that scores SR faces during validation; "" = the packaged one
    recognizer_weights: str = ""
    grid_images: int = 6


@dataclass
class SROptimConfig:
    type: str = "adam"
    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.0
    weight_decay: float = 0.0
    d_lr: float = 1e-4
    batch_size: int = 16
    iterations: int = 100_000
    milestones: list[int] = field(default_factory=lambda: [50_000])
    lr_decay: float = 0.1
    #: exponential moving average of G's weights (0 = off); the EMA copy is what is validated and exported
    ema_decay: float = 0.0


@dataclass
class SRRunConfig(RunConfig):
    out: str = "runs/sr"


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
    optim: SROptimConfig = field(default_factory=SROptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: SRRunConfig = field(default_factory=SRRunConfig)
