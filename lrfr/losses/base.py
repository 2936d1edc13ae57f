"""What every lrfr loss shares: a weight it carries, shape checks that never sync, strict factories.

A loss module returns ``weight × value``, so a recipe's total reads like the paper's equation
(``total = pixel(sr, hr) + perceptual(sr, hr) + gan.generator(...)``) with the coefficients
(α, β, γ…) living in the modules, set from the recipe's config.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
from torch import nn


__all__ = ["WeightedLoss", "check_weight", "check_same_shape", "FrozenModule"]


def check_weight(weight: Any, name: str = "weight") -> float:
    """``weight`` as a float; a bool, a non-number, NaN/inf or a negative value is a ``ValueError``."""
    if isinstance(weight, bool) or not isinstance(weight, Real):
        raise ValueError(f"{name} must be a non-negative number; got {weight!r}")
    value = float(weight)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite, non-negative number; got {weight!r}")
    return value


def check_same_shape(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    """Refuse silent broadcasting between prediction and target (reads shapes only, no device sync)."""
    if not (torch.is_tensor(a) and torch.is_tensor(b)):
        raise TypeError(f"{what} expects two tensors; got {type(a).__name__} and {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"{what}: prediction and target shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")


class WeightedLoss(nn.Module):
    """Base of the loss modules: holds ``weight`` (a plain float — configuration, not state)."""

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = check_weight(weight)

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}"


class FrozenModule(nn.Module):
    """A module whose parameters never train and which stays in eval mode.

    ``train(True)`` from a parent (``recipe.train()``) is ignored, so batch-norm statistics of a
    frozen network are never updated and dropout never fires. Parameters have
    ``requires_grad=False``; gradients still flow *through* the module to its input.
    """

    def freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FrozenModule":  # noqa: ARG002 - mode ignored on purpose
        return super().train(False)
