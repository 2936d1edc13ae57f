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
* Faces are 112×96 (SphereFace's crop) degraded on the fly by :func:`lrfr.data.resample.downsample`
  (bicubic with antialias), not the paper's 128×128 CASIA-WebFace crops; augmentation is a
  horizontal flip of the whole triplet (``[augment] hflip``; cached stage-1 features cover both flips).
* ``iterations`` > 0 replaces a stage's ``epochs`` (short runs); ``decay_every`` > 0 replaces "per epoch".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


from lrfr.config import ConfigError, bound_problems, bounded, dump_toml, section
from lrfr.engine.sections import OptimConfig, RunConfig
from lrfr.recipes.recognizer.config import MARGIN_ADDED_KEYS, MarginConfig
from lrfr.recipes.sr.config import (EXTRACTORS, GAN_LOSSES, PIXEL_LOSSES, DiscriminatorConfig, GANOptimConfig,
                                    GeneratorConfig, SRDataConfig, SRValConfig)

__all__ = [
    "CFacePipeline", "CNNRConfig", "CFaceLossConfig", "CompareConfig", "CFaceAugmentConfig", "GANStageConfig",
    "FineTuneStageConfig", "SuperResolveStageConfig", "RecognizerStageConfig", "CFaceEvalConfig", "StageSchedule",
    "ABLATIONS", "ADDED_KEYS", "STAGES", "check_config", "stages_of", "stage_config_text", "stage_schedule",
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

    alpha: float = bounded(0.1, ge=0)  # α (paper)
    beta: float = bounded(1.0, ge=0)  # β (paper)
    adversarial: str = bounded("vanilla", choices=GAN_LOSSES)  # L_GAN of eq. (1); "ragan"/"wgan" are lrfr's
    perceptual_extractor: str = bounded("recognizer", choices=EXTRACTORS)  # "vgg19" with vgg_weights: the paper's
    perceptual_layer: str = ""  # "" = the extractor's default
    perceptual_criterion: str = bounded("mse", choices=PIXEL_LOSSES)  # eq. (2)
    vgg_weights: str = ""
    #: lrfr's optional pixel term (not in eq. 7; 0 = the paper's objective)
    pixel: str = bounded("l1", choices=PIXEL_LOSSES)
    pixel_weight: float = bounded(0.0, ge=0)
    #: True = eq. (6), the paper's final C-Face loss; False = eq. (5), its first version
    hinge: bool = True


@dataclass
class CompareConfig:
    """``[compare]``: how I_c is chosen (§3.3, Table 6)."""

    k: int | str = 3  # top-k of the same identity (paper: 3); 1–5 or "random" in Table 6
    #: single-image identities: "self" (I_c = I_o) or "exclude" (never an input)
    singleton: str = bounded("self", choices=("self", "exclude"))
    strategy: str = "auto"  # the miner's search (all exact)


@dataclass
class CFaceAugmentConfig:
    hflip: bool = True


@dataclass
class StageSchedule:
    """How long a trained stage runs and when its learning rate decays (Algorithm 1 counts epochs)."""

    epochs: float = bounded(10.0, ge=0)
    #: > 0: train this many steps instead of ``epochs``
    iterations: int = bounded(0, ge=0)
    #: steps between learning-rate decays (× ``lr_decay``); 0 = every epoch (the paper). Explicit
    #: ``milestones`` replace this schedule.
    decay_every: int = bounded(0, ge=0)


@dataclass
class GANStageConfig(StageSchedule, GANOptimConfig):
    """``[stage1]``: the shared optimizer section (G's; ``d_lr`` N^D's), the stage's length and eq. (6)'s γ."""

    gamma1: float = bounded(0.05, ge=0)
    gamma2: float = bounded(0.1, ge=0)


@dataclass
class FineTuneStageConfig(GANStageConfig):
    """``[stage4]``: N^SR and N^D fine-tuned under the stage-3 CNN^R, which takes an L_FR step each step."""

    recognizer_lr: float = bounded(1e-3, gt=0)
    recognizer_momentum: float = bounded(0.9, ge=0, lt=1)
    recognizer_weight_decay: float = bounded(5e-4, ge=0)
    #: which faces of the step CNN^R's L_FR sees: "hr+sr" (both), "sr", "hr"
    fr_images: str = bounded("hr+sr", choices=FR_IMAGES)


@dataclass
class SuperResolveStageConfig:
    """``[stage2]``: every training LR face super-resolved by the stage-1 N^SR (D^SR, kept in RAM as uint8)."""

    batch_size: int = bounded(64, ge=1)


@dataclass
class RecognizerStageConfig(StageSchedule, OptimConfig):
    """``[stage3]``: CNN^R fine-tuned with A-Softmax on D^HR ∪ D^SR: the shared optimizer section, the
    stage's length and the margin."""

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
    batch_size: int = bounded(128, ge=1)


#: the paper's stage optimizers (§4.2): stage 1 Adam 2e-4, batch 64, ×0.99 per epoch; stage 3 SGD 0.1
#: (SphereFace's momentum and weight decay), ×0.1 per epoch; stage 4 Adam 1e-5 for 5 epochs
STAGE1 = dict(type="adam", lr=2e-4, d_lr=2e-4, batch_size=64, lr_decay=0.99)
STAGE3 = dict(type="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=64, lr_decay=0.1)
STAGE4 = dict(type="adam", lr=1e-5, d_lr=1e-5, batch_size=64, lr_decay=0.99, epochs=5.0, gamma2=0.05)


@dataclass
class CFacePipeline:
    kind: str = "cface"
    name: str = "cface"
    description: str = ""
    #: Table 7: "v1", "v2" (Algorithm 1), "v2-1", "v2-2", "v2-3"
    ablation: str = bounded("v2", choices=tuple(ABLATIONS))
    #: re-enter Algorithm 1 at this stage: it and every later stage start over; earlier ones must be complete
    from_stage: int = bounded(1, choices=STAGES)
    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = section(DiscriminatorConfig, arch="srgan")
    recognizer: CNNRConfig = field(default_factory=CNNRConfig)
    loss: CFaceLossConfig = field(default_factory=CFaceLossConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    data: SRDataConfig = field(default_factory=SRDataConfig)
    augment: CFaceAugmentConfig = field(default_factory=CFaceAugmentConfig)
    stage1: GANStageConfig = section(GANStageConfig, **STAGE1)
    stage2: SuperResolveStageConfig = field(default_factory=SuperResolveStageConfig)
    stage3: RecognizerStageConfig = section(RecognizerStageConfig, **STAGE3)
    stage4: FineTuneStageConfig = section(FineTuneStageConfig, **STAGE4)
    val: SRValConfig = field(default_factory=SRValConfig)
    eval: CFaceEvalConfig = field(default_factory=CFaceEvalConfig)
    run: RunConfig = section(RunConfig, out="runs/cface")


def check_config(cfg: CFacePipeline) -> None:
    """Every bound (also of a config built in code) and what no single field can check; one :class:`ConfigError`."""
    problems = bound_problems(cfg, "[cface]")
    k = cfg.compare.k
    if not (k == "random" or (isinstance(k, int) and not isinstance(k, bool) and k >= 1)):
        problems.append(f"[cface] compare.k = {k!r} must be an integer >= 1 (paper: 3) or \"random\"")
    for name in ("stage1", "stage3", "stage4"):
        st = getattr(cfg, name)
        if st.iterations == 0 and not st.epochs > 0:
            problems.append(f"[cface] {name}: give epochs > 0 or iterations > 0 (got epochs = {st.epochs}, "
                            f"iterations = {st.iterations})")
    if problems:
        raise ConfigError("\n".join(problems))


def stages_of(cfg: CFacePipeline) -> tuple[int, ...]:
    """The stages of Algorithm 1 that ``cfg.ablation`` runs."""
    return ABLATIONS[cfg.ablation]


#: keys the stage sections gained with the shared optimizer section (lrfr 0.2), with the values older
#: C-Face checkpoints were trained with (Adam, no momentum, decays from ``decay_every``): they still resume
ADDED_KEYS = {**{f"stage{s}.{k}": v for s in (1, 4) for k, v in (("type", "adam"), ("momentum", 0.0))},
              **{f"stage{s}.milestones": [] for s in (1, 3, 4)},
              **{f"stage3.margin.{k}": v for k, v in MARGIN_ADDED_KEYS.items()}}

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
    ``iterations`` > 0 replaces ``epochs``; the rate decays every ``decay_every`` steps (0 = every epoch), or
    at the stage's explicit ``milestones``.
    """
    per_epoch = n_items // stage_cfg.batch_size
    if per_epoch < 1:
        raise ValueError(f"{n_items} training items are fewer than one batch of {stage_cfg.batch_size}")
    total = stage_cfg.iterations or max(1, round(stage_cfg.epochs * per_epoch))
    if stage_cfg.milestones:
        return total, list(stage_cfg.milestones)
    every = stage_cfg.decay_every or per_epoch
    return total, list(range(every, total, every))
