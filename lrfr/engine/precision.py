"""Mixed precision for every recipe, set once in the engine: ``[run] precision = "fp32" | "bf16" | "fp16"``.

- ``bf16``: the training step runs under ``torch.autocast(dtype=bfloat16)``; weights, optimizer states
  and gradients stay fp32. No loss scaling is needed (bf16 has fp32's exponent range). On CUDA this is
  the fast path; on a CPU it needs AVX-512 BF16/AMX to pay off (measured in ``lrfr bench sr``).
- ``fp16`` (CUDA): autocast to float16 with a dynamic loss scale (``torch.amp.GradScaler``); a step
  whose gradients overflow is skipped and the scale lowered, as GradScaler does.
- What stays fp32 whatever the setting: autocast itself keeps reductions, norms and the loss
  functions' reductions in fp32; lrfr additionally computes A-Softmax's margin
  (:mod:`lrfr.recognition.margins`), the WGAN-GP penalty (:func:`lrfr.losses.adversarial.gradient_penalty`)
  and identity-feature normalization in fp32 with autocast disabled.

Recipes call :meth:`Precision.backward` and :meth:`Precision.step` (through :class:`~lrfr.engine.loop.Recipe`)
instead of ``loss.backward()`` / ``optimizer.step()``; with fp32 and bf16 they are exactly those calls.
"""
from __future__ import annotations

import contextlib

import torch

from lrfr.errors import LrfrError

PRECISIONS = ("fp32", "bf16", "fp16")


class PrecisionError(LrfrError, ValueError):
    """A precision this device cannot run."""


class Precision:
    def __init__(self, mode: str = "fp32", device: torch.device | str = "cpu"):
        if mode not in PRECISIONS:
            raise PrecisionError(f"[run] precision must be one of {', '.join(PRECISIONS)}; got {mode!r}")
        device = torch.device(device)
        if mode == "fp16" and device.type != "cuda":
            raise PrecisionError(f"[run] precision = 'fp16' needs a CUDA device (loss scaling); this run is on "
                                 f"{device.type}. Use 'bf16' or 'fp32'")
        self.mode, self.device = mode, device
        self.scaler = torch.amp.GradScaler("cuda") if mode == "fp16" else None

    @property
    def dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.mode]

    def autocast(self):
        """The context a training step runs in (a no-op for fp32)."""
        if self.mode == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``, through the loss scaler for fp16 (gradients averaged across ranks first, so
        every rank agrees on whether they overflowed)."""
        if self.scaler is None:
            optimizer.step()
            return
        from lrfr.engine.distributed import reduce_before_step

        reduce_before_step(optimizer)
        self.scaler.step(optimizer)
        optimizer._lrfr_reduced = False  # an overflowing step was skipped: the hook must not stay disarmed

    def end_step(self) -> None:
        """After every optimizer of an iteration has stepped: adjust the loss scale (fp16)."""
        if self.scaler is not None:
            self.scaler.update()

    # the loss scale is part of what an exact fp16 resume needs
    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


__all__ = ["Precision", "PrecisionError", "PRECISIONS"]
