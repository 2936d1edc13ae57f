"""Bicubic upscaling: the classic baseline front-end (no parameters)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lrfr.sr.base import SR_REGISTRY, SRModel

SCALES = (1, 2, 3, 4, 8, 16)


class Bicubic(SRModel):
    """LR (N, 3, h, w) → (N, 3, h·scale, w·scale) by bicubic interpolation, clamped to [0, 1].

    ``align_corners=False`` (the torch/PIL convention); clamping removes bicubic overshoot so the
    output honours lrfr's [0, 1] image contract even from ``forward``.
    """

    learned = False

    def __init__(self, scale: int = 8):
        if scale not in SCALES:
            raise ValueError(f"bicubic: scale must be one of {', '.join(map(str, SCALES))}; got {scale!r}")
        super().__init__(scale, "bicubic", {"scale": int(scale)})

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        if self.scale == 1:
            return lr
        h, w = lr.shape[-2:]
        out = F.interpolate(lr, size=(h * self.scale, w * self.scale), mode="bicubic", align_corners=False)
        return out.clamp_(0.0, 1.0)


@SR_REGISTRY.register("bicubic")
def bicubic(scale: int = 8) -> Bicubic:
    """Bicubic upscaling by ``scale`` (1, 2, 3, 4, 8 or 16)."""
    return Bicubic(scale=scale)
