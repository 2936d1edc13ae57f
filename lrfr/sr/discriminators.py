"""The SRGAN discriminator (Ledig et al., CVPR 2017, Fig. 4), made size-agnostic.

From the paper: eight 3×3 convolutions with channels c, c, 2c, 2c, 4c, 4c, 8c, 8c (c = 64) and
strides 1, 2, 1, 2, 1, 2, 1, 2; LeakyReLU with slope 0.2; BatchNorm after every conv but the first;
then a dense layer of 1024 units, LeakyReLU, and a dense layer of one unit. The paper ends with a
sigmoid; lrfr returns the logit (N, 1) and leaves the sigmoid to the adversarial loss (BCE with
logits, RaGAN and WGAN all want the logit).

lrfr's choices:

* **Any input size.** The paper (and BasicSR's VGG-style discriminator) flattens the last feature
  map, which fixes the input size (96×96 in the paper; 128 or 256 in BasicSR). lrfr inserts an
  adaptive average pooling to a ``pool × pool`` grid (default 4) before the dense layers, so
  112×96 faces, 64×64 and 16×16 crops all work with the same weights. ``pool=4`` keeps a coarse
  spatial layout (the paper's 96×96 input gives 6×6 there); ``pool=1`` is global average pooling.
* ``channels`` (c, paper 64) and ``dense`` (paper 1024) are config values, so tiny CPU variants
  exist; ``batch_norm=False`` drops the BNs (a WGAN-GP critic should not batch-normalise).
* Input in [0, 1] (lrfr's convention) is centred to [-1, 1] inside, the range SRGAN's
  discriminator sees. No bias in a conv that a BN follows; He-normal initialisation.
"""
from __future__ import annotations

import torch
from torch import nn

from lrfr.sr.base import DISCRIMINATOR_REGISTRY, Discriminator
from lrfr.sr.blocks import conv, he_init_

__all__ = ["SRGANDiscriminator", "srgan", "RelativisticAverageDiscriminator", "gafh_rad"]

#: (width multiple of c, stride) of the eight convolutions — the paper's
LAYERS = ((1, 1), (1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2))
SLOPE = 0.2


class SRGANDiscriminator(Discriminator):
    """SRGAN discriminator with adaptive pooling; see the module docstring for the provenance."""

    ARCH = "srgan"
    LAYERS = LAYERS

    def __init__(self, channels: int = 64, dense: int = 1024, pool: int = 4, batch_norm: bool = True):
        for key, val in (("channels", channels), ("dense", dense), ("pool", pool)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"{self.ARCH} discriminator: {key} must be a positive int; got {val!r}")
        super().__init__(self.ARCH, {"channels": channels, "dense": dense, "pool": pool,
                                   "batch_norm": bool(batch_norm)})
        layers: list[nn.Module] = []
        in_ch = 3
        for i, (mult, stride) in enumerate(self.LAYERS):
            out_ch = channels * mult
            norm = batch_norm and i > 0
            layers.append(conv(in_ch, out_ch, 3, stride=stride, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.LeakyReLU(SLOPE, inplace=True))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_ch * pool * pool, dense),
            nn.LeakyReLU(SLOPE, inplace=True),
            nn.Linear(dense, 1),
        )
        he_init_(self, slope=SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.head(self.pool(self.features(x * 2.0 - 1.0)))


@DISCRIMINATOR_REGISTRY.register("srgan")
def srgan(channels: int = 64, dense: int = 1024, pool: int = 4, batch_norm: bool = True) -> SRGANDiscriminator:
    """SRGAN discriminator; defaults are the paper's widths (64 → 512, dense 1024) and lrfr's 4×4 pool."""
    return SRGANDiscriminator(channels=channels, dense=dense, pool=pool, batch_norm=batch_norm)


class RelativisticAverageDiscriminator(SRGANDiscriminator):
    """GAFH-RIDN's discriminator (papers/001 §"Improved Discriminator", = papers/000): the network C(x)
    behind the relativistic average discriminator D_Ra(a, b) = σ(C(a) − E[C(b)]) (eq. 9).

    From the paper: nine 3×3 convolutions, strides 1 and 2 alternating, channels doubling from 64 to
    512, then two dense layers. Reconstructed from SRGAN (whose discriminator this one extends by a
    ninth convolution): widths c, c, 2c, 2c, 4c, 4c, 8c, 8c, 8c with strides 1, 2, 1, 2, 1, 2, 1, 2, 1,
    BatchNorm after every conv but the first, LeakyReLU 0.2, a dense layer of 1024 units. As for
    ``srgan``: logits out (the relativistic sigmoid lives in ``GANLoss(kind="ragan")``, eqs. 10–11),
    and adaptive pooling before the dense layers, so any face size works.
    """

    ARCH = "gafh_rad"
    LAYERS = LAYERS + ((8, 1),)


@DISCRIMINATOR_REGISTRY.register("gafh_rad")
def gafh_rad(channels: int = 64, dense: int = 1024, pool: int = 4,
             batch_norm: bool = True) -> RelativisticAverageDiscriminator:
    """GAFH-RIDN's discriminator: nine convs 64 → 512, dense 1024 → 1 (train it with ``adversarial = "ragan"``)."""
    return RelativisticAverageDiscriminator(channels=channels, dense=dense, pool=pool, batch_norm=batch_norm)
