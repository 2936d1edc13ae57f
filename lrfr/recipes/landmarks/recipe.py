"""The landmark-heatmap recipe (``kind = "landmarks"``): PFSR's heatmap network, on the engine.

One iteration (:meth:`LandmarkRecipe.train_step`): faces of step ``s`` (a pure function of
``(seed, s)``) with their five exact landmarks, mirrored at random (points mirrored and their
left/right names swapped), brought to the resolution of ``data.factors[s mod len]`` by bilinear
halving (PFSR's chain, so the network sees what each PFSR step produces), Gaussian target
heatmaps rendered there, and one Adam step on their MSE.

Validation (:func:`nme_validator`): NME (papers/002 Table 1) on held-out SynthFaces identities
at every trained resolution, from :func:`lrfr.priors.landmarks.heatmap_points`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from lrfr.config import ConfigError
from lrfr.priors.landmarks import HeatmapNet, flip_points, heatmap_points, nme, render_heatmaps, scale_points
from lrfr.engine.batches import EpochBatches, apply_flip, flip_mask, step_generator
from lrfr.engine.loop import Recipe, Validator, settings_for, train
from lrfr.recipes.landmarks.config import LandmarksPipeline
from lrfr.engine.optim import build_optimizer, build_step_schedule, set_learning_rate


class LandmarkFaces:
    """Faces (uint8, in RAM) with five landmarks ``(N, 5, 2)`` (x, y pixels) each.

    Built by :func:`synth_landmark_faces` (SynthFaces' exact points) or :func:`mtcnn_landmark_faces`
    (an aligned face folder labelled by MTCNN), or from tensors directly.
    """

    def __init__(self, images: torch.Tensor, points: torch.Tensor):
        if images.dtype != torch.uint8 or images.dim() != 4 or points.shape != (len(images), 5, 2):
            raise ValueError(f"LandmarkFaces: need uint8 images (N, 3, H, W) and points (N, 5, 2); got "
                             f"{images.dtype} {tuple(images.shape)} and {tuple(points.shape)}")
        self.images, self.points = images, points.float()

    def __len__(self) -> int:
        return len(self.points)

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[indices].float().div_(255), self.points[indices].clone()


def synth_landmark_faces(n_identities: int, images_per_identity: int, size: tuple[int, int], seed: int,
                         identity_offset: int, progress: bool = True, desc: str = "rendering faces") -> LandmarkFaces:
    """SynthFaces images with their exact (rendered) landmarks."""
    from tqdm.auto import tqdm

    from lrfr.data.synth import SynthFaces

    ds = SynthFaces(n_identities=n_identities, images_per_identity=images_per_identity, size=tuple(size),
                    seed=seed, identity_offset=identity_offset)
    images = torch.empty((len(ds), 3, *ds.size), dtype=torch.uint8)
    points = torch.empty((len(ds), 5, 2), dtype=torch.float32)
    for i in tqdm(range(len(ds)), desc=desc, disable=not progress, leave=False):
        item = ds.sample(i)
        images[i] = item["image"].mul(255).round_().to(torch.uint8)
        points[i] = item["landmarks"]
    return LandmarkFaces(images, points)


def mtcnn_landmark_faces(root: str, n_identities: int, images_per_identity: int, size: tuple[int, int],
                         identity_offset: int, progress: bool = True, desc: str = "MTCNN landmarks") -> LandmarkFaces:
    """Aligned faces of an identity-labelled folder with MTCNN's five points (facenet-pytorch's weights).

    Identities ``identity_offset … + n_identities`` of the folder (in its class order), up to
    ``images_per_identity`` images each; an image where MTCNN finds no face (probability < 0.9)
    is left out. The points are MTCNN's, as it returns them: a teacher's labels, not ground truth.
    """
    import numpy as np
    from tqdm.auto import tqdm

    from lrfr.data.align import FaceAligner
    from lrfr.data.folders import open_faces

    ds = open_faces(root, size=tuple(size))
    n_classes = len(ds.classes)
    if identity_offset + n_identities > n_classes:
        raise ConfigError(f"{root} has {n_classes} identities; identity_offset = {identity_offset} with "
                          f"n_identities = {n_identities} asks for more")
    labels = np.asarray(ds.labels)
    chosen = [int(i) for c in range(identity_offset, identity_offset + n_identities)
              for i in np.flatnonzero(labels == c)[:images_per_identity]]
    aligner = FaceAligner(min_prob=0.9)
    images, points = [], []
    for i in tqdm(chosen, desc=desc, disable=not progress, leave=False):
        image = ds[i][0]
        u8 = image.mul(255).round_().to(torch.uint8)
        found = aligner.detect(u8.permute(1, 2, 0).numpy())
        if found is not None:
            images.append(u8)
            points.append(torch.as_tensor(found.landmarks, dtype=torch.float32))
    if not images:
        raise ValueError(f"MTCNN found no face in the {len(chosen)} images chosen from {root}")
    if progress and len(images) < len(chosen):
        print(f"MTCNN labelled {len(images)} of {len(chosen)} faces from {root} (the rest had no confident face)")
    return LandmarkFaces(torch.stack(images), torch.stack(points))


def landmark_faces(section, size: tuple[int, int], progress: bool = True, desc: str = "faces") -> LandmarkFaces:
    """The faces a ``[data]`` or ``[val]`` section names: ``"synth"`` or an MTCNN-labelled ``"folder"``."""
    if section.source == "folder":
        return mtcnn_landmark_faces(section.root, section.n_identities, section.images_per_identity, size,
                                    section.identity_offset, progress, desc)
    return synth_landmark_faces(section.n_identities, section.images_per_identity, size, section.seed,
                                section.identity_offset, progress, desc)


def at_factor(images: torch.Tensor, points: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Faces and their points at 1/``factor`` of the size (bilinear halving: PFSR's chain)."""
    if factor == 1:
        return images, points
    from lrfr.data.resample import downsample

    return downsample(images, factor, method="bilinear_steps"), scale_points(points, 1.0 / factor)


