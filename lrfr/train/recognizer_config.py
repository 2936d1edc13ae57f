"""The recognizer recipe's config (``pipelines/sphereface.toml``), as dataclasses.

Defaults are SphereFace's published recipe (Liu et al. 2017, trained on CASIA-WebFace):
SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 256, lr ÷10 at 16k and 24k iterations,
28k iterations, horizontal flip; A-Softmax m=4 with λ = max(5, 1000·(1+0.12·it)^−1).
The small random crop (``crop_pad``) and the SynthFaces data section are lrfr's choices.
"""
from __future__ import annotations

from dataclasses import dataclass, field


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
class DataConfig:
    #: "synth" (SynthFaces) or "folder" (any identity-per-folder tree: CASIA-WebFace, CelebA, LFW)
    source: str = "synth"
    root: str = ""
    n_identities: int = 500
    images_per_identity: int = 20
    identity_offset: int = 0
    seed: int = 0
    #: pre-decode the whole set into RAM as uint8 (right for small sets; off for CASIA scale)
    in_memory: bool = True
    workers: int = 2


@dataclass
class ValConfig:
    #: "synth" (held-out SynthFaces identities), "folder" (an identity-labelled folder) or "none"
    source: str = "synth"
    root: str = ""
    n_identities: int = 60
    images_per_identity: int = 10
    identity_offset: int = 100_000
    seed: int = 1
    n_folds: int = 10
    pairs_per_fold: int = 50
    every: int = 500
    scale: int = 8  # also report accuracy on bicubic LR→HR at this scale (0 = HR only)


@dataclass
class OptimConfig:
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256
    iterations: int = 28_000
    milestones: list[int] = field(default_factory=lambda: [16_000, 24_000])
    lr_decay: float = 0.1


@dataclass
class AugmentConfig:
    hflip: bool = True
    crop_pad: int = 0


@dataclass
class RunConfig:
    out: str = "runs/sphereface"
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 500
    log_every: int = 50
    threads: int = 0  # torch CPU threads (0 = torch's default)
    #: dtype of the exported recognizer.pt ("float32" or "float16": half the size, loads into fp32)
    weights_dtype: str = "float32"


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
