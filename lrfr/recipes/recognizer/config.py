"""The recognizer recipe's config (``kind = "recognizer"``: ``pipelines/sphereface.toml``), as dataclasses.

Defaults are SphereFace's published recipe (Liu et al. 2017, trained on CASIA-WebFace):
SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 256, lr ÷10 at 16k and 24k iterations,
28k iterations, horizontal flip; A-Softmax m=4 with λ = max(5, 1000·(1+0.12·it)^−1).
The small random crop (``crop_pad``) and the SynthFaces data section are lrfr's choices.
The shared sections (``[data]``, ``[optim]``, ``[augment]``, ``[run]``) are :mod:`lrfr.engine.sections`'.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lrfr.config import bounded, section
from lrfr.engine.sections import AugmentConfig, DataConfig, HeldOutConfig, OptimConfig, RunConfig
from lrfr.recognition.margins import HEADS, build_head


@dataclass
class ModelConfig:
    arch: str = "sphere20a"
    width: float = bounded(1.0, gt=0)  # channel multiplier (lrfr's addition; 1.0 = the paper's network)
    embedding_dim: int = bounded(512, ge=1)
    input_size: list[int] = bounded(factory=lambda: [112, 96], ge=1)


@dataclass
class MarginConfig:
    """The margin head (:func:`lrfr.recognition.margins.build_head`): ``type = "asoftmax"`` — A-Softmax's
    margin m and the λ annealing of SphereFace's released code — or ``"combined"`` — ``s · (cos(m1 θ + m2) − m3)``
    (SphereFace m1, ArcFace m2, CosFace m3; defaults ArcFace's published s = 64, m2 = 0.5)."""

    type: str = bounded("asoftmax", choices=HEADS)
    m: int = bounded(4, ge=1, le=4)
    base: float = bounded(1000.0, ge=0)
    gamma: float = bounded(0.12, ge=0)
    power: float = bounded(1.0, ge=0)
    lambda_min: float = bounded(5.0, ge=0)
    s: float = bounded(64.0, gt=0)
    m1: float = bounded(1.0, ge=1)
    m2: float = bounded(0.5, ge=0, lt=3.14159)
    m3: float = bounded(0.0, ge=0)

    def head(self, in_features: int, out_features: int):
        """This section's head for ``out_features`` classes."""
        kw = {k: getattr(self, k) for k in ("m", "base", "gamma", "power", "lambda_min", "s", "m1", "m2", "m3")}
        return build_head(self.type, in_features, out_features, **kw)


#: the [margin] keys added with the combined head, at the values every older config trained with (A-Softmax)
MARGIN_ADDED_KEYS = {"type": "asoftmax", "s": 64.0, "m1": 1.0, "m2": 0.5, "m3": 0.0}


@dataclass
class ValConfig(HeldOutConfig):
    scale: int = bounded(8, ge=0)  # also report accuracy on bicubic LR→HR at this scale (0 = HR only)


#: SphereFace's optimizer (the paper's numbers)
SPHEREFACE_OPTIM = dict(type="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=256, iterations=28_000,
                        milestones=[16_000, 24_000], lr_decay=0.1)


@dataclass
class RecognizerPipeline:
    kind: str = "recognizer"
    name: str = "sphereface"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    margin: MarginConfig = field(default_factory=MarginConfig)
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    optim: OptimConfig = section(OptimConfig, **SPHEREFACE_OPTIM)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = section(RunConfig, out="runs/sphereface")
