"""GAFH-RIDN's generator: Residual in Internal Dense Blocks (papers/001, details from its draft papers/000).

Layout::

    LR ─ SFM: conv9×9(3→c) ─┬─ MDBM: D × DNB ─ fusion conv3×3 ─(+)─ UM: log2(s) × [×2 up ─ conv3×3 ─ LReLU] ─ conv3×3(c→3) ─ tanh ─ HR
                            └──────────── global skip (F_SFM) ──────┘

    DNB  = x + α · RIDB(RIDB(RIDB(x)))                       (papers/001: 3 RIDBs and one scale layer, α = 0.2)
    RIDB = x + IDB(IDB(IDB(IDB(x))))                         (four internal dense blocks, residual around them)
    IDB  = x + LReLU(conv[x, f1]),  f1 = LReLU(conv(x))      (two conv + LeakyReLU groups, dense concatenation;
                                                              the internal blocks chained by identity residuals)

From the papers: the three stages SFM / MDBM / UM; the shallow 9×9 convolution (draft); 4 DNBs of
3 RIDBs (12 RIDBs in all); each RIDB of four internal dense blocks, each two conv + LeakyReLU
groups joined by dense concatenation, chained by residual connections; the DNB's scale layer
α = 0.2; the fusion convolution plus the global skip F_fused = conv(F_MDBM) + F_SFM; the UM of ×2
upsampling steps followed by one convolution; the draft's [−1, 1] input and tanh output; scales
4× and 8× (2× also works: any power of two in (2, 4, 8)).

Reconstructed (the papers' figure with kernel sizes and widths is not in the text) from the
closest public relative, ESRGAN's RRDB generator (Wang et al. 2018): 64 feature channels, growth
32 for the first conv of an internal block, 3×3 kernels in the trunk and UM, LeakyReLU slope 0.2,
×2 steps of nearest-neighbour upsampling + conv3×3 + LeakyReLU, weights of the dense blocks
initialised at 0.1 × He-normal (so every residual starts near the identity). lrfr's: the last conv
starts at zero, so training starts from mid-grey (or from bicubic with ``bicubic_skip``), not from
noise that an adversarial term can lock in.

lrfr's choices:

* **Value ranges.** lrfr's [0, 1] input is mapped to the draft's [−1, 1] before the SFM, and the
  tanh output on [−1, 1] back to [0, 1]: ``0.5 · (tanh(y) + 1)``. So ``forward`` stays in [0, 1]
  by construction (``super_resolve`` still clamps, as the contract says).
* **Any h × w** (14×12 → 112×96 at 8×: the paper's 8× is 32×32 → 256×256): the network is fully
  convolutional and the ×2 steps double whatever they are given.
* ``bicubic_skip`` (default False = the paper): the output is the bicubic upscaling plus
  ``0.5 · tanh(y)``, so the network learns only a residual. Much faster convergence for the
  narrow CPU variants; off for the paper's model.
"""
from __future__ import annotations

import torch
from torch import nn

from lrfr.sr.base import SR_REGISTRY, SRModel
from lrfr.sr.blocks import conv, he_init_, head_to_image, log2_scale

__all__ = ["GAFHRIDN", "InternalDenseBlock", "RIDB", "DenseNestedBlock", "gafh_ridn", "SCALES"]

SCALES = (2, 4, 8)
SLOPE = 0.2  # ESRGAN's LeakyReLU slope (reconstructed)
#: initial scale of the dense blocks' He-normal weights (ESRGAN's 0.1, reconstructed)
DENSE_INIT_GAIN = 0.1


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"gafh_ridn: {name} must be an int ≥ {minimum}; got {value!r}")
    return value


