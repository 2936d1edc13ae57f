"""The distillation recipe's config (``kind = "distill"``: ``pipelines/distill_synth.toml``, ``distill_celeba.toml``).

A student recognizer learns to embed low-resolution faces — degraded, then brought back to the
recognizer's input size by a frozen front-end (bicubic, or a committed generator) — where a frozen
teacher embeds the same faces at HR. Every value here is lrfr's: the recipe follows the common
cross-resolution distillation pattern (a student initialised from an HR teacher, trained to match the
teacher's HR embedding from LR input; e.g. Lai and Lam's and RPCL's low-resolution recognizers), not any
one paper's numbers:

* loss: ``embedding_weight · (1 − cos(student(SR), teacher(HR)))`` (``embedding = "cosine"``) or the
  squared distance of the L2-normalised embeddings (``"l2"``, twice the cosine term), plus, when the
  faces carry identity labels and ``softmax_weight`` > 0, A-Softmax on the student's SR embeddings
  (SphereFace's margin; a new head);
* ``hr_fraction`` of each batch is shown to the student at HR instead (its target the same teacher
  embedding), so it stays a recognizer of HR faces as well (the cross setting's gallery is HR);
* student: a copy of the teacher (``init = "teacher"``), a recognizer file, or a new network
  (``init = ""``, ``arch`` and ``kwargs``); it must take the teacher's input size;
* SGD 0.01, momentum 0.9, weight decay 5e-4, batch 64, ÷10 late (a fine-tuning rate: the teacher's
  features are already good; 0.1 from a trained network is SphereFace's from-scratch rate).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lrfr.config import bounded, section
from lrfr.engine.sections import AugmentConfig, HeldOutConfig, OptimConfig, RunConfig
from lrfr.recipes.recognizer.config import MarginConfig
from lrfr.recipes.sr.config import SRDataConfig

EMBEDDING_LOSSES = ("cosine", "l2")


@dataclass
class TeacherConfig:
    """``[teacher]``: the frozen HR recognizer whose embeddings the student learns to reproduce."""

    weights: str = ""  # "" = the packaged SynthFaces sphere20a; "packaged:NAME" or a path
    arch: str = ""  # for weight files that do not record their architecture


@dataclass
class StudentConfig:
    """``[student]``: what learns."""

    #: "teacher" (a copy of the teacher's weights), "" (a new network: ``arch`` and ``kwargs``), or a recognizer file
    init: str = "teacher"
    arch: str = ""  # with init = "": the registered architecture ("" = the teacher's)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class FrontEndConfig:
    """``[front_end]``: the frozen LR → HR-size step in front of the student."""

    #: "bicubic", or an SR model file / "packaged:NAME" (its scale must be ``data.scales``' only value)
    model: str = "bicubic"


@dataclass
class DistillDataConfig(SRDataConfig):
    """``[data]``: the faces (identity labels used only by the A-Softmax term) and how they are degraded."""

    #: degradation factors; each training face draws one per step (mixed resolutions) — 8 = 112×96 → 14×12
    scales: list[int] = bounded(factory=lambda: [8], ge=1)


@dataclass
class DistillLossConfig:
    embedding: str = bounded("cosine", choices=EMBEDDING_LOSSES)
    embedding_weight: float = bounded(1.0, ge=0)
    #: A-Softmax on identity labels (0 = off: unlabelled faces work)
    softmax_weight: float = bounded(0.0, ge=0)
    margin: MarginConfig = field(default_factory=MarginConfig)
    #: the share of each batch shown at HR (its target the same teacher embedding)
    hr_fraction: float = bounded(0.0, ge=0, lt=1)


@dataclass
class DistillValConfig(HeldOutConfig):
    """``[val]``: held-out faces; reports the student's accuracy on front-end faces (both low and cross)."""

    scale: int = bounded(8, ge=1)


#: lrfr's fine-tuning optimizer (module docstring)
DISTILL_OPTIM = dict(type="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=64, iterations=2000,
                     milestones=[1600], lr_decay=0.1)


@dataclass
class DistillPipeline:
    kind: str = "distill"
    name: str = "distill"
    description: str = ""
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)
    loss: DistillLossConfig = field(default_factory=DistillLossConfig)
    data: DistillDataConfig = field(default_factory=DistillDataConfig)
    val: DistillValConfig = field(default_factory=DistillValConfig)
    optim: OptimConfig = section(OptimConfig, **DISTILL_OPTIM)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = section(RunConfig, out="runs/distill")
