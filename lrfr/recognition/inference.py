"""A recognizer's inference copy: every BatchNorm folded into the convolution before it.

In eval mode a BatchNorm after a convolution is an affine map per channel, so it can be folded
into that convolution's weights and bias (``torch.fx.experimental.optimization.fuse``). The
folded copy computes the same function with one pass over the activations less per BN; its
features agree with the original to float rounding (~1e-6), not bit for bit.

What it buys is measured by ``lrfr bench recognition`` (docs/benchmarks.md). SphereFace has no BatchNorm:
it runs as given.

:func:`inference_copy` keeps the last model it folded and its copy (the copy calls that model's
input check, so the cache holds both), and rebuilds the copy only when
that model's parameters or buffers change (their storage or in-place version counter), so a
caller that embeds batch after batch, or a validator between training steps, folds once per
change rather than per call.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["inference_copy", "FoldedRecognizer"]


class _Features(nn.Module):
    """What a recognizer computes after its input check: ``features(normalize(x))``."""

    def __init__(self, recognizer: nn.Module):
        super().__init__()
        self.recognizer = recognizer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.recognizer.features(self.recognizer.normalize(x))


class FoldedRecognizer(nn.Module):
    """The folded network behind the original recognizer's input check (``check_input``)."""

    def __init__(self, source: nn.Module, graph: nn.Module):
        super().__init__()
        self.graph = graph
        self._check = source.check_input  # the original's contract, unchanged
        self.input_size = getattr(source, "input_size", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.graph(x)


def _state_signature(model: nn.Module) -> tuple:
    return tuple((t.data_ptr(), t._version, t.dtype, t.device, tuple(t.shape))
                 for t in [*model.parameters(), *model.buffers()])


_LAST: dict[str, object] = {"model": None, "signature": None, "copy": None}


def _fold(model: nn.Module) -> nn.Module | None:
    from torch.fx.experimental.optimization import fuse

    try:
        graph = fuse(_Features(copy.deepcopy(model).eval()), inplace=True)
    except Exception:  # a recognizer FX cannot trace (data-dependent control flow) keeps its eager form
        return None
    for p in graph.parameters():
        p.requires_grad_(False)
    return FoldedRecognizer(model, graph.eval())


def inference_copy(model: nn.Module) -> nn.Module | None:
    """A BatchNorm-folded eval-mode copy of a recognizer (one with ``features``, ``normalize`` and
    ``check_input``), or None for any other module or one that cannot be traced. Cached for the
    last model while its parameters and buffers are unchanged (module docstring)."""
    if not all(callable(getattr(model, name, None)) for name in ("features", "normalize", "check_input")):
        return None
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return None
    signature = _state_signature(model)
    if _LAST["model"] is model and _LAST["signature"] == signature:
        return _LAST["copy"]
    folded = _fold(model)
    _LAST.update(model=model, signature=signature, copy=folded)
    return folded
