"""Bicubic upscaling: the classic baseline front-end (no parameters)."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from lrfr.sr import SR_REGISTRY


class Bicubic(nn.Module):
    """LR (N, 3, h, w) → (N, 3, h·scale, w·scale) by bicubic interpolation, clamped to [0, 1].

    ``align_corners=False`` (the torch/PIL convention); clamping removes bicubic overshoot so the
    output honours lrfr's [0, 1] image contract.
    """

    def __init__(self, scale: int = 8):
        super().__init__()
        if scale not in (1, 2, 3, 4, 8, 16):
            raise ValueError(f"bicubic: scale must be one of 1, 2, 3, 4, 8, 16; got {scale}")
        self.scale = scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        if self.scale == 1:
            return lr
        h, w = lr.shape[-2:]
        out = F.interpolate(lr, size=(h * self.scale, w * self.scale), mode="bicubic", align_corners=False)
        return out.clamp_(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


@SR_REGISTRY.register("bicubic")
def bicubic(scale: int = 8, **_ignored) -> Bicubic:
    return Bicubic(scale=scale)
