"""The config sections every training recipe shares, with their bounds: faces, augmentation, optimizer, run.

A recipe's pipeline dataclass (``lrfr/recipes/*/config.py``) composes these and declares only what
is its own: a recipe that needs more in a section subclasses it (``SRDataConfig(DataConfig)`` adds
``hr_size`` and ``degrade``), and a recipe whose defaults differ says so with :func:`section`
(``optim: OptimConfig = section(OptimConfig, type="sgd", lr=0.1, ...)``); keys a file leaves out take
the recipe's defaults. Every numeric value is bounded (:func:`lrfr.config.bounded`), checked when a
pipeline is read.

The defaults below are the engine's; each recipe states its own (the paper's where there is one) in
its config module's docstring.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lrfr.config import bounded, section

#: optimizers by ``[optim] type`` (lrfr.engine.optim builds them)
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
#: ``[run] precision``: "fp32", "bf16" (autocast; CUDA, or a CPU with AVX-512 BF16/AMX), "fp16" (CUDA, loss scaling)
PRECISIONS = ("fp32", "bf16", "fp16")
#: ``[run] weights_dtype``: the exported model files' dtype ("float16": half the size, loads into fp32)
WEIGHTS_DTYPES = ("float32", "float16")
#: face sources: SynthFaces, or any identity-per-folder tree (CASIA-WebFace, CelebA, LFW)
SOURCES = ("synth", "folder")


@dataclass
class FaceSource:
    """Which faces: SynthFaces identities (``n_identities`` × ``images_per_identity`` from ``identity_offset``,
    drawn with ``seed``) or a folder (``root``)."""

    source: str = bounded("synth", choices=SOURCES)
    root: str = ""
    n_identities: int = bounded(500, ge=1)
    images_per_identity: int = bounded(20, ge=1)
    identity_offset: int = bounded(0, ge=0)
    seed: int = bounded(0, ge=0)


@dataclass
class DataConfig(FaceSource):
    """``[data]``: the training faces."""

    #: pre-decode the whole set into RAM as uint8 (right for small sets; off for CASIA scale)
    in_memory: bool = True
    #: with in_memory: decode once into a memory-mapped uint8 file in this folder, reused by later runs
    #: and shared by torchrun's processes ("" = decode into this process's RAM every run)
    cache_dir: str = ""
    workers: int = bounded(2, ge=0)
    #: more faces trained on together with the source above, their identities kept apart from its own:
    #: identity folders, or "synth" — SynthFaces drawn with this section's ``n_identities``,
    #: ``images_per_identity``, ``identity_offset`` and ``seed`` (a synthetic share of every epoch)
    also: list[str] = field(default_factory=list)


@dataclass
class HeldOutConfig(FaceSource):
    """``[val]``: the held-out faces a recipe validates on (each recipe adds its own keys).

    ``source = "none"`` switches validation off."""

    source: str = bounded("synth", choices=(*SOURCES, "none"))
    n_identities: int = bounded(60, ge=2)
    images_per_identity: int = bounded(10, ge=1)
    identity_offset: int = bounded(100_000, ge=0)
    seed: int = bounded(1, ge=0)
    n_folds: int = bounded(10, ge=2)
    pairs_per_fold: int = bounded(50, ge=2)
    #: validate every this many steps (and at the end)
    every: int = bounded(500, ge=1)


@dataclass
class AugmentConfig:
    hflip: bool = True
    crop_pad: int = bounded(0, ge=0)


@dataclass
class OptimConfig:
    """``[optim]``: the optimizer and its step schedule (engine defaults: Adam at 1e-4, no decay)."""

    type: str = bounded("adam", choices=OPTIMIZERS)
    lr: float = bounded(1e-4, gt=0)
    #: SGD's and RMSprop's momentum (Adam and AdamW ignore it)
    momentum: float = bounded(0.0, ge=0, lt=1)
    #: Adam's and AdamW's β1, β2
    betas: list[float] = bounded(factory=lambda: [0.9, 0.999], ge=0, lt=1)
    weight_decay: float = bounded(0.0, ge=0)
    batch_size: int = bounded(16, ge=1)
    #: training steps; a run of zero steps is refused (it would export an untrained network)
    iterations: int = bounded(1000, ge=1)
    #: steps at which the learning rate is multiplied by ``lr_decay``
    milestones: list[int] = bounded(factory=list, ge=1)
    lr_decay: float = bounded(0.1, gt=0, le=1)


@dataclass
class RunConfig:
    """``[run]``: where and how a run executes; none of it but ``seed`` changes what a step computes
    (up to the rounding of ``precision``)."""

    out: str = "runs/run"
    seed: int = bounded(0, ge=0)
    device: str = "auto"
    checkpoint_every: int = bounded(500, ge=1)
    log_every: int = bounded(50, ge=1)
    threads: int = bounded(0, ge=0)  # torch CPU threads (0 = torch's default)
    weights_dtype: str = bounded("float32", choices=WEIGHTS_DTYPES)
    precision: str = bounded("fp32", choices=PRECISIONS)
    #: channels_last weights (measure first: see `lrfr bench sr`)
    channels_last: bool = False
    #: torch.compile the networks (slow first steps; pays off on long GPU runs)
    compile: bool = False


__all__ = ["FaceSource", "DataConfig", "HeldOutConfig", "AugmentConfig", "OptimConfig", "RunConfig", "section",
           "OPTIMIZERS", "PRECISIONS", "WEIGHTS_DTYPES", "SOURCES"]
