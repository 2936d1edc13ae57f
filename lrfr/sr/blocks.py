"""Layers shared by lrfr's SR generators and discriminators.

SRResNet/SRGAN (Ledig et al. 2017) use them now; the GAFH-RIDN, PFSR and prior-guided generators
reuse the convolution helper, the sub-pixel upsampler and the initialisers.

Choices made here (lrfr's, not a paper's): ``same`` padding (``kernel // 2``); no bias in a conv
that a BatchNorm follows (the BN shift makes it redundant); channel-wise PReLU (one slope per
channel, He et al. 2015 — SRGAN does not say which form); He-normal initialisation for the PReLU
slope 0.25; sub-pixel convolutions initialised with ICNR (Aitken et al. 2017), so that at the
start each ×2 stage behaves like nearest-neighbour upsampling and produces no checkerboard.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["conv", "ResidualBlock", "Upsampler", "he_init_", "icnr_", "log2_scale", "head_to_image"]

#: PReLU's initial negative slope (torch's default); He initialisation is computed for it
PRELU_INIT = 0.25


def conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """A ``kernel × kernel`` convolution with ``same`` padding (``kernel`` odd)."""
    if kernel % 2 != 1:
        raise ValueError(f"conv: kernel must be odd for same padding; got {kernel}")
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias)


def he_init_(module: nn.Module, slope: float = PRELU_INIT, gain: float = 1.0) -> nn.Module:
    """He-normal init of every conv/linear weight in ``module`` for a leaky activation of negative
    slope ``slope``, scaled by ``gain``; biases zero; BatchNorm to (1, 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=slope, mode="fan_in", nonlinearity="leaky_relu")
            m.weight.data.mul_(gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def icnr_(conv_layer: nn.Conv2d, upscale: int = 2, slope: float = PRELU_INIT) -> nn.Conv2d:
    """ICNR initialisation (Aitken et al. 2017) of a conv that feeds ``PixelShuffle(upscale)``:
    He-init one sub-kernel per output channel and repeat it for the ``upscale²`` sub-pixels, so the
    shuffled output starts as a nearest-neighbour upsampling of a single convolution."""
    out_ch, in_ch, kh, kw = conv_layer.weight.shape
    r2 = upscale * upscale
    if out_ch % r2:
        raise ValueError(f"icnr_: {out_ch} output channels are not a multiple of upscale² = {r2}")
    sub = torch.empty(out_ch // r2, in_ch, kh, kw)
    nn.init.kaiming_normal_(sub, a=slope, mode="fan_in", nonlinearity="leaky_relu")
    with torch.no_grad():
        conv_layer.weight.copy_(sub.repeat_interleave(r2, dim=0))
        if conv_layer.bias is not None:
            conv_layer.bias.zero_()
    return conv_layer


def log2_scale(scale: int, allowed: tuple[int, ...] = (2, 4, 8)) -> int:
    """Number of ×2 stages for ``scale`` (a power of two in ``allowed``)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in allowed:
        raise ValueError(f"scale must be one of {', '.join(map(str, allowed))} (powers of 2); got {scale!r}")
    return int(math.log2(scale))


def head_to_image(out: torch.Tensor, lr: torch.Tensor, scale: int, bicubic_skip: bool) -> torch.Tensor:
    """An image head's output ``out`` on the [-1, 1] scale as a [0, 1] image; with ``bicubic_skip``, half of
    it added to the bicubic upscaling of ``lr`` instead (the head then learns a residual, as VDSR's)."""
    if bicubic_skip:
        h, w = lr.shape[-2:]
        base = F.interpolate(lr, size=(h * scale, w * scale), mode="bicubic", align_corners=False)
        return base + 0.5 * out
    return 0.5 * (out + 1.0)


class ResidualBlock(nn.Module):
    """SRResNet's residual block (Ledig et al. 2017, Fig. 4): conv3×3 → BN → PReLU → conv3×3 → BN,
    plus the identity skip. ``batch_norm=False`` drops both BNs (the EDSR variant, Lim et al. 2017).

    ``init_scale`` (lrfr's, default 0.1) shrinks the branch's last layer at initialisation — the BN
    scale γ, or the conv weights without BN — so every block starts close to the identity and a
    deep stack trains quickly and stably (the same idea as EDSR's residual scaling and Goyal et
    al.'s zero-γ init, applied to the initial values only).
    """

    def __init__(self, channels: int, batch_norm: bool = True, init_scale: float = 0.1):
        super().__init__()
        layers: list[nn.Module] = [conv(channels, channels, 3, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(channels))
        layers += [nn.PReLU(channels, init=PRELU_INIT), conv(channels, channels, 3, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(channels))
        self.body = nn.Sequential(*layers)
        he_init_(self.body)
        last = self.body[-1]
        with torch.no_grad():
            last.weight.mul_(init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsampler(nn.Sequential):
    """``log2(scale)`` sub-pixel ×2 stages (Shi et al. 2016, as in SRResNet): conv3×3 (c → 4c) →
    PixelShuffle(2) → PReLU. Works on any h × w; ICNR-initialised (see :func:`icnr_`)."""

    def __init__(self, channels: int, scale: int, allowed: tuple[int, ...] = (2, 4, 8)):
        stages: list[nn.Module] = []
        for _ in range(log2_scale(scale, allowed)):
            c = conv(channels, channels * 4, 3)
            icnr_(c, 2)
            stages += [c, nn.PixelShuffle(2), nn.PReLU(channels, init=PRELU_INIT)]
        super().__init__(*stages)
        self.scale = scale
