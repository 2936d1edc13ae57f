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

from lrfr.config import bounded, section
from lrfr.engine.sections import AugmentConfig, FaceSource, OptimConfig, RunConfig


@dataclass
class HeatmapModelConfig:
    width: int = bounded(8, ge=1)  # channels of the first U-Net level (≈ 64 k parameters at 8, ≈ 255 k at 16)


@dataclass
class LandmarkDataConfig(FaceSource):
    """``[data]``: "synth" (SynthFaces' exact landmarks) or "folder" (aligned identity folders labelled by
    MTCNN), decoded into RAM."""

    hr_size: list[int] = bounded(factory=lambda: [112, 96], ge=1)
    #: downsampling factors trained on, in turn (bilinear halving): 1 = 112×96, 2 = 56×48 (PFSR's steps 3 and 2)
    factors: list[int] = bounded(factory=lambda: [1, 2], ge=1)
    #: Gaussian σ of the target heatmaps as a fraction of √(H·W) (lrfr.priors.landmarks.render_heatmaps)
    sigma_fraction: float = bounded(0.03, gt=0)
    #: the squared error of a pixel is weighted 1 + foreground_weight · target (lrfr's: the five peaks
    #: cover ≈ 3 % of a face, so a plain MSE first learns to predict zeros everywhere)
    foreground_weight: float = bounded(10.0, ge=0)


@dataclass
class LandmarkValConfig(FaceSource):
    """``[val]``: held-out SynthFaces identities, "folder" (MTCNN-labelled, as [data]) or "none"."""

    source: str = bounded("synth", choices=("synth", "folder", "none"))
    every: int = bounded(300, ge=1)


#: lrfr's (see above): Adam 2e-3, ÷10 at step 750 of 900, batch 16
LANDMARK_OPTIM = dict(type="adam", lr=2e-3, batch_size=16, iterations=900, milestones=[750], lr_decay=0.1)


@dataclass
class LandmarksPipeline:
    kind: str = "landmarks"
    name: str = "landmarks"
    description: str = ""
    model: HeatmapModelConfig = field(default_factory=HeatmapModelConfig)
    data: LandmarkDataConfig = section(LandmarkDataConfig, n_identities=100, images_per_identity=10)
    val: LandmarkValConfig = section(LandmarkValConfig, n_identities=20, images_per_identity=5,
                                     identity_offset=100_000, seed=1)
    optim: OptimConfig = section(OptimConfig, **LANDMARK_OPTIM)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = section(RunConfig, out="runs/landmarks", weights_dtype="float16")
