"""PFSR's landmark losses (papers/002): the facial attention loss (eq. 1) and the heatmap loss (eq. 5).

Both take landmark heatmaps ``(N, K, H, W)`` at the image's resolution — from a frozen,
differentiable heatmap network (:class:`lrfr.priors.landmarks.HeatmapNet`) — not the network itself,
so they are pure functions of tensors.

Min-max normalization (:func:`minmax_normalize`): each heatmap is mapped to [0, 1] by its own
minimum and maximum, per image and per landmark — the paper's reading ("to compensate for the
variance between the landmarks, the heatmap M is min-max normalized into [0, 1]"). The authors'
released code normalizes over all landmarks of an image (over the whole batch for the attention
map) and, for the generated heatmap of the heatmap loss, divides by the generated maximum minus
the *target's* minimum; lrfr uses each map's own minimum and maximum. A flat map (max = min) maps
to 0.

* **Facial attention loss, eq. (1)**: ``η · mean_{n,c,y,x} M*_{n,y,x} · |I^HR − G(I^LR)|_{n,c,y,x}``
  with ``M* = max_k minmax(M)_k``, the channel-wise maximum of the normalized *target* heatmaps. The
  paper's ``1/(r²WH) Σ`` is the mean over pixels; lrfr also averages over the batch and the RGB
  channels (the released code's ``torch.mean``), a constant the weight absorbs. The map carries no
  gradient (it weighs the pixel difference).
* **Heatmap loss, eq. (5)**: ``λ · mean_{n,k,y,x} (M − M̃)²`` with ``M = F_d(I^HR)``,
  ``M̃ = F_d(G(I^LR))`` — eq. 5's ``1/(r²NWH) Σ`` over landmarks and pixels, averaged over the batch.
  ``normalize=True`` (default, as the released code) min-max normalizes both first; ``False`` compares
  the raw network outputs (the equation as printed). Gradients flow into ``M̃`` only.
"""
from __future__ import annotations

import torch

from lrfr.losses.base import WeightedLoss, check_same_shape

__all__ = ["minmax_normalize", "attention_map", "FacialAttentionLoss", "HeatmapLoss"]


def _check_heatmaps(x: torch.Tensor, what: str) -> None:
    if not torch.is_tensor(x) or x.dim() != 4:
        raise ValueError(f"{what} must be landmark heatmaps (N, K, H, W); got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")


def minmax_normalize(heatmaps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Each map of ``(N, K, H, W)`` scaled to [0, 1] by its own min and max (a flat map → 0)."""
    _check_heatmaps(heatmaps, "minmax_normalize's input")
    lo = heatmaps.amin(dim=(-2, -1), keepdim=True)
    hi = heatmaps.amax(dim=(-2, -1), keepdim=True)
    return (heatmaps - lo) / (hi - lo).clamp_min(eps)


def attention_map(target_heatmaps: torch.Tensor) -> torch.Tensor:
    """PFSR's landmark attention map ``M*`` ``(N, 1, H, W)``: channel-wise max of the normalized heatmaps."""
    return minmax_normalize(target_heatmaps).amax(dim=1, keepdim=True)


class FacialAttentionLoss(WeightedLoss):
    """``weight · mean(M* · |hr − sr|)`` (papers/002 eq. 1); ``target_heatmaps`` are those of ``hr``."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, target_heatmaps: torch.Tensor) -> torch.Tensor:
        check_same_shape(sr, hr, type(self).__name__)
        _check_heatmaps(target_heatmaps, "target_heatmaps")
        if target_heatmaps.shape[0] != sr.shape[0] or target_heatmaps.shape[-2:] != sr.shape[-2:]:
            raise ValueError(f"FacialAttentionLoss: heatmaps {tuple(target_heatmaps.shape)} do not match the "
                             f"images {tuple(sr.shape)} (same N, H, W expected)")
        weights = attention_map(target_heatmaps.detach())
        return self.weight * (weights * (hr - sr).abs()).mean()  # eq. (1)


class HeatmapLoss(WeightedLoss):
    """``weight · mean((M − M̃)²)`` between target and SR heatmaps (papers/002 eq. 5)."""

    def __init__(self, normalize: bool = True, weight: float = 1.0):
        super().__init__(weight)
        self.normalize = bool(normalize)

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}, weight={self.weight:g}"

    def forward(self, sr_heatmaps: torch.Tensor, target_heatmaps: torch.Tensor) -> torch.Tensor:
        _check_heatmaps(sr_heatmaps, "sr_heatmaps")
        check_same_shape(sr_heatmaps, target_heatmaps, type(self).__name__)
        target = target_heatmaps.detach()
        if self.normalize:  # each with its own min and max (not the target's min: the released code's slip)
            sr_heatmaps, target = minmax_normalize(sr_heatmaps), minmax_normalize(target)
        return self.weight * ((target - sr_heatmaps) ** 2).mean()  # eq. (5)
