"""Prior-guided attention SR (papers/003, Liu 2023, method 1; method 2 is the same generator trained with a GAN).

Layout::

    LR ─┬─ SR branch:    conv9×9 ─ PReLU ─┬─ B × AttentionBlock ─ conv3×3 ─(+)─ log2(s) × [conv ─ PixelShuffle(2) ─ PReLU] ─ conv9×9 ─ coarse SR
        │                                 └────────── long skip ────────┘
        └─ prior branch: conv3×3 ─ ReLU ─ R × ResidualBlock ─ Hourglass ─ log2(s) × [conv ─ PixelShuffle(2) ─ PReLU] ─ conv3×3 ─ K parsing maps
    fusion: concat(coarse SR, parsing maps) ─ conv3×3 ─ PReLU ─ ResidualBlock ─ conv3×3 ─ fine SR (what ``forward`` returns)

    AttentionBlock(x) = x + conv3×3(ReLU(F' · softmax(fc2(ReLU(fc1(GAP(F'))))))),  F' = conv3×3(x) + dilated conv3×3(x)

From the thesis: the two branches from the LR image, trained together end to end with the fusion
module; the SR branch follows SRResNet with its residual blocks replaced by 16 basic blocks of a
3×3 and a dilated ("5×5") convolution summed (eq. 3.1), squeeze by global average pooling
(eq. 3.2), two dense layers with a **softmax** over the channels (eq. 3.3), the weighted features
through ReLU and a convolution (eq. 3.4); the conv after the blocks, three PixelShuffle ×2 stages
at 64 channels (Table 3.1: 16×16 → 128×128 at 8×), a conv to the coarse SR image; an hourglass
prior branch predicting face-parsing maps at the HR size; the fusion module concat → conv →
residual block → conv (Table 3.3: 3 + 11 → 64 → 64 → 3).

Reconstructed (the thesis' figures and its prior-branch table are not in the text):

* The basic block keeps SRResNet's identity skip (it is SRResNet's residual block "modified" by
  the attention); SENet's reduction ratio 16 and ReLU between the two dense layers; dilation 2 for
  the "5×5" convolution (a 3×3 kernel covering 5×5).
* SRResNet's 9×9 head and tail convs, PReLU, and the long skip over the blocks.
* The prior branch, after FSRNet's prior estimation network (Chen et al. 2018, conv → residual
  blocks → hourglass) and Newell et al.'s hourglass: 3 residual blocks, one hourglass of depth 3
  (16×16 → 2×2 at the thesis' size; odd sizes such as 14×12 pool with ceil and upsample back to
  the skip's size), then the same ×2 PixelShuffle stages as the SR branch to reach the HR size.
  The maps are linear outputs (no softmax): the prior loss is an MSE to 0/1 class maps (eq. 3.6).
* Table 3.1's last row (64 → 11 channels) is read as the prior branch's output layer: the fusion
  module concatenates a 3-channel coarse SR with 11 maps (Table 3.3).
* ``parsing_classes`` = 7, SynthFaces' classes (background, skin, brows, eyes, nose, mouth, hair);
  the thesis has 11 (CelebAMask-HQ's hand-labelled maps, which lrfr does not have).

lrfr's choices: [0, 1] in, each image head regressing the image on [−1, 1] mapped back to [0, 1]
(as :mod:`lrfr.sr.srresnet`); ``bicubic_skip`` (default False = the thesis) adds the bicubic
upscaling to both image heads so they learn residuals (fast convergence of narrow CPU variants).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from lrfr.sr.base import SR_REGISTRY, SRModel
from lrfr.sr.blocks import PRELU_INIT, ResidualBlock, Upsampler, conv, he_init_, head_to_image, log2_scale

__all__ = ["PriorAttentionSR", "PriorOutputs", "AttentionBlock", "Hourglass", "prior_attention", "SCALES"]

SCALES = (2, 4, 8)


class PriorOutputs(NamedTuple):
    """Everything the generator predicts: ``sr`` (the fine SR, = ``forward``), ``coarse`` (the SR
    branch's image) and ``parsing`` (``(N, K, H, W)`` maps at the HR size)."""

    sr: torch.Tensor
    coarse: torch.Tensor
    parsing: torch.Tensor


class AttentionBlock(nn.Module):
    """The SR branch's basic block: multi-scale convs summed, softmax channel attention, ReLU, conv, skip."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.conv3 = conv(channels, channels, 3)
        self.conv5 = nn.Conv2d(channels, channels, 3, padding=2, dilation=2)  # a 3×3 kernel over 5×5
        hidden = max(1, channels // reduction)
        self.excite = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.out = conv(channels, channels, 3)
        he_init_(self, slope=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = self.conv3(x) + self.conv5(x)  # eq. (3.1)
        weights = torch.softmax(self.excite(fused.mean(dim=(2, 3))), dim=1)  # eqs. (3.2)–(3.3)
        return x + self.out(F.relu(fused * weights[:, :, None, None]))  # eq. (3.4), plus SRResNet's skip


class Hourglass(nn.Module):
    """Newell et al.'s hourglass of residual blocks: skip branch + (pool → deeper hourglass → upsample)."""

    def __init__(self, channels: int, depth: int, batch_norm: bool = True):
        super().__init__()
        self.skip = ResidualBlock(channels, batch_norm)
        self.down = ResidualBlock(channels, batch_norm)
        self.inner = Hourglass(channels, depth - 1, batch_norm) if depth > 1 else ResidualBlock(channels, batch_norm)
        self.up = ResidualBlock(channels, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.down(F.max_pool2d(x, 2, ceil_mode=True))  # ceil: odd sides (7 → 4) lose no row
        low = self.up(self.inner(low))
        return self.skip(x) + F.interpolate(low, size=x.shape[-2:], mode="nearest")


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"prior_attention: {name} must be an int ≥ {minimum}; got {value!r}")
    return value


class PriorAttentionSR(SRModel):
    """Prior-guided attention SR generator; see the module docstring for which values are the thesis'.

    ``forward(lr)`` is the fine SR (the SR contract); :meth:`forward_with_priors` also returns the
    coarse SR and the parsing maps that the thesis' losses L_c and L_p supervise.
    """

    def __init__(self, scale: int = 8, channels: int = 64, blocks: int = 16, reduction: int = 16,
                 prior_channels: int = 64, prior_blocks: int = 3, hourglass_depth: int = 3, parsing_classes: int = 7,
                 batch_norm: bool = True, bicubic_skip: bool = False):
        log2_scale(scale, SCALES)
        for name, value, minimum in (("channels", channels, 1), ("blocks", blocks, 0), ("reduction", reduction, 1),
                                     ("prior_channels", prior_channels, 1), ("prior_blocks", prior_blocks, 0),
                                     ("hourglass_depth", hourglass_depth, 1), ("parsing_classes", parsing_classes, 1)):
            _check_int(name, value, minimum)
        super().__init__(scale, "prior_attention", {
            "scale": scale, "channels": channels, "blocks": blocks, "reduction": reduction,
            "prior_channels": prior_channels, "prior_blocks": prior_blocks, "hourglass_depth": hourglass_depth,
            "parsing_classes": parsing_classes, "batch_norm": bool(batch_norm), "bicubic_skip": bool(bicubic_skip)})
        self.parsing_classes = parsing_classes
        self.bicubic_skip = bool(bicubic_skip)
        # SR branch (Table 3.1)
        self.head = nn.Sequential(conv(3, channels, 9), nn.PReLU(channels, init=PRELU_INIT))
        self.trunk = nn.Sequential(*(AttentionBlock(channels, reduction) for _ in range(blocks)),
                                   conv(channels, channels, 3))
        self.upsample = Upsampler(channels, scale, SCALES)
        self.coarse_tail = conv(channels, 3, 9)
        # prior branch (reconstructed after FSRNet's prior network)
        self.prior = nn.Sequential(conv(3, prior_channels, 3), nn.ReLU(inplace=True),
                                   *(ResidualBlock(prior_channels, batch_norm) for _ in range(prior_blocks)),
                                   Hourglass(prior_channels, hourglass_depth, batch_norm),
                                   Upsampler(prior_channels, scale, SCALES),
                                   conv(prior_channels, parsing_classes, 3))
        # fusion module (Table 3.3)
        self.fusion = nn.Sequential(conv(3 + parsing_classes, channels, 3), nn.PReLU(channels, init=PRELU_INIT),
                                    ResidualBlock(channels, batch_norm), conv(channels, 3, 3))
        he_init_(self.head)
        he_init_(self.trunk[-1])
        he_init_(self.coarse_tail, gain=0.1)
        he_init_(self.prior[0], slope=0.0)
        he_init_(self.prior[-1], slope=0.0)
        he_init_(self.fusion[0])
        he_init_(self.fusion[-1], gain=0.1)

    def forward_with_priors(self, lr: torch.Tensor) -> PriorOutputs:
        self.check_input(lr)
        x = lr * 2.0 - 1.0
        feat = self.head(x)
        feat = feat + self.trunk(feat)
        coarse = head_to_image(self.coarse_tail(self.upsample(feat)), lr, self.scale, self.bicubic_skip)
        parsing = self.prior(x)
        fine = head_to_image(self.fusion(torch.cat([coarse, parsing], 1)), lr, self.scale,
                             self.bicubic_skip)
        return PriorOutputs(fine, coarse, parsing)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.forward_with_priors(lr).sr


@SR_REGISTRY.register("prior_attention")
def prior_attention(scale: int = 8, channels: int = 64, blocks: int = 16, reduction: int = 16, prior_channels: int = 64,
                    prior_blocks: int = 3, hourglass_depth: int = 3, parsing_classes: int = 7, batch_norm: bool = True,
                    bicubic_skip: bool = False) -> PriorAttentionSR:
    """Prior-guided attention SR (papers/003); defaults: the thesis' 16 blocks of 64 channels, lrfr's 7 classes."""
    return PriorAttentionSR(scale=scale, channels=channels, blocks=blocks, reduction=reduction,
                            prior_channels=prior_channels, prior_blocks=prior_blocks, hourglass_depth=hourglass_depth,
                            parsing_classes=parsing_classes, batch_norm=batch_norm, bicubic_skip=bicubic_skip)
