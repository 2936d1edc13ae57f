"""C-Face's four-stage training (papers/004, Algorithm 1), each stage on the engine in its own folder.

    <run.out>/compare_faces.npz   the miner's table (CNN^R's HR features, before stage 1) + .json summary
    <run.out>/stage1/             N^SR, N^D with eq. (7) under the frozen CNN^R → generator.pt (C-Face-v1),
                                  discriminator.pt
    <run.out>/stage2/             D^SR = stage-1 N^SR on every training LR face (in RAM; summary.json)
    <run.out>/stage3/             CNN^R fine-tuned with A-Softmax on D^HR ∪ D^SR → recognizer.pt
    <run.out>/stage4/             N^SR, N^D with eq. (7) under the stage-3 CNN^R, which takes an L_FR step
                                  every step → generator.pt (C-Face-v2), discriminator.pt, recognizer.pt

Each trained stage (1, 3, 4) has the engine's ``checkpoint.pt`` (+ ``.prev``), ``config.toml``,
``history.csv``, its model files, and ``done.json`` once they are written. A stopped run resumes
mid-stage (bit-identical on the CPU: every draw is a function of ``(seed, step)``); a completed stage
is not run again, provided its config (:func:`~lrfr.recipes.cface.config.stage_config_text`: its own
section and those of the stages before it) is unchanged — else the run stops and names the keys.
``from_stage = N`` re-enters Algorithm 1 at stage N: the checkpoints of stage N and every later stage
are deleted and those stages train from their start; the earlier stages must be complete. (To
continue a stopped re-entered stage, run again without ``from_stage``.) ``ablation`` picks Table 7's
training approach (see :data:`~lrfr.recipes.cface.config.ABLATIONS`).

``stop_after`` counts steps across the stages (stage 1's, then 3's, then 4's; stage 2 takes none), so a
long run splits into sessions with the same number each time. The stage folders, done markers, offsets and
re-entry are the engine's (:mod:`lrfr.engine.stages`): this module says what each stage is.

The training layer takes validation as a callable (an :class:`lrfr.validation.SRValidator`), run on
N^SR in stages 1 and 4; evaluation on the protocols is the runner's (``lrfr.recipes``).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from lrfr.config import dump_toml
from lrfr.devices import resolve_device
from lrfr.io import atomic_write_text
from lrfr.recognition.weights import recognizer_identity
from lrfr.weights import DEFAULT_RECOGNIZER, resolve
from lrfr.recipes.cface.config import (
    ADDED_KEYS,
    CFacePipeline,
    check_config,
    stage_config_text,
    stage_schedule,
    stages_of,
)
from lrfr.recipes.cface.stages import CFaceGANRecipe, FaceUnion, RecognizerUpdate
from lrfr.engine.checkpoint import load_checkpoint
from lrfr.engine.training_set import build_training_set
from lrfr.engine.distributed import barrier
from lrfr.engine import stages as stages_engine
from lrfr.engine.loop import CHECKPOINT, LoopSettings, Validator, speed_settings
from lrfr.engine.frozen import FrozenFeatures, super_resolve_all
from lrfr.recipes.cface.triplets import TripletSampler

log = logging.getLogger(__name__)

__all__ = ["CFaceTrainer", "train_cface"]

COMPARE_TABLE = "compare_faces.npz"
MODEL_FILES = {1: ("generator.pt", "discriminator.pt"), 3: ("recognizer.pt",),
               4: ("generator.pt", "discriminator.pt", "recognizer.pt")}


def _labels_of(data) -> np.ndarray:
    labels = getattr(data, "labels", None)
    if labels is None:
        labels = [int(data[i][1]) for i in range(len(data))]
    return np.asarray(labels.numpy() if torch.is_tensor(labels) else labels, dtype=np.int64)


class CFaceTrainer:
    """Builds and runs the stages of one C-Face config (see the module docstring).

    ``data``: the HR training faces when the caller already holds them (else built from ``cfg.data``).
    """

    def __init__(self, cfg: CFacePipeline, progress: bool = True, data=None):
        check_config(cfg)
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        self.cfg, self.progress = cfg, progress
        self.out = Path(cfg.run.out)
        self.device = resolve_device(cfg.run.device)
        self.hr_size = tuple(cfg.data.hr_size)
        self.data = data if data is not None else build_training_set(cfg.data, self.hr_size, progress=progress)
        self.labels = _labels_of(self.data)
        self.classes = getattr(self.data, "classes", None)
        self.n_classes = len(self.classes) if self.classes is not None else int(self.labels.max()) + 1
        self.recognizer_path = resolve(cfg.recognizer.weights, DEFAULT_RECOGNIZER)
        self.plan = stages_of(cfg)

    # -- where things are ------------------------------------------------------------------------

    def stage_dir(self, stage: int) -> Path:
        return stages_engine.stage_dir(self.out, stage)

    def model_file(self, stage: int, name: str) -> Path:
        return self.stage_dir(stage) / name

    # -- what the stages are built from -----------------------------------------------------------

    def load_recognizer(self, path: str | Path | None = None):
        """CNN^R (the original unless ``path``), in eval mode on the device, trainable parameters."""
        from lrfr import recognition

        model = recognition.load(self.cfg.recognizer.arch or None, weights=path or self.recognizer_path,
                                 device=self.device)
        if tuple(model.input_size) != self.hr_size:
            raise ValueError(f"[data] hr_size = {list(self.hr_size)}, but CNN^R ({self.recognizer_path}) takes "
                             f"{list(model.input_size)} faces")
        return model

    def n_inputs(self) -> int:
        """Training images that can be I_o (all, unless single-image identities are excluded)."""
        if self.cfg.compare.singleton != "exclude":
            return len(self.labels)
        _, inverse, counts = np.unique(self.labels, return_inverse=True, return_counts=True)
        return int((counts[inverse] > 1).sum())

    def schedule(self, stage: int) -> tuple[int, list[int]]:
        """(total steps, learning-rate milestones) of a trained stage."""
        if stage == 3:
            n = len(self.labels) * (2 if self.cfg.ablation == "v2" else 1)
            return stage_schedule(self.cfg.stage3, n)
        return stage_schedule(getattr(self.cfg, f"stage{stage}"), self.n_inputs())

    def compare_faces(self, features: np.ndarray | None = None):
        """The miner's table: loaded from ``<run.out>/compare_faces.npz`` if there, else mined on CNN^R's HR
        features (``features``, or computed now) and saved there."""
        from lrfr.index.miner import CompareFaceMiner, features_fingerprint

        c = self.cfg.compare
        mode, k = ("random", None) if c.k == "random" else ("topk", int(c.k))
        path = self.out / COMPARE_TABLE
        if path.is_file():
            miner = CompareFaceMiner.load(path, labels=self.labels, seed=self.cfg.run.seed)
            if (miner.mode, miner.k, miner.singleton) != (mode, k, c.singleton):
                raise ValueError(f"{path} was mined with mode={miner.mode!r}, k={miner.k}, singleton="
                                 f"{miner.singleton!r}, not the configured {mode!r}, {k}, {c.singleton!r}; "
                                 "re-run from stage 1 (from_stage = 1 with --restart)")
            if features is not None and features_fingerprint(features) != miner.features_fingerprint:
                log.warning("%s was mined from other CNN^R features than this run computes (another recognizer, "
                            "or a device with other rounding); using the saved table", path)
            return miner
        if features is None:
            cache = FrozenFeatures.compute(self.load_recognizer(), self.data, hflip=False,
                                           batch_size=self.cfg.stage2.batch_size, workers=self.cfg.data.workers,
                                           progress=self.progress, cache_dir=self.cfg.data.cache_dir or None)
            features = cache.plain.numpy()
        miner = CompareFaceMiner(features, self.labels, k=k or 3, mode=mode, singleton=c.singleton,
                                 seed=self.cfg.run.seed, strategy=c.strategy, progress=self.progress)
        self.out.mkdir(parents=True, exist_ok=True)
        miner.save(path)
        atomic_write_text(path.with_suffix(".json"), json.dumps(miner.summary(), indent=2) + "\n")
        return miner

    def _gan_config(self, stage: int, init: str | Path):
        """The SR recipe's config for a GAN stage (α, β as its adversarial and perceptual weights)."""
        from lrfr.engine.sections import AugmentConfig, RunConfig
        from lrfr.recipes.sr.config import GANOptimConfig, SRLossConfig, SRPipeline, SRValConfig

        cfg, st = self.cfg, getattr(self.cfg, f"stage{stage}")
        total, milestones = self.schedule(stage)
        L = cfg.loss
        return SRPipeline(
            name=f"{cfg.name}-stage{stage}",
            model=dataclasses.replace(cfg.model, kwargs=dict(cfg.model.kwargs), init=str(init)),
            discriminator=cfg.discriminator,
            loss=SRLossConfig(pixel=L.pixel, pixel_weight=L.pixel_weight, perceptual_weight=L.beta,
                              perceptual_extractor=L.perceptual_extractor, perceptual_layer=L.perceptual_layer,
                              perceptual_criterion=L.perceptual_criterion, vgg_weights=L.vgg_weights,
                              adversarial=L.adversarial, adversarial_weight=L.alpha, identity_weight=0.0,
                              recognizer_weights=str(self.recognizer_path)),
            data=cfg.data,
            val=SRValConfig(source="none"),
            optim=GANOptimConfig(type=st.type, lr=st.lr, d_lr=st.d_lr, momentum=st.momentum, betas=list(st.betas),
                                 weight_decay=st.weight_decay, batch_size=st.batch_size, iterations=total,
                                 milestones=milestones, lr_decay=st.lr_decay, ema_decay=st.ema_decay),
            augment=AugmentConfig(hflip=cfg.augment.hflip, crop_pad=0),
            run=RunConfig(out=str(self.stage_dir(stage)), seed=cfg.run.seed, device=cfg.run.device),
        )

    def stage1_recipe(self) -> CFaceGANRecipe:
        """N^SR and N^D under the frozen original CNN^R, its HR features cached (both flips)."""
        from lrfr.losses.cface import CFaceLoss

        cfg = self.cfg
        cnn_r = self.load_recognizer()
        cache = FrozenFeatures.compute(cnn_r, self.data, hflip=cfg.augment.hflip, batch_size=cfg.stage2.batch_size,
                                       workers=cfg.data.workers, progress=self.progress,
                                       cache_dir=cfg.data.cache_dir or None)
        miner = self.compare_faces(cache.plain.numpy())
        sampler = TripletSampler(miner, cfg.stage1.batch_size, cfg.run.seed, cfg.augment.hflip)
        cface = CFaceLoss(cnn_r, gamma1=cfg.stage1.gamma1, gamma2=cfg.stage1.gamma2, hinge=cfg.loss.hinge)
        init = resolve(cfg.model.init, "") if cfg.model.init else ""
        return CFaceGANRecipe(self._gan_config(1, init), data=self.data, sampler=sampler, cface=cface, cache=cache,
                              config_text=stage_config_text(cfg, 1), steps_key="stage1.iterations",
                              progress=self.progress)

    def _new_head(self, embedding_dim: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.run.seed)
            return self.cfg.stage3.margin.head(embedding_dim, self.n_classes).to(self.device)

    def stage4_recipe(self) -> CFaceGANRecipe:
        """N^SR and N^D from stage 1, under the stage-3 CNN^R (the original for v2-3), updated with L_FR."""
        from lrfr.losses.cface import CFaceLoss

        cfg, st = self.cfg, self.cfg.stage4
        if 3 in self.plan:
            cnn_r = self.load_recognizer(self.model_file(3, "recognizer.pt"))
            head = self._new_head(cnn_r.embedding_dim)
            head.load_state_dict(load_checkpoint(self.stage_dir(3) / CHECKPOINT)["parts"]["head"])
        else:  # v2-3: nothing happened in stage 3
            cnn_r = self.load_recognizer()
            head = self._new_head(cnn_r.embedding_dim)
        fr = RecognizerUpdate(cnn_r, head, lr=st.recognizer_lr, momentum=st.recognizer_momentum,
                              weight_decay=st.recognizer_weight_decay, images=st.fr_images)
        sampler = TripletSampler(self.compare_faces(), st.batch_size, cfg.run.seed, cfg.augment.hflip)
        cface = CFaceLoss(cnn_r, gamma1=st.gamma1, gamma2=st.gamma2, hinge=cfg.loss.hinge, trainable=True)
        return CFaceGANRecipe(self._gan_config(4, self.model_file(1, "generator.pt")), data=self.data, sampler=sampler,
                              cface=cface, fr=fr, discriminator_init=self.model_file(1, "discriminator.pt"),
                              config_text=stage_config_text(cfg, 4), steps_key="stage4.iterations",
                              progress=self.progress)

    def stage2_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """D^SR: the stage-1 N^SR on every training LR face (uint8, in RAM); records a summary in stage2/."""
        import hashlib

        from lrfr import sr as sr_models

        cfg = self.cfg
        generator = sr_models.load(self.model_file(1, "generator.pt"), device=self.device)
        images, labels = super_resolve_all(generator, self.data, scale=cfg.model.scale, degrade=cfg.data.degrade,
                                           batch_size=cfg.stage2.batch_size, workers=cfg.data.workers,
                                           progress=self.progress)
        folder = self.stage_dir(2)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "config.toml", stage_config_text(cfg, 2))
        summary = {"images": len(images), "size": list(images.shape[-2:]), "dtype": "uint8",
                   "generator": str(self.model_file(1, "generator.pt")),
                   "sha256": hashlib.sha256(images.numpy().tobytes()).hexdigest()}
        atomic_write_text(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
        return images, labels

    def stage3_recipe(self):
        """CNN^R fine-tuned with A-Softmax on D^HR ∪ D^SR (v2), on D^SR (v2-1), or a new one on D^SR (v2-2)."""
        from lrfr import recognition
        from lrfr.recipes.recognizer.recipe import RecognizerRecipe
        from lrfr.engine.sections import AugmentConfig, DataConfig, OptimConfig, RunConfig
        from lrfr.recipes.recognizer.config import RecognizerPipeline, ValConfig

        cfg, st = self.cfg, self.cfg.stage3
        sr_images, labels = self.stage2_images()
        hr = self.data if cfg.ablation == "v2" else None
        union = FaceUnion(sr_images, labels, hr=hr, classes=self.classes, workers=cfg.data.workers)
        model = self.load_recognizer()
        if cfg.ablation == "v2-2":  # a new CNN^R of the same architecture, from scratch
            torch.manual_seed(cfg.run.seed)
            model = recognition.build(model.arch, **model.build_kwargs).to(self.device)
        total, milestones = self.schedule(3)
        rcfg = RecognizerPipeline(
            name=f"{cfg.name}-stage3", margin=st.margin, data=DataConfig(workers=cfg.data.workers),
            val=ValConfig(source="none"),
            optim=OptimConfig(type=st.type, lr=st.lr, momentum=st.momentum, betas=list(st.betas),
                              weight_decay=st.weight_decay, batch_size=st.batch_size, iterations=total,
                              milestones=milestones, lr_decay=st.lr_decay),
            augment=AugmentConfig(hflip=cfg.augment.hflip, crop_pad=0),
            run=RunConfig(out=str(self.stage_dir(3)), seed=cfg.run.seed, device=cfg.run.device),
        )
        recipe = RecognizerRecipe(rcfg, progress=self.progress, data=union, model=model)
        recipe.config_text, recipe.steps_key = stage_config_text(cfg, 3), "stage3.iterations"
        recipe.added_keys = ADDED_KEYS
        return recipe

    def recipe(self, stage: int):
        return {1: self.stage1_recipe, 3: self.stage3_recipe, 4: self.stage4_recipe}[stage]()

    # -- the stages, as the engine runs them (lrfr.engine.stages.StagePlan) ------------------------------

    @property
    def trained(self) -> list[int]:
        """The stages trained on the engine (stage 2 is computed: D^SR from stage 1's generator)."""
        return [s for s in self.plan if s != 2]

    added_keys = ADDED_KEYS

    def steps(self, stage: int) -> int:
        return self.schedule(stage)[0]

    def config_text(self, stage: int) -> str:
        return stage_config_text(self.cfg, stage)

    def model_files(self, stage: int) -> tuple[str, ...]:
        return MODEL_FILES[stage]

    def settings(self, stage: int, total: int) -> LoopSettings:
        cfg, gan = self.cfg, stage in (1, 4)
        return LoopSettings(out=self.stage_dir(stage), total_steps=total, seed=cfg.run.seed,
                            checkpoint_every=cfg.run.checkpoint_every, log_every=cfg.run.log_every,
                            val_every=cfg.val.every if gan and self._validate is not None else 0,
                            batch_size=getattr(cfg, f"stage{stage}").batch_size, stage=f"cface-stage{stage}",
                            **speed_settings(cfg.run))

    def validator(self, stage: int) -> Validator | None:
        return self._validate if stage in (1, 4) else None  # N^SR is validated; CNN^R's stage is not

    def completed(self, stage: int, allow_changed=()) -> bool:
        """Whether ``stage`` has finished under the same config (:func:`lrfr.engine.stages.completed`)."""
        return stages_engine.completed(self, stage, allow_changed)

    def forget_extra(self, stages: list[int]) -> None:
        """Stage 1 re-entered: the miner's table goes too (it is CNN^R's, recomputed with stage 1)."""
        if 1 in stages:
            for p in (self.out / COMPARE_TABLE, (self.out / COMPARE_TABLE).with_suffix(".json")):
                p.unlink(missing_ok=True)

    def export(self, stage: int, recipe) -> list[Path]:
        """A finished stage's model files (float32: they are the next stage's inputs); the engine then marks it done."""
        from lrfr import sr as sr_models
        from lrfr.recognition.weights import save_recognizer

        cfg, folder = self.cfg, self.stage_dir(stage)
        meta = {"pipeline": f"{cfg.name}-stage{stage}", "stage": stage, "ablation": cfg.ablation,
                "steps": self.steps(stage), "cnn_r": recognizer_identity(self.recognizer_path, cfg.recognizer.arch),
                "trained_on": f"{cfg.data.source}:{cfg.data.root or 'SynthFaces'}", "scale": cfg.model.scale,
                "degrade": cfg.data.degrade}
        files = []
        if stage in (1, 4):
            name = "cface-v1" if stage == 1 else f"cface-{cfg.ablation}"
            files.append(sr_models.save(copy.deepcopy(recipe.eval_model()).cpu(), folder / "generator.pt",
                                        meta={**meta, "pipeline": name}))
            files.append(sr_models.save_discriminator(copy.deepcopy(recipe.D).cpu(), folder / "discriminator.pt",
                                                      meta=meta))
        recognizer = recipe.model if stage == 3 else (recipe.fr.model if stage == 4 else None)
        if recognizer is not None:
            files.append(save_recognizer(copy.deepcopy(recognizer).cpu().eval(), folder / "recognizer.pt", meta=meta))
        return files

    # -- the run ----------------------------------------------------------------------------------

    def run(self, validate: Validator | None = None, *, resume: bool = True, stop_after: int | None = None,
            allow_changed=(), after_validation: Callable | None = None) -> dict[str, Any]:
        """Run (or continue) the stages on the engine (:func:`lrfr.engine.stages.run_stages`: done markers,
        ``stop_after`` across stages, ``from_stage`` re-entry); returns ``{"step", "complete", "out", "stages",
        "generators", "histories", "recognizer"}``."""
        self._validate = validate
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / "config.toml", dump_toml(dataclasses.asdict(self.cfg)))

        def before(stage: int, recipe) -> None:  # what a validation of N^SR also writes (stages 1 and 4)
            if stage in (1, 4) and after_validation is not None:
                recipe.after_validation = lambda step, metrics, out: after_validation(step, metrics, out,
                                                                                      recipe.eval_model())

        res = stages_engine.run_stages(self, first=self.cfg.from_stage, resume=resume, stop_after=stop_after,
                                       allow_changed=allow_changed, progress=self.progress, barrier=barrier,
                                       before=before)
        return self._result(res.step, res.stages, res.complete)

    def _result(self, step: int, stages: dict, complete: bool) -> dict[str, Any]:
        import pandas as pd

        histories = {}
        for s, info in stages.items():
            path = Path(info["out"]) / "history.csv"
            if path.is_file() and path.stat().st_size:
                histories[s] = pd.read_csv(path)
        generators = {}
        if complete:
            generators["cface-v1"] = self.model_file(1, "generator.pt")
            if 4 in self.plan:
                generators[f"cface-{self.cfg.ablation}"] = self.model_file(4, "generator.pt")
        return {"step": step, "complete": complete, "out": self.out, "stages": stages, "generators": generators,
                "histories": histories, "recognizer": self.recognizer_path}


def train_cface(cfg: CFacePipeline, validate: Validator | None = None, *, resume: bool = True, progress: bool = True,
                stop_after: int | None = None, allow_changed: tuple[str, ...] = (), after_validation=None,
                data=None) -> dict[str, Any]:
    """Run Algorithm 1 per ``cfg`` (the stages its ``ablation`` names); see :meth:`CFaceTrainer.run`.

    ``after_validation(step, metrics, out, generator)``: what a validation in stages 1 and 4 also writes.
    """
    trainer = CFaceTrainer(cfg, progress=progress, data=data)
    return {"trainer": trainer, **trainer.run(validate, resume=resume, stop_after=stop_after,
                                              allow_changed=allow_changed, after_validation=after_validation)}
