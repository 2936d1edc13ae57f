"""Periodic LFW-style validation for training loops.

The recipes (:mod:`lrfr.recipes`) hand the engine a plain callable ``validate(model) -> dict``; this module
builds one from a validation set, so the training layer never imports the protocol layer above it.
The procedure is the LFW standard one (10 folds, SphereFace's convention) on pairs drawn with
the CelebA protocol's seeded drawer, at HR and, when ``scale`` > 0, on bicubic LR→HR faces too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lrfr.data.resample import degrade
from lrfr.metrics.verification import kfold_accuracy
from lrfr.protocols.celeba import draw_pairs, identity_listing
from lrfr.recognition import embed


def _pair_index(names: list[str], labels, n_folds: int, pairs_per_fold: int, seed: int):
    """(index (P, 2) into the used images, same (P,), folds (P,), used image rows) of the drawn pairs."""
    pairs = draw_pairs(names, labels, seed=seed, n_folds=n_folds, n_per_fold=pairs_per_fold)
    position = {(t, k + 1): i for t, idx in identity_listing(names, labels).items() for k, i in enumerate(idx)}
    index = np.array([[position[(p.id_a, p.num_a)], position[(p.id_b, p.num_b)]] for p in pairs])
    used = np.unique(index)
    return np.searchsorted(used, index), np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]), used


class PairValidator:
    """10-fold verification accuracy on a fixed set of held-out faces.

    ``images``: float (N, 3, H, W) in [0, 1]; ``names``: ``identity/file`` per image; ``labels``.
    Reports ``acc_hr`` and (``scale`` > 0) ``acc_lr_x{scale}``: mean accuracy over folds.
    """

    def __init__(self, images: torch.Tensor, names: list[str], labels, *, n_folds: int = 10,
                 pairs_per_fold: int = 50, seed: int = 1, scale: int = 8, batch_size: int = 128):
        self.index, self.same, self.folds, used = _pair_index(names, labels, n_folds, pairs_per_fold, seed)
        self.inputs = {"acc_hr": images[used]}
        if scale:
            self.inputs[f"acc_lr_x{scale}"] = degrade(images[used], scale, upscale=True)
        self.batch_size = batch_size

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        out = {}
        for key, images in self.inputs.items():
            f = embed(model, images, flip="concat", batch_size=self.batch_size, device=device)
            res = kfold_accuracy(f[self.index[:, 0]], f[self.index[:, 1]], self.same, self.folds, "sphereface")
            out[key] = float(res.accuracy.mean())
        return out


class SRValidator:
    """Validation of an SR generator on held-out faces: PSNR/SSIM and LFW-style verification.

    The pairs are drawn as :class:`PairValidator` draws them; the HR faces are degraded once
    (``lrfr.data.resample.downsample``), and each call super-resolves them with the generator,
    clamps to [0, 1] and reports ``psnr``, ``ssim`` and ``acc_sr`` (10-fold accuracy, SphereFace's
    convention, with ``recognizer``), beside ``acc_hr`` and ``acc_bicubic`` (computed on the first
    call and reused) so every validation row shows the gap the generator is closing.
    """

    def __init__(self, images: torch.Tensor, names: list[str], labels, recognizer: torch.nn.Module, *, scale: int,
                 degrade_method: str = "bicubic", n_folds: int = 10, pairs_per_fold: int = 50, seed: int = 1,
                 batch_size: int = 64, grid_images: int = 6):
        from lrfr.data.degradations import degrade_batch

        self.index, self.same, self.folds, used = _pair_index(names, labels, n_folds, pairs_per_fold, seed)
        self.hr = images[used]
        # a name ("bicubic", "bilinear_steps") or a degradation spec, its draws seeded per held-out image
        self.lr = degrade_batch(self.hr, scale, degrade_method, key=(seed,))
        self.scale, self.recognizer, self.batch_size = scale, recognizer.eval(), batch_size
        self.grid_rows = np.linspace(0, len(self.hr) - 1, num=min(grid_images, len(self.hr))).round().astype(int)
        self._baseline: dict[str, float] | None = None

    def _accuracy(self, images: torch.Tensor) -> float:
        device = next(self.recognizer.parameters()).device
        f = embed(self.recognizer, images, flip="concat", batch_size=self.batch_size, device=device)
        res = kfold_accuracy(f[self.index[:, 0]], f[self.index[:, 1]], self.same, self.folds, "sphereface")
        return float(res.accuracy.mean())

    @torch.no_grad()
    def super_resolve(self, generator: torch.nn.Module, lr: torch.Tensor | None = None) -> torch.Tensor:
        lr = self.lr if lr is None else lr
        device = next(generator.parameters()).device
        outs = [generator(lr[i:i + self.batch_size].to(device)).float().clamp_(0, 1).cpu()
                for i in range(0, len(lr), self.batch_size)]
        return torch.cat(outs)

    def baseline(self) -> dict[str, float]:
        if self._baseline is None:
            from lrfr.data.resample import upsample
            from lrfr.metrics.quality import psnr

            bicubic = upsample(self.lr, scale=self.scale)
            self._baseline = {"acc_hr": self._accuracy(self.hr), "acc_bicubic": self._accuracy(bicubic),
                              "psnr_bicubic": float(psnr(bicubic, self.hr).mean())}
        return self._baseline

    def __call__(self, generator: torch.nn.Module) -> dict[str, float]:
        from lrfr.metrics.quality import psnr, ssim

        was_training = generator.training
        generator.eval()
        sr = self.super_resolve(generator)
        generator.train(was_training)
        out = {"psnr": float(psnr(sr, self.hr).mean()), "ssim": float(ssim(sr, self.hr).mean()),
               "acc_sr": self._accuracy(sr)}
        out.update(self.baseline())
        return out

    def grid(self, generator: torch.nn.Module, path, title: str = "") -> Path:
        """HR / LR / bicubic / SR rows of a few validation faces, as a PNG."""
        from lrfr.data.resample import upsample
        from lrfr.report import save_sr_grid

        rows = torch.as_tensor(self.grid_rows)
        lr = self.lr[rows]
        was_training = generator.training
        generator.eval()
        sr = self.super_resolve(generator, lr)
        generator.train(was_training)
        panels = {"HR": self.hr[rows], f"LR ×{self.scale}": lr, "bicubic": upsample(lr, scale=self.scale),
                  title or "SR": sr}
        return save_sr_grid(panels, path)


class ProbeValidator:
    """Validation of a low-resolution (probe) recognizer: held-out faces degraded once and brought back to
    the recognizer's size by a frozen front-end, verified 10-fold (pairs drawn as :class:`PairValidator`).

    Each call reports, for the recognizer under training: ``acc_probe`` (both faces of a pair through the
    front-end, the both-low setting), ``acc_probe_cross`` (first face at HR embedded by the ``reference``,
    second through the front-end by the probe recognizer, when their embeddings have one size) and
    ``acc_probe_hr`` (both at HR). Beside them, computed once: ``acc_hr`` and ``acc_front_end`` (the
    reference on HR and on front-end faces), the numbers the probe recognizer has to beat.
    ``conditions``: more probe degradations, ``{name: spec}`` at ``scale``, each reported as ``acc_probe_NAME``
    (both low) and ``acc_probe_cross_NAME``.
    """

    def __init__(self, images: torch.Tensor, names: list[str], labels, reference: torch.nn.Module, front_end, *,
                 scale: int, degrade_method: str = "bicubic", n_folds: int = 10, pairs_per_fold: int = 50,
                 seed: int = 1, batch_size: int = 64, conditions: dict[str, str] | None = None):
        self.index, self.same, self.folds, used = _pair_index(names, labels, n_folds, pairs_per_fold, seed)
        self.hr = images[used]
        self.batch_size = batch_size
        self.sr = self._front_end_faces(front_end, scale, degrade_method, seed)
        self.conditions = {name: self._front_end_faces(front_end, scale, spec, seed)
                           for name, spec in (conditions or {}).items()}
        self.reference = reference.eval()
        self._baseline: dict[str, float] | None = None

    def _front_end_faces(self, front_end, scale: int, spec: str, seed: int) -> torch.Tensor:
        from lrfr.data.degradations import degrade_batch

        lr = degrade_batch(self.hr, scale, spec, key=(seed,))
        device = next(front_end.parameters(), torch.empty(0)).device
        with torch.no_grad():
            return torch.cat([front_end(lr[i:i + self.batch_size].to(device)).float().clamp_(0, 1).cpu()
                              for i in range(0, len(lr), self.batch_size)])

    def _features(self, model, images):
        device = next(model.parameters()).device
        return embed(model, images, flip="concat", batch_size=self.batch_size, device=device)

    def _accuracy(self, first: np.ndarray, second: np.ndarray) -> float:
        res = kfold_accuracy(first[self.index[:, 0]], second[self.index[:, 1]], self.same, self.folds, "sphereface")
        return float(res.accuracy.mean())

    def baseline(self) -> dict[str, float]:
        if self._baseline is None:
            self._hr_reference = self._features(self.reference, self.hr)
            sr = self._features(self.reference, self.sr)
            self._baseline = {"acc_hr": self._accuracy(self._hr_reference, self._hr_reference),
                              "acc_front_end": self._accuracy(sr, sr)}
        return self._baseline

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        base = self.baseline()
        sr, hr = self._features(model, self.sr), self._features(model, self.hr)
        extra = {name: self._features(model, faces) for name, faces in self.conditions.items()}
        model.train(was_training)
        out = {"acc_probe": self._accuracy(sr, sr), "acc_probe_hr": self._accuracy(hr, hr)}
        cross = sr.shape[1] == self._hr_reference.shape[1]
        if cross:
            out["acc_probe_cross"] = self._accuracy(self._hr_reference, sr)
        for name, feats in extra.items():
            out[f"acc_probe_{name}"] = self._accuracy(feats, feats)
            if cross:
                out[f"acc_probe_cross_{name}"] = self._accuracy(self._hr_reference, feats)
        return {**out, **base}


def _validation_faces(val, input_size: tuple[int, int], progress: bool):
    from lrfr.data.folders import load_images

    if val.source == "synth":
        from lrfr.data.synth import SynthFaces

        ds = SynthFaces(n_identities=val.n_identities, images_per_identity=val.images_per_identity,
                        size=tuple(input_size), seed=val.seed, identity_offset=val.identity_offset)
    elif val.source == "folder":
        from lrfr.data.folders import open_faces

        ds = open_faces(val.root, size=tuple(input_size))
    else:
        raise ValueError(f"[val] source must be 'synth', 'folder' or 'none'; got {val.source!r}")
    return load_images(ds, progress=progress, desc="validation set"), list(ds.names), ds.labels


def validator_for(val, input_size: tuple[int, int], progress: bool = True) -> Callable | None:
    """Build the validator a recognizer recipe's ``[val]`` section asks for (``None`` for ``source = "none"``)."""
    if val.source == "none":
        return None
    images, names, labels = _validation_faces(val, input_size, progress)
    return PairValidator(images, names, labels, n_folds=val.n_folds,
                         pairs_per_fold=val.pairs_per_fold, seed=val.seed, scale=val.scale)


