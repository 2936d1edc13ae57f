"""The prior loss of the prior-guided attention generator (papers/003, eq. 3.6).

L_p is the mean squared difference between the generator's predicted face-parsing maps and the
true ones — 0/1 class maps ``(N, K, H, W)`` from a provider of :mod:`lrfr.priors.parsing` — at
the HR size. The thesis normalizes by the HR pixel count r²WH; lrfr's mean also divides by the
batch and the K maps (a constant factor the weight absorbs). Its coarse and fine SR losses
(eqs. 3.5, 3.7) are the pixel MSE (:class:`lrfr.losses.pixel.MSELoss`) on the two images.
"""
from __future__ import annotations

import torch

from lrfr.losses.pixel import MSELoss

__all__ = ["ParsingPriorLoss"]


class ParsingPriorLoss(MSELoss):
    """``weight · mean (P_pred − P_true)²`` over parsing maps ``(N, K, H, W)`` (eq. 3.6)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if torch.is_tensor(pred) and pred.dim() != 4:
            raise ValueError(f"ParsingPriorLoss expects parsing maps (N, K, H, W); got shape {tuple(pred.shape)}")
        return super().forward(pred, target)  # papers/003 eq. (3.6)