def check_config(cfg: LandmarksPipeline) -> None:
    """Refuse what this recipe cannot do, naming the keys (before anything is rendered)."""
    problems = []
    for key, section in (("data", cfg.data), ("val", cfg.val)):
        if section.source not in ("synth", "folder") and not (key == "val" and section.source == "none"):
            problems.append(f"{key}.source must be 'synth' or 'folder'{' or none' if key == 'val' else ''}; "
                            f"got {section.source!r}")
        elif section.source == "folder" and not section.root:
            problems.append(f"{key}.source = 'folder' needs {key}.root = 'path/to/aligned/identity/folders'")
    h, w = cfg.data.hr_size
    for f in cfg.data.factors:
        if f < 1 or f & (f - 1) or h % f or w % f:
            problems.append(f"data.factors: {f} must be a power of 2 dividing hr_size {list(cfg.data.hr_size)}")
    if not cfg.data.factors:
        problems.append("data.factors must name at least one factor (1 = hr_size)")
    if problems:
        raise ConfigError("; ".join(problems))


class LandmarkRecipe(Recipe):
    def __init__(self, cfg: LandmarksPipeline, progress: bool = True, *, data: LandmarkFaces | None = None):
        check_config(cfg)
        self.use_config(cfg)
        d = cfg.data
        self.data = data if data is not None else landmark_faces(d, tuple(d.hr_size), progress, "training faces")
        self.batches = EpochBatches(len(self.data), cfg.optim.batch_size, cfg.run.seed)
        torch.manual_seed(cfg.run.seed)
        self.model = HeatmapNet(width=cfg.model.width).to(self.device)
        o = cfg.optim
        self.opt = build_optimizer(self.model.parameters(), type=o.type, lr=o.lr, momentum=o.momentum, betas=o.betas,
                                   weight_decay=o.weight_decay)
        self.sched = build_step_schedule(self.opt, o.milestones, o.lr_decay)

    def parts(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.opt, "scheduler": self.sched}

    def eval_model(self) -> nn.Module:
        return self.model

    def log_values(self) -> dict[str, float]:
        return {"lr": self.sched.get_last_lr()[0]}

    def apply_config_to_optimizers(self, changed: list[str]) -> None:
        o = self.cfg.optim
        set_learning_rate(self.opt, self.sched, o.lr, o.milestones, o.lr_decay)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(faces, target heatmaps) of ``step`` at the resolution of its factor."""
        cfg = self.cfg
        images, points = self.data.batch(self.batches.indices(step))
        if cfg.augment.hflip:
            flip = flip_mask(len(images), step_generator(cfg.run.seed, step))
            images = apply_flip(images, flip)
            points = torch.where(flip[:, None, None], flip_points(points, images.shape[-1]), points)
        factors = cfg.data.factors
        images, points = at_factor(images, points, factors[step % len(factors)])
        targets = render_heatmaps(points, images.shape[-2:], cfg.data.sigma_fraction)
        return images.to(self.device), targets.to(self.device)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        images, targets = self.batch(step)
        weights = 1.0 + self.cfg.data.foreground_weight * targets
        loss = (weights * (self.model(images) - targets) ** 2).mean()
        if torch.isfinite(loss):
            self.opt.zero_grad(set_to_none=True)
            self.backward(loss)
            self.step(self.opt)
            self.sched.step()
        return {"heatmap_mse": loss.detach()}


def nme_validator(cfg: LandmarksPipeline, progress: bool = True) -> Callable[[nn.Module], dict[str, float]] | None:
    """NME of a heatmap network on ``cfg.val``'s held-out faces at every ``data.factors`` resolution."""
    if cfg.val.source == "none":
        return None
    faces = landmark_faces(cfg.val, tuple(cfg.data.hr_size), progress, "validation faces")
    images, points = faces.batch(torch.arange(len(faces)))
    sets = {f: at_factor(images, points, f) for f in cfg.data.factors}

    @torch.no_grad()
    def validate(model: nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        out = {}
        for f, (x, p) in sets.items():
            heat = torch.cat([model(x[i:i + 64].to(device)).float().cpu() for i in range(0, len(x), 64)])
            out[f"nme_{x.shape[-2]}x{x.shape[-1]}"] = nme(heatmap_points(heat), p, x.shape[-2:])
        return out

    return validate


def train_landmarks(cfg: LandmarksPipeline, validate: Validator | None = None, *, resume: bool = True,
                    progress: bool = True, stop_after: int | None = None, allow_changed: tuple[str, ...] = ()) -> dict:
    """Train per ``cfg``; returns ``{"recipe", "step", "history", "out", ...}``."""
    recipe = LandmarkRecipe(cfg, progress=progress)
    result = train(recipe, settings_for(cfg, Path(cfg.run.out), "landmarks"), validate, resume=resume,
                   progress=progress, stop_after=stop_after, allow_changed=allow_changed)
    return {"recipe": recipe, **result}
