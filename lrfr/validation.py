"""Periodic LFW-style validation for training loops.

The trainers in :mod:`lrfr.train` take a plain callable ``validate(model) -> dict``; this module
builds one from a validation set, so the training layer never imports the protocol layer above it.
The procedure is the LFW standard one (10 folds, SphereFace's convention) on pairs drawn with
the CelebA protocol's seeded drawer, at HR and, when ``scale`` > 0, on bicubic LR→HR faces too.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from lrfr.data.degrade import degrade
from lrfr.metrics.verification import kfold_accuracy
from lrfr.protocols.celeba import draw_pairs, identity_listing
from lrfr.recognition import embed


class PairValidator:
    """10-fold verification accuracy on a fixed set of held-out faces.

    ``images``: float (N, 3, H, W) in [0, 1]; ``names``: ``identity/file`` per image; ``labels``.
    Reports ``acc_hr`` and (``scale`` > 0) ``acc_lr_x{scale}``: mean accuracy over folds.
    """

    def __init__(self, images: torch.Tensor, names: list[str], labels, *, n_folds: int = 10,
                 pairs_per_fold: int = 50, seed: int = 1, scale: int = 8, batch_size: int = 128):
        pairs = draw_pairs(names, labels, seed=seed, n_folds=n_folds, n_per_fold=pairs_per_fold)
        position = {(t, k + 1): i for t, idx in identity_listing(names, labels).items() for k, i in enumerate(idx)}
        self.index = np.array([[position[(p.id_a, p.num_a)], position[(p.id_b, p.num_b)]] for p in pairs])
        self.same = np.array([p.same for p in pairs])
        self.folds = np.array([p.fold for p in pairs])
        used = np.unique(self.index)
        self.index = np.searchsorted(used, self.index)  # embed only the images the pairs use
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


def validator_for(val, input_size: tuple[int, int], progress: bool = True) -> Callable | None:
    """Build the validator a recipe's ``[val]`` section asks for (``None`` for ``source = "none"``)."""
    from lrfr.data.folders import load_images

    if val.source == "none":
        return None
    if val.source == "synth":
        from lrfr.data.synth import SynthFaces

        ds = SynthFaces(n_identities=val.n_identities, images_per_identity=val.images_per_identity,
                        size=tuple(input_size), seed=val.seed, identity_offset=val.identity_offset)
    elif val.source == "folder":
        from lrfr.data.folders import open_faces

        ds = open_faces(val.root, size=tuple(input_size))
    else:
        raise ValueError(f"[val] source must be 'synth', 'folder' or 'none'; got {val.source!r}")
    images = load_images(ds, progress=progress, desc="validation set")
    return PairValidator(images, list(ds.names), ds.labels, n_folds=val.n_folds,
                         pairs_per_fold=val.pairs_per_fold, seed=val.seed, scale=val.scale)
