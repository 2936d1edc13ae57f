"""The input contract every lrfr recognizer declares and checks.

lrfr passes images between layers in one convention: float32 RGB tensors (N, 3, H, W) in [0, 1].
A recognizer declares the crop size it was trained on and the pixel normalization it applies
itself, so a face is never normalized twice or fed at the wrong size without an error.
"""
from __future__ import annotations

import torch
from torch import nn


class Recognizer(nn.Module):
    """Base class: ``forward`` takes [0, 1] RGB at ``input_size`` and returns embeddings.

    Subclasses set ``input_size`` (H, W), ``embedding_dim``, ``pixel_mean``/``pixel_std`` (on the
    0–255 scale, e.g. 127.5 / 128 for SphereFace and MobileFaceNet) and implement ``features``,
    which receives the already-normalized batch.
    """

    input_size: tuple[int, int] = (112, 96)
    embedding_dim: int = 512
    pixel_mean: float = 127.5
    pixel_std: float = 128.0
    #: allowed slack on the [0, 1] range check (bicubic overshoot of SR outputs is clamped before)
    range_tolerance: float = 1e-3

    def describe_input(self) -> str:
        h, w = self.input_size
        return (
            f"RGB float tensor (N, 3, {h}, {w}) in [0, 1]; normalized inside as "
            f"(255·x − {self.pixel_mean}) / {self.pixel_std}"
        )

    def check_input(self, x: torch.Tensor) -> None:
        name = type(self).__name__
        if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"{name} expects {self.describe_input()}; got {shape}")
        if tuple(x.shape[-2:]) != tuple(self.input_size):
            raise ValueError(
                f"{name} expects {self.input_size[0]}×{self.input_size[1]} faces "
                f"({self.describe_input()}); got {x.shape[-2]}×{x.shape[-1]}. Resize or super-resolve first."
            )
        if not x.is_floating_point():
            raise ValueError(f"{name} expects a float tensor in [0, 1]; got dtype {x.dtype}")
        lo, hi = float(x.min()), float(x.max())
        if lo < -self.range_tolerance or hi > 1 + self.range_tolerance:
            raise ValueError(
                f"{name} expects pixels in [0, 1] and normalizes them itself; got range "
                f"[{lo:.3g}, {hi:.3g}] — was the batch already normalized?"
            )

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 255.0 - self.pixel_mean) / self.pixel_std

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_shape(self, x: torch.Tensor) -> None:
        """The part of :meth:`check_input` that reads only metadata (no device sync)."""
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != tuple(self.input_size):
            raise ValueError(f"{type(self).__name__} expects {self.describe_input()}; got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(self.normalize(x))

    def forward_trusted(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings for a batch the caller vouches is in [0, 1] (e.g. a training loss on SR output).

        Checks the shape only: the value-range check of :meth:`forward` reads the tensor back
        (two device syncs per call), which inside a training loop costs more than it protects.
        Gradients flow through, so losses on a frozen recognizer use this.
        """
        self.check_shape(x)
        return self.features(self.normalize(x))
