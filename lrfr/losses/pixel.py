"""Pixel losses between an SR image and its HR target: L1, MSE, Charbonnier.

Each is the mean over every element (batch, channels, pixels) times the module's ``weight``;
prediction and target must have the same shape (no silent broadcasting).

Where the papers use them: PFSR's L_pixel is the MSE (papers/002, eq. 2, normalized by the
pixel count; lrfr's mean also divides by batch and channels — a constant factor absorbed by α),
the prior-guided thesis's coarse/fine SR losses are MSE (papers/003, method 1), SRResNet's content
loss is MSE (Ledig et al. 2017). L1 and Charbonnier are lrfr's additions for pixel-loss
pretraining; Charbonnier is LapSRN's robust L1 (Lai et al. 2017), ``ε = 1e-3`` as there.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lrfr.losses.base import WeightedLoss, check_same_shape, check_weight

__all__ = ["L1Loss", "MSELoss", "CharbonnierLoss"]


class L1Loss(WeightedLoss):
    """``weight · mean|pred − target|``."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_same_shape(pred, target, type(self).__name__)
        return self.weight * F.l1_loss(pred, target)


class MSELoss(WeightedLoss):
    """``weight · mean (pred − target)²``."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_same_shape(pred, target, type(self).__name__)
        return self.weight * F.mse_loss(pred, target)  # PFSR L_pixel, papers/002 eq. (2)


class CharbonnierLoss(WeightedLoss):
    """``weight · mean sqrt((pred − target)² + ε²)`` — LapSRN's form and ε (1e-3).

    Note the value at a perfect prediction is ε, not 0 (LapSRN's definition; the offset carries
    no gradient).
    """

    def __init__(self, eps: float = 1e-3, weight: float = 1.0):
        super().__init__(weight)
        self.eps = check_weight(eps, "eps")
        if self.eps == 0:
            raise ValueError("eps must be > 0 (sqrt has no gradient at 0)")

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}, weight={self.weight:g}"

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_same_shape(pred, target, type(self).__name__)
        diff = pred - target
        return self.weight * torch.sqrt(diff * diff + self.eps * self.eps).mean()
