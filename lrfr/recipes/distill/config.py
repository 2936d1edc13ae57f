"""The distillation recipe's config (``kind = "distill"``: ``pipelines/distill_synth.toml``, ``distill_celeba.toml``).

A student recognizer learns to embed low-resolution faces — degraded, then brought back to the
recognizer's input size by a frozen front-end (bicubic, or a committed generator) — where a frozen
teacher embeds the same faces at HR. Every value here is lrfr's: the recipe follows the common
cross-resolution distillation pattern (a student initialised from an HR teacher, trained to match the
teacher's HR embedding from LR input; e.g. Lai and Lam's and RPCL's low-resolution recognizers), not any
one paper's numbers:

* loss: ``embedding_weight · (1 − cos(student(SR), teacher(HR)))`` (``embedding = "cosine"``) or the
  squared distance of the L2-normalised embeddings (``"l2"``, twice the cosine term), plus, when
  ``softmax_weight`` > 0, a margin term on the student's embeddings of the faces that carry identity labels
  (``[loss.margin]``: A-Softmax, or the combined SphereFace/ArcFace/CosFace margin; a new head, its class
  weights random or started at the teacher's class centres, ``head_init = "teacher"``); faces of an
  ``"unlabelled:PATH"`` source take the embedding term only;
* LR faces: at ``data.scales`` (integer factors), or, with ``data.lr_long_side = [lo, hi]``, at a size drawn
  per face (long side log-uniform in pixels, any factor), each brought back to the recognizer's size by the
  rule every native LR probe follows (:class:`lrfr.probe.FrontEnd`): bicubic
  (:func:`lrfr.data.resample.fit_to_size`), or for a generator front-end, fitted to what it takes (the HR
  size over its scale) and super-resolved; degraded by
  ``data.degrade``, or by one family per face of ``data.mix`` (``{spec = share}``, the rest to ``degrade``);
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
from lrfr.recipes.recognizer.config import MARGIN_ADDED_KEYS, MarginConfig
from lrfr.recipes.sr.config import SRDataConfig

EMBEDDING_LOSSES = ("cosine", "l2")
HEAD_INITS = ("random", "teacher")


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
    #: [lo, hi]: instead of ``scales``, an LR size per face, its long side drawn log-uniformly from lo–hi pixels
    #: (7–28 spans 16× to 4× of 112×96; non-integer factors included); [] = ``scales``
    lr_long_side: list[int] = bounded(factory=list, ge=1)
    #: degradation families, ``{spec = share}``: each LR face draws one; the share they leave goes to ``degrade``
    mix: dict[str, float] = field(default_factory=dict)


@dataclass
class DistillLossConfig:
    embedding: str = bounded("cosine", choices=EMBEDDING_LOSSES)
    embedding_weight: float = bounded(1.0, ge=0)
    #: the margin term's weight, on the faces with identity labels (0 = off)
    softmax_weight: float = bounded(0.0, ge=0)
    margin: MarginConfig = field(default_factory=MarginConfig)
    #: the margin head's class weights at the start: "random", or "teacher" (each class's mean teacher embedding)
    head_init: str = bounded("random", choices=HEAD_INITS)
    #: the share of each batch shown at HR (its target the same teacher embedding)
    hr_fraction: float = bounded(0.0, ge=0, lt=1)


@dataclass
class DistillValConfig(HeldOutConfig):
    """``[val]``: held-out faces; reports the student's accuracy on front-end faces (both low and cross)."""

    scale: int = bounded(8, ge=1)
    #: more probe conditions to validate, ``{name = spec}`` at ``scale`` (e.g. ``noaa = "down:bicubic_noaa"``):
    #: each adds ``acc_probe_NAME`` and ``acc_probe_cross_NAME`` to the history
    conditions: dict[str, str] = field(default_factory=dict)


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


#: keys added to the distill recipe after checkpoints were written, at the values those were trained with
ADDED_KEYS = {"data.lr_long_side": [], "loss.head_init": "random",
              **{f"loss.margin.{k}": v for k, v in MARGIN_ADDED_KEYS.items()}}
