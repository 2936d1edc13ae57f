"""The SR contract: what every super-resolution generator and discriminator in lrfr declares.

A generator (:class:`SRModel`) maps LR faces ``(N, 3, h, w)`` in [0, 1] to ``(N, 3, h·scale,
w·scale)`` for any ``h × w``, square or not (14×12 → 112×96 at 8×). ``forward`` may overshoot
[0, 1] — training losses use it as it is — while :meth:`SRModel.super_resolve` is the inference
door: no gradients, eval mode, clamped to [0, 1]. A discriminator (:class:`Discriminator`) maps
HR-sized faces ``(N, 3, H, W)`` in [0, 1] to one real/fake logit per image, ``(N, 1)``.

Both remember how they were built (``arch``: registry name, ``build_kwargs``) so a model file
can rebuild them (:mod:`lrfr.modelfile`). The registries live here; families fill them by
explicit import in ``lrfr/sr/__init__.py``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lrfr.registry import Registry

__all__ = ["SR_REGISTRY", "DISCRIMINATOR_REGISTRY", "SRModel", "Discriminator", "check_image"]

SR_REGISTRY = Registry("SR model")
DISCRIMINATOR_REGISTRY = Registry("discriminator")


def check_image(module: nn.Module, x: torch.Tensor, expected: str) -> None:
    """Shape/dtype check of an image batch, reading metadata only (no device sync)."""
    name = type(module).__name__
    if not torch.is_tensor(x):
        raise TypeError(f"{name} expects {expected}; got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[-2] < 1 or x.shape[-1] < 1:
        raise ValueError(f"{name} expects {expected}; got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} expects {expected}; got dtype {x.dtype} (convert with lrfr.io.to_tensor01 "
                         "or x.float() / 255)")


class SRModel(nn.Module):
    """Base class of every SR generator.

    Attributes: ``scale`` (int upscaling factor), ``arch`` (registry name), ``build_kwargs``
    (constructor arguments, enough for ``lrfr.sr.build(arch, **build_kwargs)``), ``learned``
    (False for parameter-free baselines such as bicubic), ``name`` (for tables: the arch, or the
    pipeline that trained it once loaded from a model file), ``weights_path``/``weights_meta``
    (set by :func:`lrfr.sr.load`; ``None``/``{}`` for a freshly built model).
    """

    learned: bool = True

    def __init__(self, scale: int, arch: str, build_kwargs: Mapping[str, Any]):
        super().__init__()
        self.scale = int(scale)
        self.arch = arch
        self.build_kwargs = dict(build_kwargs)
        self.name = arch
        self.weights_path: str | None = None
        self.weights_meta: dict[str, Any] = {}

    def describe_input(self) -> str:
        return (f"LR RGB float tensor (N, 3, h, w) in [0, 1], any h × w; returns "
                f"(N, 3, {self.scale}·h, {self.scale}·w)")

    def check_input(self, lr: torch.Tensor) -> None:
        """Shape and dtype only (no device sync, so it is cheap inside training loops)."""
        check_image(self, lr, self.describe_input())

    def super_resolve(self, lr: torch.Tensor) -> torch.Tensor:
        """Inference: eval-mode forward without gradients, clamped to [0, 1] (the image contract)."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self(lr).clamp_(0.0, 1.0)
        finally:
            self.train(was_training)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.build_kwargs.items())


class Discriminator(nn.Module):
    """Base class of SR discriminators: HR-sized (N, 3, H, W) in [0, 1] → logits (N, 1)."""

    def __init__(self, arch: str, build_kwargs: Mapping[str, Any]):
        super().__init__()
        self.arch = arch
        self.build_kwargs = dict(build_kwargs)
        self.name = arch
        self.weights_path: str | None = None
        self.weights_meta: dict[str, Any] = {}

    def describe_input(self) -> str:
        return "RGB float tensor (N, 3, H, W) in [0, 1] (real HR or generated SR faces), any H × W; returns (N, 1) logits"

    def check_input(self, x: torch.Tensor) -> None:
        check_image(self, x, self.describe_input())

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.build_kwargs.items())

