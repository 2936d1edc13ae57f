"""The recognizer recipe's config (``pipelines/sphereface.toml``), as dataclasses.

Defaults are SphereFace's published recipe (Liu et al. 2017, trained on CASIA-WebFace):
SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 256, lr ÷10 at 16k and 24k iterations,
28k iterations, horizontal flip; A-Softmax m=4 with λ = max(5, 1000·(1+0.12·it)^−1).
The small random crop (``crop_pad``) and the SynthFaces data section are lrfr's choices.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lrfr.train.sections import AugmentConfig, DataConfig, HeldOutConfig, RunConfig


@dataclass
class ModelConfig:
    arch: str = "sphere20a"
    width: float = 1.0  # channel multiplier (lrfr's addition; 1.0 = the paper's network)
    embedding_dim: int = 512
    input_size: list[int] = field(default_factory=lambda: [112, 96])


@dataclass
class MarginConfig:
    m: int = 4
    base: float = 1000.0
    gamma: float = 0.12
    power: float = 1.0
    lambda_min: float = 5.0


@dataclass
class ValConfig(HeldOutConfig):
    scale: int = 8  # also report accuracy on bicubic LR→HR at this scale (0 = HR only)


@dataclass
class OptimConfig:
    type: str = "sgd"  # "sgd" (the paper's), "adam", "adamw"
    lr: float = 0.1
    momentum: float = 0.9
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # Adam only
    weight_decay: float = 5e-4
    batch_size: int = 256
    iterations: int = 28_000
    milestones: list[int] = field(default_factory=lambda: [16_000, 24_000])
    lr_decay: float = 0.1


@dataclass
class RecognizerPipeline:
    kind: str = "recognizer"
    name: str = "sphereface"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    margin: MarginConfig = field(default_factory=MarginConfig)
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = field(default_factory=RunConfig)
