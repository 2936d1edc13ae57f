"""The SR recipe's optional terms for prior-guided generators (papers/003, ``prior_attention``).

The thesis trains its generator on L_content = L_c + L_p + L_f (eq. 3.8): the coarse SR image
against the HR face (L_c, eq. 3.5), the predicted face-parsing maps against the true ones (L_p,
eq. 3.6) and the fine SR image against the HR face (L_f, eq. 3.7). In lrfr's SR recipe L_f is the
recipe's pixel loss (``[loss] pixel = "mse"``); this module adds L_c (``coarse_weight``, same
criterion) and L_p (``prior_weight``) when either weight is > 0, calling the generator's
``forward_with_priors``. Method 2 (eq. 3.10) is the same recipe with a discriminator and a
perceptual term on top.

The true maps of step ``s`` come from a parsing provider (:mod:`lrfr.priors.parsing`) for the
very items of the step's batch, flipped and cropped by the same ``(seed, s)`` draws as their faces.
"""
from __future__ import annotations

import torch

__all__ = ["PriorTerms", "prior_terms_for", "PARSING_SOURCES"]

PARSING_SOURCES = ("auto", "synth", "landmarks")


class _ProviderRows:
    """A parsing provider seen as a pre-decoded data set (``batch(indices) -> (maps, labels)``), so the
    recipe's own batch drawing (rows, augmentation) applies to the maps exactly as to the faces."""

    def __init__(self, provider):
        self.provider = provider

    def batch(self, indices: torch.Tensor):
        return self.provider.maps(indices), None


def parsing_provider(source: str, data_cfg, hr_size: tuple[int, int]):
    """The provider of true maps named by ``[loss] parsing`` for the training set of ``data_cfg``."""
    from lrfr.priors.parsing import LandmarkParsing, SynthParsing

    if source not in PARSING_SOURCES:
        raise ValueError(f"[loss] parsing must be one of {', '.join(map(repr, PARSING_SOURCES))}; got {source!r}")
    if source == "auto":
        source = "synth" if data_cfg.source == "synth" else "landmarks"
    if source == "landmarks":
        return LandmarkParsing(hr_size)
    if data_cfg.source != "synth":
        raise ValueError(f"[loss] parsing = 'synth' needs [data] source = 'synth' (SynthFaces' exact maps); got "
                         f"source = {data_cfg.source!r} — use parsing = 'landmarks' for aligned real faces")
    from lrfr.data.synth import SynthFaces

    # the same arguments as the training set's (lrfr.engine.training_set): the same faces, so the same maps
    return SynthParsing(SynthFaces(n_identities=data_cfg.n_identities, images_per_identity=data_cfg.images_per_identity,
                                   size=tuple(hr_size), seed=data_cfg.seed, identity_offset=data_cfg.identity_offset))


class PriorTerms:
    """L_c and L_p of ``recipe`` (an :class:`~lrfr.recipes.sr.recipe.SRRecipe` whose generator has a prior branch)."""

    def __init__(self, recipe):
        from lrfr.losses import build_loss

        cfg, L = recipe.cfg, recipe.cfg.loss
        if not hasattr(recipe.G, "forward_with_priors"):
            raise ValueError(f"[loss] coarse_weight / prior_weight need a generator with a prior branch "
                             f"(prior_attention); [model] arch = {cfg.model.arch!r} has none")
        self.recipe = recipe
        self.coarse = build_loss(L.pixel, weight=L.coarse_weight) if L.coarse_weight > 0 else None
        self.prior = build_loss("parsing_prior", weight=L.prior_weight) if L.prior_weight > 0 else None
        self.maps = None
        if self.prior is not None:
            provider = parsing_provider(L.parsing, cfg.data, recipe.hr_size)
            if len(provider.classes) != recipe.G.parsing_classes:
                raise ValueError(f"[model] kwargs parsing_classes = {recipe.G.parsing_classes}, but the "
                                 f"{L.parsing!r} parsing maps have {len(provider.classes)} classes "
                                 f"({', '.join(provider.classes)})")
            self.maps = _ProviderRows(provider)

    def targets(self, step: int) -> torch.Tensor:
        """The true parsing maps of step ``step``'s batch, augmented like its faces."""
        from lrfr.engine.batches import draw_batch

        r, a = self.recipe, self.recipe.cfg.augment
        maps, _ = draw_batch(self.maps, r.batches, step, r.cfg.run.seed, a.hflip, a.crop_pad)
        return maps.to(r.device, non_blocking=True)

    def losses(self, outputs, hr: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """The weighted L_c and L_p of G's outputs (:class:`~lrfr.sr.prior_attention.PriorOutputs`) at ``step``."""
        out: dict[str, torch.Tensor] = {}
        if self.coarse is not None:
            out["coarse"] = self.coarse(outputs.coarse, hr)  # papers/003 eq. (3.5)
        if self.prior is not None:
            out["prior"] = self.prior(outputs.parsing, self.targets(step))  # papers/003 eq. (3.6)
        return out


def prior_terms_for(recipe) -> PriorTerms | None:
    """:class:`PriorTerms` when the recipe's ``[loss]`` asks for L_c or L_p, else ``None``."""
    L = recipe.cfg.loss
    if getattr(L, "coarse_weight", 0.0) > 0 or getattr(L, "prior_weight", 0.0) > 0:
        return PriorTerms(recipe)
    return None