def sr_validator_for(val, hr_size: tuple[int, int], scale: int, degrade_method: str, recognizer: torch.nn.Module,
                     progress: bool = True) -> SRValidator | None:
    """The :class:`SRValidator` an SR recipe's ``[val]`` section asks for (``None`` for ``source = "none"``)."""
    if val.source == "none":
        return None
    images, names, labels = _validation_faces(val, hr_size, progress)
    return SRValidator(images, names, labels, recognizer, scale=scale, degrade_method=degrade_method,
                       n_folds=val.n_folds, pairs_per_fold=val.pairs_per_fold, seed=val.seed,
                       grid_images=val.grid_images)


def probe_validator_for(val, hr_size: tuple[int, int], scale: int, degrade_method: str, reference: torch.nn.Module,
                        front_end, progress: bool = True) -> ProbeValidator | None:
    """The :class:`ProbeValidator` a distillation recipe's ``[val]`` section asks for (``None`` for ``source = "none"``)."""
    if val.source == "none":
        return None
    images, names, labels = _validation_faces(val, hr_size, progress)
    return ProbeValidator(images, names, labels, reference, front_end, scale=scale, degrade_method=degrade_method,
                          n_folds=val.n_folds, pairs_per_fold=val.pairs_per_fold, seed=val.seed,
                          conditions=dict(getattr(val, "conditions", {})))
