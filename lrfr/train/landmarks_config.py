"""The landmark-heatmap recipe's config (``kind = "landmarks"``, ``pipelines/landmarks.toml``).

PFSR (papers/002 §4.1) trains its distilled FAN with Adam, learning rate 1e-4, batch 16, 100k
iterations, on heatmaps of the teacher FAN. lrfr's recipe regresses Gaussian heatmaps of exact
landmarks instead (SynthFaces' rendered points; see :mod:`lrfr.priors.landmarks`), with a higher
learning rate (2e-3, ÷10 late) and 900 iterations, so it trains on a CPU in minutes;
every value is a config value. ``source = "folder"`` trains (and validates) on aligned real faces
labelled by MTCNN's five points instead (a teacher, as FAN is PFSR's); identities are chosen by
``identity_offset`` and ``n_identities`` in the folder's class order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lrfr.train.sections import AugmentConfig, RunConfig


@dataclass
class HeatmapModelConfig:
    width: int = 8  # channels of the first U-Net level (≈ 64 k parameters at 8, ≈ 255 k at 16)


@dataclass
class LandmarkDataConfig:
    #: "synth" (SynthFaces' exact landmarks) or "folder" (aligned identity folders labelled by MTCNN)
    source: str = "synth"
    root: str = ""
    n_identities: int = 100
    images_per_identity: int = 10
    identity_offset: int = 0
    seed: int = 0
    hr_size: list[int] = field(default_factory=lambda: [112, 96])
    #: downsampling factors trained on, in turn (bilinear halving): 1 = 112×96, 2 = 56×48 (PFSR's steps 3 and 2)
    factors: list[int] = field(default_factory=lambda: [1, 2])
    #: Gaussian σ of the target heatmaps as a fraction of √(H·W) (lrfr.priors.landmarks.render_heatmaps)
    sigma_fraction: float = 0.03
    #: the squared error of a pixel is weighted 1 + foreground_weight · target (lrfr's: the five peaks
    #: cover ≈ 3 % of a face, so a plain MSE first learns to predict zeros everywhere)
    foreground_weight: float = 10.0


@dataclass
class LandmarkValConfig:
    source: str = "synth"  # held-out SynthFaces identities, "folder" (MTCNN-labelled, as [data]) or "none"
    root: str = ""
    n_identities: int = 20
    images_per_identity: int = 5
    identity_offset: int = 100_000
    seed: int = 1
    every: int = 300


@dataclass
class LandmarkOptimConfig:
    type: str = "adam"
    lr: float = 2e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 16
    iterations: int = 900
    milestones: list[int] = field(default_factory=lambda: [750])
    lr_decay: float = 0.1


@dataclass
class LandmarkRunConfig(RunConfig):
    out: str = "runs/landmarks"
    weights_dtype: str = "float16"


@dataclass
class LandmarksPipeline:
    kind: str = "landmarks"
    name: str = "landmarks"
    description: str = ""
    model: HeatmapModelConfig = field(default_factory=HeatmapModelConfig)
    data: LandmarkDataConfig = field(default_factory=LandmarkDataConfig)
    val: LandmarkValConfig = field(default_factory=LandmarkValConfig)
    optim: LandmarkOptimConfig = field(default_factory=LandmarkOptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: LandmarkRunConfig = field(default_factory=LandmarkRunConfig)
