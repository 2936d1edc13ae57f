"""PFSR's progressive generator and discriminator (Kim et al., BMVC 2019, papers/002 §3.1).

Generator (``"pfsr"``)::

    LR ─ conv3×3(3→c0) ─ BN ─ ReLU ─ step 1 ─ step 2 ─ step 3 ─ to-RGB₃ ─ HR (8×)
                                        └─ to-RGB₁ (2×)  └─ to-RGB₂ (4×)
    step k = B × [residual block: conv3×3 ─ BN ─ ReLU ─ conv3×3 ─ BN ─ ReLU, + skip]
             ─ ConvTranspose 4×4 stride 2 (c_{k-1} → c_k) ─ BN ─ ReLU;   to-RGB_k = conv1×1(c_k → 3)

Training grows it: at step ``s`` the output is to-RGB_s after steps 1…s (``2^s ×``); while the
fade-in weight α < 1 it is ``(1 − α)·NN-up(to-RGB_{s−1}(…)) + α·to-RGB_s(…)`` (the paper's
``(1 − α)·f(G^{N−1}(I)) + α·G^N(I)``). The step ``s`` and α are **buffers** (``progress_step``,
``progress_alpha``), so a checkpoint or model file restores them; :meth:`set_progress` sets them.
A freshly built generator sits at its last step with α = 1, where it honours the SR contract
(:mod:`lrfr.sr.base`): LR ``(N, 3, h, w)`` in [0, 1] → ``(N, 3, h·scale, w·scale)`` for any h × w
(14×12 → 28×24 → 56×48 → 112×96 at 8×). ``scale`` is that final factor; ``current_scale`` is
``2^s`` of the step it is at (smaller while training steps 1 and 2).

Discriminator (``"pfsr"``), the mirror: at step ``s`` the face (``2^s ×`` the LR size) goes through
from-RGB_s (conv1×1) and the blocks s, s−1, …, 1, each ``conv3×3 ─ LReLU ─ conv3×3 ─ LReLU ─
AvgPool 2×2``, fading in from ``from-RGB_{s−1}(AvgPool(x))`` while α < 1; then the minibatch
standard deviation (:class:`MinibatchStd`) as one more channel, conv3×3, global average pooling
and two dense layers → ``(N, 1)``. Global pooling makes it take any face size.

Provenance. From the paper: three ×2 steps of residual blocks with BatchNorm, transposed
convolutions and ReLU, a to-RGB layer per step, the fade-in with α rising linearly from 0 to 1;
a discriminator of conv, average pooling and LeakyReLU with a from-RGB layer per step and the
minibatch standard deviation concatenated at its end ("the standard deviation of the input
batch … replicated into a one-dimensional feature map"). From the authors' released code (the
paper does not print them): one residual block per step, widths 512 → 256 → 128 → 64 in both
networks, 4×4 transposed convolutions, 1×1 to/from-RGB layers, LeakyReLU slope 0.2, dense
2048, equalized learning rate (ProGAN's run-time He scaling) in the residual blocks and in the
discriminator's 3×3 convs, images on a [−1, 1] scale, and the batch statistic taken on the
*input images* (``mbstd_source="input"``; ProGAN takes it on the last features: ``"features"``).
lrfr's: [0, 1] in and out (mapped to the [−1, 1] scale inside; ``forward`` is unclamped), global
average pooling instead of the fixed 16×16 one, LeakyReLU after the last conv and between the
dense layers (the released code has none there), a biased standard deviation with ε = 1e-8 (so a
batch of one gives 0, not NaN), and ``blocks``, ``channels``, ``dense`` as config values for
narrow CPU variants.

``bicubic_skip`` (lrfr's, default False = the paper), as SRResNet's, GAFH-RIDN's and prior
attention's in lrfr: at every step the output is the bicubic upscaling of the LR face to that
step's size plus half the to-RGB head (whose weights then start at zero, so training starts from
exactly bicubic); the fade-in then blends the heads' *residuals*,
``bicubic_s(I) + ½·((1 − α)·NN-up(r_{s−1}) + α·r_s)``, since the bicubic base is already at the
new size. Narrow CPU-budget PFSRs without it stayed below bicubic on PSNR (pipelines/pfsr_synth.toml).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lrfr.sr.base import DISCRIMINATOR_REGISTRY, SR_REGISTRY, Discriminator, SRModel
from lrfr.sr.blocks import head_to_image, log2_scale

__all__ = ["PFSRGenerator", "PFSRDiscriminator", "MinibatchStd", "EqualizedConv2d", "ProgressMixin",
           "PAPER_CHANNELS", "pfsr", "pfsr_discriminator"]

#: widths before step 1 and after steps 1, 2, 3 (the released code's)
PAPER_CHANNELS = (512, 256, 128, 64)
SLOPE = 0.2
MBSTD_SOURCES = ("input", "features")


class EqualizedConv2d(nn.Conv2d):
    """A conv with ProGAN's equalized learning rate: weights drawn N(0, 1), scaled by He's
    ``√(2 / fan_in)`` at every forward (so Adam's step is the same for every layer)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3):
        super().__init__(in_ch, out_ch, kernel, padding=kernel // 2)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.gain = math.sqrt(2.0 / (in_ch * kernel * kernel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.gain, self.bias)


def _conv3(in_ch: int, out_ch: int, equalized: bool) -> nn.Conv2d:
    return EqualizedConv2d(in_ch, out_ch, 3) if equalized else nn.Conv2d(in_ch, out_ch, 3, padding=1)


class MinibatchStd(nn.Module):
    """Append one channel: the mean over ``source``'s (C, H, W) of its standard deviation over the
    batch, ``√(Var_batch + 1e-8)`` (biased), replicated over the batch and ``x``'s positions."""

    eps = 1e-8

    def forward(self, x: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        src = x if source is None else source
        std = (src.float().var(dim=0, unbiased=False) + self.eps).sqrt().mean().to(x.dtype)
        return torch.cat([x, std.expand(x.shape[0], 1, *x.shape[-2:])], 1)


class _ResBlock(nn.Module):
    """The released code's residual block: conv–BN–ReLU–conv–BN–ReLU, plus the identity."""

    def __init__(self, channels: int, equalized: bool):
        super().__init__()
        self.body = nn.Sequential(_conv3(channels, channels, equalized), nn.BatchNorm2d(channels), nn.ReLU(),
                                  _conv3(channels, channels, equalized), nn.BatchNorm2d(channels), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ProgressMixin:
    """The progressive step and fade-in α, kept as buffers (restored by ``load_state_dict``)."""

    steps: int

    def _init_progress(self) -> None:
        self.register_buffer("progress_step", torch.tensor(self.steps, dtype=torch.long))
        self.register_buffer("progress_alpha", torch.tensor(1.0))

    def set_progress(self, step: int, alpha: float) -> None:
        """Grow to ``step`` (1 … steps) with fade-in weight ``alpha`` ∈ [0, 1]."""
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= self.steps:
            raise ValueError(f"{type(self).__name__}: step must be an int in 1..{self.steps}; got {step!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"{type(self).__name__}: alpha must be in [0, 1]; got {alpha!r}")
        self.progress_step.fill_(step)
        self.progress_alpha.fill_(float(alpha))

    @property
    def progress(self) -> tuple[int, float]:
        """``(step, alpha)`` as Python numbers (reads the buffers)."""
        return int(self.progress_step), float(self.progress_alpha)


def _check_channels(name: str, channels: Sequence[int], steps: int) -> list[int]:
    ch = list(channels)
    if len(ch) != steps + 1 or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in ch):
        raise ValueError(f"{name}: channels must be {steps + 1} positive ints (before step 1, then after each of "
                         f"the {steps} steps); got {channels!r}")
    return ch


class PFSRGenerator(ProgressMixin, SRModel):
    """PFSR's progressive generator; see the module docstring for the layout and provenance."""

    def __init__(self, scale: int = 8, channels: Sequence[int] = PAPER_CHANNELS, blocks: int = 1,
                 equalized_lr: bool = True, bicubic_skip: bool = False):
        self.steps = log2_scale(scale)
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise ValueError(f"pfsr: blocks must be a positive int; got {blocks!r}")
        ch = _check_channels("pfsr", channels, self.steps)
        super().__init__(scale, "pfsr", {"scale": scale, "channels": ch, "blocks": blocks,
                                         "equalized_lr": bool(equalized_lr), "bicubic_skip": bool(bicubic_skip)})
        self.bicubic_skip = bool(bicubic_skip)
        self.stem = nn.Sequential(nn.Conv2d(3, ch[0], 3, padding=1), nn.BatchNorm2d(ch[0]), nn.ReLU())
        self.grow = nn.ModuleList(
            nn.Sequential(*[_ResBlock(ch[k], equalized_lr) for _ in range(blocks)],
                          nn.ConvTranspose2d(ch[k], ch[k + 1], 4, stride=2, padding=1), nn.BatchNorm2d(ch[k + 1]),
                          nn.ReLU())
            for k in range(self.steps))
        self.to_rgb = nn.ModuleList(nn.Conv2d(ch[k + 1], 3, 1) for k in range(self.steps))
        if self.bicubic_skip:  # every step starts as exactly bicubic
            for head in self.to_rgb:
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
        self._init_progress()

    @property
    def current_scale(self) -> int:
        return 2 ** int(self.progress_step)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        step, alpha = self.progress
        h = self.stem(lr * 2.0 - 1.0)
        for k in range(step - 1):
            h = self.grow[k](h)
        out = self.to_rgb[step - 1](self.grow[step - 1](h))
        if step > 1 and alpha < 1.0:  # fade-in: (1 − α)·NN-up(G^{s−1}) + α·G^s
            previous = F.interpolate(self.to_rgb[step - 2](h), scale_factor=2, mode="nearest")
            out = (1.0 - alpha) * previous + alpha * out
        return head_to_image(out, lr, 2**step, self.bicubic_skip)


class PFSRDiscriminator(ProgressMixin, Discriminator):
    """PFSR's progressive critic; ``steps`` = log2 of the generator's scale (3 for 8×)."""

    def __init__(self, steps: int = 3, channels: Sequence[int] = PAPER_CHANNELS, dense: int = 2048,
                 equalized_lr: bool = True, mbstd_source: str = "input"):
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"pfsr discriminator: steps must be a positive int; got {steps!r}")
        ch = _check_channels("pfsr discriminator", channels, steps)
        if isinstance(dense, bool) or not isinstance(dense, int) or dense < 1:
            raise ValueError(f"pfsr discriminator: dense must be a positive int; got {dense!r}")
        if mbstd_source not in MBSTD_SOURCES:
            raise ValueError(f"pfsr discriminator: mbstd_source must be one of {', '.join(MBSTD_SOURCES)}; "
                             f"got {mbstd_source!r}")
        super().__init__("pfsr", {"steps": steps, "channels": ch, "dense": dense, "equalized_lr": bool(equalized_lr),
                                  "mbstd_source": mbstd_source})
        self.steps, self.mbstd_source = steps, mbstd_source
        self.from_rgb = nn.ModuleList(nn.Conv2d(3, ch[k + 1], 1) for k in range(steps))
        # block k takes the resolution of step k+1 down to that of step k (ch[k+1] → ch[k])
        self.blocks = nn.ModuleList(
            nn.Sequential(_conv3(ch[k + 1], ch[k], equalized_lr), nn.LeakyReLU(SLOPE),
                          _conv3(ch[k], ch[k], equalized_lr), nn.LeakyReLU(SLOPE), nn.AvgPool2d(2))
            for k in range(steps))
        self.mbstd = MinibatchStd()
        self.final = nn.Sequential(_conv3(ch[0] + 1, ch[0], equalized_lr), nn.LeakyReLU(SLOPE))
        self.head = nn.Sequential(nn.Linear(ch[0], dense), nn.LeakyReLU(SLOPE), nn.Linear(dense, 1))
        self._init_progress()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        step, alpha = self.progress
        if min(x.shape[-2:]) < 2**step:
            raise ValueError(f"pfsr discriminator at step {step} needs faces of at least {2**step} px a side; "
                             f"got {tuple(x.shape)}")
        img = x * 2.0 - 1.0
        h = self.blocks[step - 1](self.from_rgb[step - 1](img))
        if step > 1 and alpha < 1.0:  # fade-in of the new block over the previous from-RGB
            h = (1.0 - alpha) * self.from_rgb[step - 2](F.avg_pool2d(img, 2)) + alpha * h
        for k in range(step - 2, -1, -1):
            h = self.blocks[k](h)
        h = self.mbstd(h, img if self.mbstd_source == "input" else None)
        h = self.final(h).mean(dim=(-2, -1))
        return self.head(h)


@SR_REGISTRY.register("pfsr")
def pfsr(scale: int = 8, channels: Sequence[int] = PAPER_CHANNELS, blocks: int = 1,
         equalized_lr: bool = True, bicubic_skip: bool = False) -> PFSRGenerator:
    """PFSR generator; defaults are the released code's widths (512 → 64), one block per step, no skip."""
    return PFSRGenerator(scale=scale, channels=channels, blocks=blocks, equalized_lr=equalized_lr,
                         bicubic_skip=bicubic_skip)


@DISCRIMINATOR_REGISTRY.register("pfsr")
def pfsr_discriminator(steps: int = 3, channels: Sequence[int] = PAPER_CHANNELS, dense: int = 2048,
                       equalized_lr: bool = True, mbstd_source: str = "input") -> PFSRDiscriminator:
    """PFSR discriminator; defaults are the released code's (512 ← 64 wide, dense 2048, batch std of the input)."""
    return PFSRDiscriminator(steps=steps, channels=channels, dense=dense, equalized_lr=equalized_lr,
                             mbstd_source=mbstd_source)
