"""Which torch device to run on: one rule for every layer and command."""
from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``None`` or ``"auto"`` → CUDA when torch sees a GPU, else the CPU; anything else as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
