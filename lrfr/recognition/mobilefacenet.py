"""MobileFaceNet (Chen, Liu, Gao & Han, "MobileFaceNets", CCBR 2018), 128-d embeddings.

From the paper (Table 1), for a 112×112 input; here, as in the shared CASIA-WebFace checkpoint,
the input is 112×96 (SphereFace's alignment), so the global depthwise conv is 7×6:

=============================  ===  ====  ===  ===
operator                        t    c    n    s
=============================  ===  ====  ===  ===
conv 3×3                        –    64   1    2
depthwise conv 3×3              –    64   1    1
bottleneck                      2    64   5    2
bottleneck                      4    128  1    2
bottleneck                      2    128  6    1
bottleneck                      4    128  1    2
bottleneck                      2    128  2    1
conv 1×1                        –    512  1    1
linear GDConv 7×6 (depthwise)   –    512  1    1
linear conv 1×1                 –    128  1    1
=============================  ===  ====  ===  ===

Every convolution is bias-free and followed by batch norm; non-linear ones by PReLU (the paper
uses PReLU throughout); the GDConv and the final 1×1 are linear (BN, no activation). A bottleneck
(MobileNetV2) is 1×1 expand (×t) → BN → PReLU → depthwise 3×3 (stride s) → BN → PReLU → 1×1
project → BN, with an identity shortcut when the stride is 1 and the width is unchanged.
Input normalization (x − 127.5) / 128 on RGB, as the shared checkpoint was trained.

Module names (``conv1.{conv,bn,prelu}``, ``dw_conv1``, ``blocks.N.conv.{0..7}``, ``conv2``,
``linear7``, ``linear1``) are chosen so the shared ``mobilefacenet_casia_068.ckpt``
(``{'epoch', 'net_state_dict'}``) loads strictly. Choices not from the paper: BN ``eps=1e-5``,
``momentum=0.1`` (PyTorch defaults), Kaiming-normal (fan_out) conv init, BN weight 1 / bias 0,
and ``input_size`` other than 112×96 (GDConv kernel = the final map size ``ceil(side / 16)``).
"""
from __future__ import annotations

import torch
from torch import nn

from lrfr.recognition.base import Recognizer

__all__ = ["MobileFaceNet", "mobilefacenet", "MOBILEFACENET_SETTING"]

#: (expansion t, channels c, repeats n, stride s) — paper, Table 1.
MOBILEFACENET_SETTING = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


class _ConvBlock(nn.Module):
    """conv (no bias) → BN → PReLU; ``linear=True`` drops the PReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel, stride=1, padding=0, groups: int = 1,
                 linear: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.linear = linear
        if not linear:
            self.prelu = nn.PReLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return x if self.linear else self.prelu(x)


class _Bottleneck(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_ch * expansion
        self.use_residual = stride == 1 and in_ch == out_ch
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, out_ch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileFaceNet(Recognizer):
    """MobileFaceNet embedding network (128-d); see the module docstring for provenance."""

    pixel_mean = 127.5
    pixel_std = 128.0

    def __init__(self, embedding_dim: int = 128, input_size: tuple[int, int] = (112, 96)):
        super().__init__()
        h, w = (int(s) for s in input_size)
        if h < 1 or w < 1:
            raise ValueError(f"input_size must be positive; got {input_size!r}")
        self.input_size = (h, w)
        self.embedding_dim = int(embedding_dim)
        self.arch = "mobilefacenet"
        self.build_kwargs = {"embedding_dim": self.embedding_dim, "input_size": self.input_size}

        self.conv1 = _ConvBlock(3, 64, 3, 2, 1)
        self.dw_conv1 = _ConvBlock(64, 64, 3, 1, 1, groups=64)
        blocks, in_ch = [], 64
        for t, c, n, s in MOBILEFACENET_SETTING:
            for i in range(n):
                blocks.append(_Bottleneck(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = _ConvBlock(in_ch, 512, 1, 1, 0)
        # Total stride 16: conv1 (2) and three stride-2 bottlenecks; each 3×3/pad-1 conv maps s → ceil(s/2).
        fh, fw = h, w
        for _ in range(4):
            fh, fw = (fh + 1) // 2, (fw + 1) // 2
        self.feature_map_size = (fh, fw)
        self.linear7 = _ConvBlock(512, 512, (fh, fw), 1, 0, groups=512, linear=True)
        self.linear1 = _ConvBlock(512, self.embedding_dim, 1, 1, 0, linear=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out")
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw_conv1(self.conv1(x))
        x = self.conv2(self.blocks(x))
        x = self.linear1(self.linear7(x))
        return torch.flatten(x, 1)


def mobilefacenet(**kwargs) -> MobileFaceNet:
    """MobileFaceNet, 128-d, 112×96 input (the shared CASIA-WebFace checkpoint's configuration)."""
    return MobileFaceNet(**kwargs)
