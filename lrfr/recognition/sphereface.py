"""SphereFace residual CNNs ``sphere20a``, ``sphere36a``, ``sphere64a`` (Liu et al., CVPR 2017).

Architecture (paper, Table 2 and the public Caffe ``sphereface_model.prototxt``):

* input: RGB 112×96, normalized as (x − 127.5) / 128 (done by :class:`~lrfr.recognition.base.Recognizer`);
* four stages, each a 3×3 convolution with stride 2 (padding 1) + PReLU, followed by ``n``
  residual units; a unit is two 3×3 convolutions (stride 1, padding 1), each followed by PReLU,
  added to the unit's input (identity shortcut, no activation after the sum);
* stage widths 64 / 128 / 256 / 512; units per stage 1/2/4/1 (20 layers), 2/4/8/2 (36),
  3/8/16/3 (64); **no batch normalization**;
* ``fc5``: fully connected from the flattened 512×7×6 map to the 512-d embedding (the feature
  used for verification; A-Softmax's ``fc6`` lives in :mod:`lrfr.recognition.margins`).

lrfr additions (not in the paper): ``width`` scales every stage's channels
(``round(base · width)``, at least 1) and ``embedding_dim`` sets fc5's size; the defaults
(1.0, 512) give the paper's networks. ``input_size`` may differ from 112×96; the flatten size
follows from it (each stride-2 3×3/pad-1 conv maps a side ``s`` to ``ceil(s / 2)``).

Initialization (reconstructed from the Caffe release): the stride-2 stage convolutions and fc5
use Caffe's ``xavier`` filler (uniform ±sqrt(3 / fan_in)); the convolutions inside residual units
use ``gaussian(std=0.01)``; all biases 0; PReLU slopes 0.25 (Caffe/PyTorch default). Convolutions
have biases, as in the Caffe model.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lrfr.recognition.base import Recognizer

__all__ = ["SphereFace", "SPHERE_UNITS", "sphere20a", "sphere36a", "sphere64a"]

SPHERE_UNITS: dict[int, tuple[int, int, int, int]] = {
    20: (1, 2, 4, 1),
    36: (2, 4, 8, 2),
    64: (3, 8, 16, 3),
}
BASE_CHANNELS = (64, 128, 256, 512)


def _caffe_xavier_(weight: torch.Tensor) -> None:
    fan_in = weight[0].numel()
    bound = math.sqrt(3.0 / fan_in)
    nn.init.uniform_(weight, -bound, bound)


class _ResidualUnit(nn.Module):
    """x + PReLU(conv(PReLU(conv(x)))) — SphereFace's residual unit (no BN)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.relu1 = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.relu2 = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.relu2(self.conv2(self.relu1(self.conv1(x))))


class _Stage(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, units: int):
        super().__init__()
        self.down = nn.Conv2d(in_ch, out_ch, 3, 2, 1)
        self.relu = nn.PReLU(out_ch)
        self.units = nn.Sequential(*[_ResidualUnit(out_ch) for _ in range(units)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.relu(self.down(x)))


class SphereFace(Recognizer):
    """SphereFace-``depth``a embedding network (see module docstring for provenance).

    Parameters
    ----------
    depth : 20, 36 or 64 (paper).
    width : channel multiplier (lrfr addition; 1.0 = paper).
    embedding_dim : size of fc5 (lrfr addition; 512 = paper).
    input_size : (H, W) of the face crop; 112×96 in the paper.
    """

    pixel_mean = 127.5
    pixel_std = 128.0

    def __init__(self, depth: int = 20, width: float = 1.0, embedding_dim: int = 512,
                 input_size: tuple[int, int] = (112, 96)):
        super().__init__()
        if depth not in SPHERE_UNITS:
            raise ValueError(f"SphereFace depth must be one of {sorted(SPHERE_UNITS)}; got {depth!r}")
        if not width > 0:
            raise ValueError(f"width must be > 0; got {width!r}")
        h, w = (int(s) for s in input_size)
        if h < 1 or w < 1:
            raise ValueError(f"input_size must be positive; got {input_size!r}")
        self.depth = int(depth)
        self.width = float(width)
        self.input_size = (h, w)
        self.embedding_dim = int(embedding_dim)
        self.arch = f"sphere{self.depth}a"
        self.build_kwargs = {"width": self.width, "embedding_dim": self.embedding_dim,
                             "input_size": self.input_size}
        chans = [max(1, int(round(c * self.width))) for c in BASE_CHANNELS]
        self.channels = tuple(chans)
        stages, in_ch = [], 3
        for out_ch, units in zip(chans, SPHERE_UNITS[self.depth]):
            stages.append(_Stage(in_ch, out_ch, units))
            in_ch = out_ch
        self.stages = nn.Sequential(*stages)
        fh, fw = h, w
        for _ in range(4):
            fh, fw = (fh + 1) // 2, (fw + 1) // 2
        self.feature_map_size = (fh, fw)
        self.fc5 = nn.Linear(chans[-1] * fh * fw, self.embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for stage in self.stages:
            _caffe_xavier_(stage.down.weight)
            nn.init.zeros_(stage.down.bias)
            for unit in stage.units:
                for conv in (unit.conv1, unit.conv2):
                    nn.init.normal_(conv.weight, 0.0, 0.01)
                    nn.init.zeros_(conv.bias)
        _caffe_xavier_(self.fc5.weight)
        nn.init.zeros_(self.fc5.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc5(torch.flatten(self.stages(x), 1))


def sphere20a(**kwargs) -> SphereFace:
    """SphereFace-20 (paper: 1/2/4/1 residual units, 512-d)."""
    return SphereFace(depth=20, **kwargs)


def sphere36a(**kwargs) -> SphereFace:
    """SphereFace-36 (paper: 2/4/8/2 residual units, 512-d)."""
    return SphereFace(depth=36, **kwargs)


def sphere64a(**kwargs) -> SphereFace:
    """SphereFace-64 (paper: 3/8/16/3 residual units, 512-d)."""
    return SphereFace(depth=64, **kwargs)