class InternalDenseBlock(nn.Module):
    """Two conv + LeakyReLU groups; the second sees the concatenation ``[x, f1]``; identity residual around both."""

    def __init__(self, channels: int, growth: int):
        super().__init__()
        self.conv1 = conv(channels, growth, 3)
        self.conv2 = conv(channels + growth, channels, 3)
        self.act = nn.LeakyReLU(SLOPE, inplace=True)
        he_init_(self, slope=SLOPE, gain=DENSE_INIT_GAIN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.act(self.conv1(x))
        return x + self.act(self.conv2(torch.cat([x, f1], 1)))


class RIDB(nn.Module):
    """Residual in Internal Dense Block: four internal dense blocks in a chain, plus the block's input."""

    def __init__(self, channels: int, growth: int, internal_blocks: int = 4):
        super().__init__()
        self.body = nn.Sequential(*(InternalDenseBlock(channels, growth) for _ in range(internal_blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DenseNestedBlock(nn.Module):
    """Dense Nested Block: ``x + α · RIDB_n(… RIDB_1(x))`` with the scale layer α (papers/001: 0.2)."""

    def __init__(self, channels: int, growth: int, ridbs: int = 3, residual_scale: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(*(RIDB(channels, growth) for _ in range(ridbs)))
        self.residual_scale = residual_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual_scale * self.body(x)


class GAFHRIDN(SRModel):
    """GAFH-RIDN generator; see the module docstring for which values are the papers'."""

    def __init__(self, scale: int = 8, channels: int = 64, growth: int = 32, dnbs: int = 4, ridbs: int = 3,
                 residual_scale: float = 0.2, bicubic_skip: bool = False):
        log2_scale(scale, SCALES)  # validates
        _positive_int("channels", channels)
        _positive_int("growth", growth)
        _positive_int("dnbs", dnbs, 0)
        _positive_int("ridbs", ridbs)
        if isinstance(residual_scale, bool) or not isinstance(residual_scale, (int, float)) or residual_scale <= 0:
            raise ValueError(f"gafh_ridn: residual_scale must be a positive number; got {residual_scale!r}")
        super().__init__(scale, "gafh_ridn", {"scale": scale, "channels": channels, "growth": growth, "dnbs": dnbs,
                                              "ridbs": ridbs, "residual_scale": float(residual_scale),
                                              "bicubic_skip": bool(bicubic_skip)})
        self.bicubic_skip = bool(bicubic_skip)
        self.sfm = conv(3, channels, 9)  # the draft's 9×9 shallow feature conv
        self.mdbm = nn.Sequential(*(DenseNestedBlock(channels, growth, ridbs, float(residual_scale))
                                    for _ in range(dnbs)))
        self.fusion = conv(channels, channels, 3)
        steps: list[nn.Module] = []
        for _ in range(log2_scale(scale, SCALES)):
            steps += [nn.Upsample(scale_factor=2, mode="nearest"), conv(channels, channels, 3),
                      nn.LeakyReLU(SLOPE, inplace=True)]
        self.um = nn.Sequential(*steps)
        self.tail = conv(channels, 3, 3)  # "followed by one Conv layer", then tanh
        he_init_(self.sfm, slope=SLOPE)
        he_init_(self.fusion, slope=SLOPE)
        he_init_(self.um, slope=SLOPE)
        nn.init.zeros_(self.tail.weight)  # the first output is mid-grey, or exactly bicubic with the skip
        nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        shallow = self.sfm(lr * 2.0 - 1.0)  # the draft's [-1, 1] input range
        fused = self.fusion(self.mdbm(shallow)) + shallow  # F_fused = conv(F_MDBM) + F_SFM
        out = torch.tanh(self.tail(self.um(fused)))  # the draft's tanh: HR on [-1, 1]
        return head_to_image(out, lr, self.scale, self.bicubic_skip)


@SR_REGISTRY.register("gafh_ridn")
def gafh_ridn(scale: int = 8, channels: int = 64, growth: int = 32, dnbs: int = 4, ridbs: int = 3,
              residual_scale: float = 0.2, bicubic_skip: bool = False) -> GAFHRIDN:
    """GAFH-RIDN generator; defaults are the paper's 4 DNBs × 3 RIDBs and α = 0.2, ESRGAN's widths 64 / 32."""
    return GAFHRIDN(scale=scale, channels=channels, growth=growth, dnbs=dnbs, ridbs=ridbs,
                    residual_scale=residual_scale, bicubic_skip=bicubic_skip)
