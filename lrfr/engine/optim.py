"""Optimizers and step schedules by name, from a recipe's ``[optim]`` section.

The optimizer type is a config value (``type = "sgd"`` for SphereFace, ``"adam"`` for the SR GANs);
an unknown type is an error listing the known ones.
"""
from __future__ import annotations

from typing import Iterable

import torch

from lrfr.engine.sections import OPTIMIZERS


def build_optimizer(params: Iterable, *, type: str, lr: float, momentum: float = 0.0, betas=(0.9, 0.999),
                    weight_decay: float = 0.0) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if type == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if type == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    if type == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    if type == "rmsprop":  # the prior-guided thesis' optimizer (papers/003 §4.2); torch's α = 0.99
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"[optim] type = {type!r} is not a known optimizer; known: {', '.join(OPTIMIZERS)}")


def build_step_schedule(opt: torch.optim.Optimizer, milestones, decay: float):
    """Multiply the learning rate by ``decay`` at each milestone step."""
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=decay)


def set_learning_rate(opt, sched, base_lr: float, milestones, decay: float) -> None:
    """Put a (changed) base learning rate in force after loading an optimizer and its step schedule."""
    done = sched.last_epoch
    factor = decay ** sum(1 for m in milestones if m <= done)
    for group in opt.param_groups:
        group["initial_lr"] = base_lr
        group["lr"] = base_lr * factor
    sched.base_lrs = [base_lr for _ in opt.param_groups]
    sched._last_lr = [g["lr"] for g in opt.param_groups]
