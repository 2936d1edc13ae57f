"""The C-Face recipe's config (``kind = "cface"``: ``pipelines/cface.toml``, ``pipelines/cface_synth.toml``).

Defaults are the paper's (papers/004 §4.2, Algorithm 1, Tables 6–7) wherever it gives a number:

* N^SR / N^D: SRGAN (SRResNet 64 channels × 16 blocks; the SRGAN discriminator), 8×;
* eq. (7): α = 0.1 (adversarial), β = 1.0 (perceptual); eq. (6): γ1 = 0.05, γ2 = 0.1 in stage 1,
  γ1 = γ2 = 0.05 in stage 4; compare faces: top k = 3 of the same identity (Table 6: 1–5, "random");
* stage 1: Adam lr 2e-4, batch 64, 10 epochs, learning rate × 0.99 per epoch;
* stage 3: CNN^R fine-tuned with A-Softmax (m = 4) on D^HR ∪ D^SR, lr 0.1 × 0.1 after each epoch, 10 epochs;
* stage 4: Adam lr 1e-5, 5 epochs, CNN^R updated with L_FR (eq. 3) at every step;
* evaluation with the original, un-fine-tuned CNN^R; ablations v1, v2, v2-1, v2-2, v2-3 (Table 7).

lrfr's choices where the paper is silent or cannot be followed offline (each a config value):

* The perceptual extractor defaults to ``"recognizer"`` (mid-level features of the frozen,
  original CNN^R): ImageNet VGG weights cannot be fetched at run time. The paper's φ "i = 3, j = 5"
  names no VGG19 layer (block 3 has four convolutions), so with ``perceptual_extractor = "vgg19"``
  the layer must be chosen (``perceptual_layer``).
* Adam β = (0.9, 0.999) and D's learning rate = G's; the stage-3 optimizer is SGD with momentum 0.9
  and weight decay 5e-4 (SphereFace's), batch 64 (the paper: "batch size is 64 in every experiment");
  A-Softmax's λ schedule restarts with the new head (SphereFace's base 1000, γ 0.12, λ_min 5).
* Stage 4's CNN^R update: SGD lr 1e-3, momentum 0.9, weight decay 5e-4, on the step's HR_o and SR_o
  faces together (``fr_images = "hr+sr"``, mirroring stage 3's D^HR ∪ D^SR), with the stage-3 head
  (a new one for v2-3, which skips stage 3).
* Faces are 112×96 (SphereFace's crop) degraded on the fly by :func:`lrfr.data.degrade.downsample`
  (bicubic with antialias), not the paper's 128×128 CASIA-WebFace crops; augmentation is a
  horizontal flip of the whole triplet (``[augment] hflip``; cached stage-1 features cover both flips).
* ``iterations`` > 0 replaces a stage's ``epochs`` (short runs); ``decay_every`` > 0 replaces "per epoch".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from lrfr.config import ConfigError, dump_toml
from lrfr.train.recognizer_config import MarginConfig
from lrfr.train.sections import RunConfig
from lrfr.train.sr_config import DiscriminatorConfig, GeneratorConfig, SRDataConfig, SRValConfig

__all__ = [
    "CFacePipeline", "CNNRConfig", "CFaceLossConfig", "CompareConfig", "CFaceAugmentConfig", "GANStageConfig",
    "FineTuneStageConfig", "SuperResolveStageConfig", "RecognizerStageConfig", "CFaceEvalConfig", "CFaceRunConfig",
    "ABLATIONS", "STAGES", "check_config", "stages_of", "stage_config_text", "stage_schedule", "resolve_weights",
]

#: Table 7's training approaches → the stages of Algorithm 1 they run
ABLATIONS = {
    "v1": (1,),            # stage 1 only (C-Face-v1)
    "v2": (1, 2, 3, 4),    # Algorithm 1 (C-Face-v2): stage 3 fine-tunes CNN^R on D^HR ∪ D^SR
    "v2-1": (1, 2, 3, 4),  # stage 3 fine-tunes CNN^R on D^SR only
    "v2-2": (1, 2, 3, 4),  # stage 3 trains a new CNN^R from scratch on D^SR
    "v2-3": (1, 4),        # no stage 3: stage 4 starts from the original CNN^R
}
STAGES = (1, 2, 3, 4)
FR_IMAGES = ("hr+sr", "sr", "hr")
PACKAGED = "packaged:"


@dataclass
class CNNRConfig:
    """``[recognizer]``: CNN^R, the HR-pretrained recognizer whose embeddings L_CF compares."""

    #: weight file; "" = the packaged SynthFaces sphere20a; "packaged:NAME" = a file shipped in lrfr/weights
    weights: str = ""
    #: registry name, for weight files that do not record their architecture ("" = read or inferred)
    arch: str = ""


@dataclass
class CFaceLossConfig:
    """``[loss]``: eq. (7) = α·L_GAN + β·L_P + L_CF, and the form of L_CF."""

    alpha: float = 0.1  # α (paper)
    beta: float = 1.0  # β (paper)
    adversarial: str = "vanilla"  # L_GAN of eq. (1); "ragan"/"wgan" are lrfr's alternatives
    perceptual_extractor: str = "recognizer"  # or "vgg19" with vgg_weights (the paper's)
    perceptual_layer: str = ""  # "" = the extractor's default
    perceptual_criterion: str = "mse"  # eq. (2)
    vgg_weights: str = ""
    #: lrfr's optional pixel term (not in eq. 7; 0 = the paper's objective)
    pixel: str = "l1"
    pixel_weight: float = 0.0
    #: True = eq. (6), the paper's final C-Face loss; False = eq. (5), its first version
    hinge: bool = True


@dataclass
class CompareConfig:
    """``[compare]``: how I_c is chosen (§3.3, Table 6)."""

    k: int | str = 3  # top-k of the same identity (paper: 3); 1–5 or "random" in Table 6
    singleton: str = "self"  # single-image identities: "self" (I_c = I_o) or "exclude" (never an input)
    strategy: str = "auto"  # the miner's search (all exact)


@dataclass
class CFaceAugmentConfig:
    hflip: bool = True


@dataclass
class GANStageConfig:
    """``[stage1]`` (defaults: the paper's stage 1); ``[stage4]`` extends it."""

    lr: float = 2e-4
    d_lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: float = 10.0
    #: > 0: train this many steps instead of ``epochs``
    iterations: int = 0
    lr_decay: float = 0.99
    #: steps between learning-rate decays; 0 = every epoch (the paper)
    decay_every: int = 0
    gamma1: float = 0.05
    gamma2: float = 0.1
    #: EMA of G's weights (0 = off, the paper); the average is what the stage exports
    ema_decay: float = 0.0


@dataclass
class FineTuneStageConfig(GANStageConfig):
    """``[stage4]``: N^SR and N^D fine-tuned under the stage-3 CNN^R, which takes an L_FR step each step."""

    lr: float = 1e-5
    d_lr: float = 1e-5
    epochs: float = 5.0
    gamma1: float = 0.05
    gamma2: float = 0.05
    recognizer_lr: float = 1e-3
    recognizer_momentum: float = 0.9
    recognizer_weight_decay: float = 5e-4
    #: which faces of the step CNN^R's L_FR sees: "hr+sr" (both), "sr", "hr"
    fr_images: str = "hr+sr"


@dataclass
class SuperResolveStageConfig:
    """``[stage2]``: every training LR face super-resolved by the stage-1 N^SR (D^SR, kept in RAM as uint8)."""

    batch_size: int = 64


@dataclass
class RecognizerStageConfig:
    """``[stage3]``: CNN^R fine-tuned with A-Softmax on D^HR ∪ D^SR (defaults: the paper's numbers)."""

    type: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    batch_size: int = 64
    epochs: float = 10.0
    iterations: int = 0
    lr_decay: float = 0.1
    decay_every: int = 0
    margin: MarginConfig = field(default_factory=MarginConfig)


@dataclass
class CFaceEvalConfig:
    """``[eval]``: what the finished run is scored on (``lrfr.evaluate``)."""

    protocols: list[str] = field(default_factory=lambda: ["lfw", "blufr"])
    #: the protocols' data root; "" = the held-out SynthFaces test set
    data: str = ""
    #: the scoring recognizer; "" = the original CNN^R (the paper's choice); "packaged:NAME" or a path
    recognizer: str = ""
    recognizer_arch: str = ""
    #: other front-ends in the same table: "hr", registry names ("bicubic"), model files, "packaged:NAME"
    baselines: list[str] = field(default_factory=lambda: ["hr", "bicubic"])
    workdir: str = ""  # where the SynthFaces test set is exported ("" = ~/.cache/lrfr)
    batch_size: int = 128


@dataclass
class CFaceRunConfig(RunConfig):
    out: str = "runs/cface"


@dataclass
class CFacePipeline:
    kind: str = "cface"
    name: str = "cface"
    description: str = ""
    #: Table 7: "v1", "v2" (Algorithm 1), "v2-1", "v2-2", "v2-3"
    ablation: str = "v2"
    #: re-enter Algorithm 1 at this stage: it and every later stage start over; earlier ones must be complete
    from_stage: int = 1
    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=lambda: DiscriminatorConfig(arch="srgan"))
    recognizer: CNNRConfig = field(default_factory=CNNRConfig)
    loss: CFaceLossConfig = field(default_factory=CFaceLossConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    data: SRDataConfig = field(default_factory=SRDataConfig)
    augment: CFaceAugmentConfig = field(default_factory=CFaceAugmentConfig)
    stage1: GANStageConfig = field(default_factory=GANStageConfig)
    stage2: SuperResolveStageConfig = field(default_factory=SuperResolveStageConfig)
    stage3: RecognizerStageConfig = field(default_factory=RecognizerStageConfig)
    stage4: FineTuneStageConfig = field(default_factory=FineTuneStageConfig)
    val: SRValConfig = field(default_factory=SRValConfig)
    eval: CFaceEvalConfig = field(default_factory=CFaceEvalConfig)
    run: CFaceRunConfig = field(default_factory=CFaceRunConfig)


def check_config(cfg: CFacePipeline) -> None:
    """Every value a dataclass type cannot check, each problem named (one :class:`ConfigError`)."""
    problems = []
    if cfg.ablation not in ABLATIONS:
        problems.append(f"ablation = {cfg.ablation!r} is not one of {', '.join(ABLATIONS)}")
    if cfg.from_stage not in STAGES:
        problems.append(f"from_stage = {cfg.from_stage!r} must be 1, 2, 3 or 4")
    k = cfg.compare.k
    if not (k == "random" or (isinstance(k, int) and not isinstance(k, bool) and k >= 1)):
        problems.append(f"compare.k = {k!r} must be an integer >= 1 (paper: 3) or \"random\"")
    if cfg.compare.singleton not in ("self", "exclude"):
        problems.append(f"compare.singleton = {cfg.compare.singleton!r} must be \"self\" or \"exclude\"")
    if cfg.stage4.fr_images not in FR_IMAGES:
        problems.append(f"stage4.fr_images = {cfg.stage4.fr_images!r} must be one of {', '.join(FR_IMAGES)}")
    for name in ("stage1", "stage3", "stage4"):
        st = getattr(cfg, name)
        if st.iterations < 0 or (st.iterations == 0 and not st.epochs > 0):
            problems.append(f"{name}: give epochs > 0 or iterations > 0 (got epochs = {st.epochs}, "
                            f"iterations = {st.iterations})")
        if st.batch_size < 1 or st.decay_every < 0:
            problems.append(f"{name}: batch_size must be >= 1 and decay_every >= 0")
    if cfg.run.weights_dtype not in ("float32", "float16"):
        problems.append(f"run.weights_dtype = {cfg.run.weights_dtype!r} must be \"float32\" or \"float16\"")
    if problems:
        raise ConfigError("[cface] " + "\n[cface] ".join(problems))


def stages_of(cfg: CFacePipeline) -> tuple[int, ...]:
    """The stages of Algorithm 1 that ``cfg.ablation`` runs."""
    return ABLATIONS[cfg.ablation]


#: sections that never change a stage's weights (left out of its recipe identity)
_NOT_TRAINING = ("from_stage", "val", "eval")


def stage_config_text(cfg: CFacePipeline, stage: int) -> str:
    """The config a stage's checkpoint is bound to: everything that shapes its weights (and those of the
    stages before it), not the later stages' sections, validation, evaluation or ``from_stage``."""
    data = dataclasses.asdict(cfg)
    later = {f"stage{s}" for s in STAGES if s > stage}
    drop = set(_NOT_TRAINING) | later | ({"ablation"} if stage == 1 else set())
    return dump_toml({k: v for k, v in data.items() if k not in drop})


def stage_schedule(stage_cfg, n_items: int) -> tuple[int, list[int]]:
    """(total steps, learning-rate milestones) of a stage over ``n_items`` training items.

    An epoch is ``n_items // batch_size`` steps (the last partial batch is dropped, as the batches are);
    ``iterations`` > 0 replaces ``epochs``; the rate decays every ``decay_every`` steps (0 = every epoch).
    """
    per_epoch = n_items // stage_cfg.batch_size
    if per_epoch < 1:
        raise ValueError(f"{n_items} training items are fewer than one batch of {stage_cfg.batch_size}")
    total = stage_cfg.iterations or max(1, round(stage_cfg.epochs * per_epoch))
    every = stage_cfg.decay_every or per_epoch
    return total, list(range(every, total, every))


def resolve_weights(text: str, default: str) -> Path:
    """A weight-file setting as a path: "" → ``packaged:default``; ``packaged:NAME`` → the file in lrfr/weights."""
    from lrfr.weights import resolve

    return resolve(text, default)
