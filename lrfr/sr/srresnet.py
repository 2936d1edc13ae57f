"""SRResNet, the SRGAN generator (Ledig et al., CVPR 2017), and the backbone of C-Face (papers/004 §3.1).

Layout (the paper's Fig. 4)::

    LR ─ conv9×9(3→c) ─ PReLU ─┬─ B × ResidualBlock ─ conv3×3 ─ BN ─(+)─ log2(s) × [conv3×3(c→4c) ─
                               └────────────── long skip ───────────┘    PixelShuffle(2) ─ PReLU] ─ conv9×9(c→3) ─ HR

From the paper: the 9×9 head and tail convolutions, PReLU, residual blocks of conv3×3–BN–PReLU–
conv3×3–BN with identity skips, the conv–BN after the blocks with the long skip, sub-pixel ×2
stages (two for 4×; lrfr adds a third for 8×, as C-Face's 8× setting needs), and the defaults
``channels=64``, ``blocks=16``, ``batch_norm=True``. The paper feeds the LR image in [0, 1] and
regresses the HR image in [-1, 1].

lrfr's choices:

* **Value ranges.** ``forward`` takes [0, 1] (lrfr's image convention) and centres it to [-1, 1]
  before the head (a zero-mean input; the paper feeds [0, 1]). The tail regresses the HR image on
  the paper's [-1, 1] scale, and ``forward`` returns it mapped back to [0, 1] — unclamped, so a
  pixel loss sees the overshoot; :meth:`~lrfr.sr.base.SRModel.super_resolve` clamps.
* **Initialisation.** He-normal everywhere; each residual branch starts scaled by 0.1 (near
  identity), the upsampling convs use ICNR (no checkerboard at the start), and the tail conv is
  scaled by 0.1 so the first outputs sit near mid-grey (or near bicubic, below) rather than noise.
* **``bicubic_skip``** (default False = the paper): add the bicubic upscaling of the input to the
  output, so the network learns only the residual detail (as VDSR does). Converges much faster for
  the small CPU-sized variants; a config value, off for the paper's model.
* ``batch_norm=False`` removes every BN (the EDSR variant), for small-batch or GAN fine-tuning.
"""
from __future__ import annotations

import torch
from torch import nn

from lrfr.sr.base import SR_REGISTRY, SRModel
from lrfr.sr.blocks import PRELU_INIT, ResidualBlock, Upsampler, conv, he_init_, head_to_image, log2_scale

__all__ = ["SRResNet", "srresnet", "SCALES"]

SCALES = (2, 4, 8)


class SRResNet(SRModel):
    """SRResNet generator; see the module docstring for which values are the paper's."""

    def __init__(self, scale: int = 8, channels: int = 64, blocks: int = 16, batch_norm: bool = True,
                 bicubic_skip: bool = False):
        log2_scale(scale, SCALES)  # validates
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"srresnet: channels must be a positive int; got {channels!r}")
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
            raise ValueError(f"srresnet: blocks must be an int ≥ 0; got {blocks!r}")
        super().__init__(scale, "srresnet", {"scale": scale, "channels": channels, "blocks": blocks,
                                             "batch_norm": bool(batch_norm), "bicubic_skip": bool(bicubic_skip)})
        self.channels = channels
        self.bicubic_skip = bool(bicubic_skip)
        self.head = nn.Sequential(conv(3, channels, 9), nn.PReLU(channels, init=PRELU_INIT))
        trunk: list[nn.Module] = [ResidualBlock(channels, batch_norm) for _ in range(blocks)]
        trunk.append(conv(channels, channels, 3, bias=not batch_norm))
        if batch_norm:
            trunk.append(nn.BatchNorm2d(channels))
        self.trunk = nn.Sequential(*trunk)
        self.upsample = Upsampler(channels, scale, SCALES)
        self.tail = conv(channels, 3, 9)
        he_init_(self.head)
        he_init_(self.trunk[blocks:])  # the blocks initialise themselves (scaled branches)
        he_init_(self.tail, gain=0.1)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        feat = self.head(lr * 2.0 - 1.0)
        feat = feat + self.trunk(feat)
        out = self.tail(self.upsample(feat))  # the HR image on the paper's [-1, 1] scale
        return head_to_image(out, lr, self.scale, self.bicubic_skip)


@SR_REGISTRY.register("srresnet")
def srresnet(scale: int = 8, channels: int = 64, blocks: int = 16, batch_norm: bool = True,
             bicubic_skip: bool = False) -> SRResNet:
    """SRResNet (Ledig et al. 2017); defaults are the paper's 64 channels and 16 BN residual blocks."""
    return SRResNet(scale=scale, channels=channels, blocks=blocks, batch_norm=batch_norm,
                    bicubic_skip=bicubic_skip)
