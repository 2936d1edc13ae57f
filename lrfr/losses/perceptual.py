"""Perceptual (feature) loss: the distance between frozen features of the SR image and of its HR target.

Papers: C-Face's content loss L_P (papers/004, eq. 2: squared difference of VGG19 φ_{i,j} maps
averaged over positions), GAFH-RIDN's L_content (papers/001, φ_{3,4}), PFSR's L_feat
(papers/002, eq. 3, on VGG16 — lrfr offers VGG19 or a face recognizer instead), SRGAN's VGG loss.

lrfr's reduction is the mean over every element (batch, channels, positions). The papers'
equations divide by W·H only; with ``criterion="mse"`` lrfr's value is theirs divided by the
channel count (and averaged over the batch) — a constant factor that the recipe's β absorbs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lrfr.losses.base import WeightedLoss, check_same_shape

__all__ = ["PerceptualLoss", "CRITERIA"]

CRITERIA = {"l1": F.l1_loss, "mse": F.mse_loss}


class PerceptualLoss(WeightedLoss):
    """``weight · criterion(extractor(pred), extractor(target))``.

    Parameters
    ----------
    extractor : a frozen feature module — :class:`~lrfr.losses.features.VGG19Features`,
        :class:`~lrfr.losses.features.RecognizerFeatures` or any module whose parameters all have
        ``requires_grad=False`` (a trainable extractor is refused: it would silently collect
        gradients; freeze it first). Build one by name with ``lrfr.losses.build_extractor``.
    criterion : ``"mse"`` (the papers' squared Euclidean distance, eq. 2 of papers/004) or ``"l1"``.
        The default ``"l1"`` is lrfr's (BasicSR's perceptual-loss default); C-Face recipes set ``"mse"``.
    weight : β of the recipe's total loss (papers/004 eq. 7 uses β = 1.0).

    The target's features are computed under ``torch.no_grad()``; gradients flow to ``pred`` only.
    """

    def __init__(self, extractor: nn.Module, criterion: str = "l1", weight: float = 1.0):
        super().__init__(weight)
        if not isinstance(extractor, nn.Module):
            raise TypeError(f"extractor must be an nn.Module (see lrfr.losses.build_extractor); "
                            f"got {type(extractor).__name__}")
        if any(p.requires_grad for p in extractor.parameters()):
            raise ValueError(f"the feature extractor {type(extractor).__name__} has trainable parameters; a "
                             "perceptual loss needs a frozen one (extractor.requires_grad_(False), or use "
                             "lrfr.losses.build_extractor)")
        if criterion not in CRITERIA:
            raise ValueError(f"unknown perceptual criterion {criterion!r}; known: {', '.join(CRITERIA)}")
        self.extractor = extractor
        self.criterion = criterion

    def extra_repr(self) -> str:
        return f"criterion={self.criterion!r}, weight={self.weight:g}"

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_same_shape(pred, target, type(self).__name__)
        pred_features = self.extractor(pred)
        with torch.no_grad():
            target_features = self.extractor(target)
        # papers/004 eq. (2) with criterion="mse" (up to the constant factor in the module docstring)
        return self.weight * CRITERIA[self.criterion](pred_features, target_features)
