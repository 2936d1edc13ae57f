"""Data-parallel training under ``torchrun``: one process per device, the same global batch at any world size.

``torchrun --nproc-per-node N lrfr run pipelines/X.toml`` starts N copies of the ordinary entry point;
:func:`init_from_env` (called by ``lrfr run``) joins them into a process group (``nccl`` on GPUs,
``gloo`` on the CPU) from the environment torchrun sets. Nothing else in a recipe changes:

- every rank draws the same global batch from ``(seed, step)`` and keeps its own rows
  (:func:`local_rows`), so the global batch — and a checkpoint — does not depend on the world size;
- gradients are averaged across ranks just before each optimizer step (:func:`average_gradients_before_step`,
  a step pre-hook on every optimizer the recipe owns). lrfr does this instead of wrapping networks in
  ``DistributedDataParallel`` because its recipes call a network several times per iteration (D on real
  and on fake faces, G again for the generator loss) and take gradients of gradients (WGAN-GP), which
  DDP's reducer does not support. The cost is that communication does not overlap the backward pass;
- BatchNorm layers compute their statistics over the global batch (:func:`sync_batch_norm`): torch's
  ``SyncBatchNorm`` on GPUs, :class:`GlobalBatchNorm` (an all-reduce of the per-rank sums) on the CPU,
  where torch's does not run;
- the loss values logged are averaged across ranks; validation runs on rank 0 and its numbers are
  broadcast; only rank 0 writes files.

With a mean-over-samples loss the averaged gradient equals the single-process gradient of the same
global batch (up to floating-point summation order). Terms that look at the whole batch — RaGAN's
batch average of D's scores, PFSR's minibatch standard deviation, the gradient penalty's random mixing —
see the rank's rows only, as in every DDP implementation.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Mapping

import torch
import torch.distributed as dist
from torch import nn

from lrfr.errors import LrfrError


class DistributedSetupError(LrfrError, RuntimeError):
    """The process group cannot be formed, or a setting does not split across ranks."""


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def init_from_env(device: str = "auto") -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); returns whether one was formed.

    ``nccl`` when the run uses CUDA (each rank on ``cuda:LOCAL_RANK``), else ``gloo``. A no-op
    for a single process or when a group already exists.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return is_distributed()
    if not dist.is_available():
        raise DistributedSetupError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise DistributedSetupError(f"WORLD_SIZE={size} but {', '.join(missing)} not set: launch with "
                                    "torchrun --nproc-per-node N lrfr run ... (torchrun sets them)")
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # a peer that hangs (alive but stuck) stops the others after this long, instead of torch's 30 minutes
    dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=timedelta(seconds=collective_timeout()))
    return True


#: seconds a collective waits for the other processes before the run stops (environment LRFR_DIST_TIMEOUT)
DEFAULT_TIMEOUT_S = 600


def collective_timeout() -> int:
    text = os.environ.get("LRFR_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_S))
    if not text.isdigit() or int(text) < 1:
        raise DistributedSetupError(f"LRFR_DIST_TIMEOUT={text!r}: expected a whole number of seconds >= 1")
    return int(text)


class PeerLostError(LrfrError, RuntimeError):
    """Another process of the job stopped (killed, crashed) or stopped answering; this one stops too."""


#: what gloo and NCCL say when the other end of a collective is gone or silent
_PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "Connection refused",
              "Timed out", "timed out", "NCCL communicator was aborted", "remote process exited")


def lost_peer(err: BaseException) -> bool:
    """Whether ``err`` is a collective failing because another rank is gone or silent."""
    return is_distributed() and isinstance(err, RuntimeError) and any(s in str(err) for s in _PEER_GONE)


def local_rows(n_global: int) -> slice:
    """This rank's rows of a global batch of ``n_global`` (the whole batch in a single process)."""
    size = world_size()
    if n_global % size:
        raise DistributedSetupError(f"the global batch of {n_global} does not split evenly over {size} processes; "
                                    f"use a batch_size divisible by {size}")
    per = n_global // size
    return slice(rank() * per, (rank() + 1) * per)


# -- gradients ------------------------------------------------------------------------------------------


def _average_gradients(optimizer: torch.optim.Optimizer) -> None:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return
    # one flat buffer per dtype: a single collective instead of one per tensor
    for dtype in {g.dtype for g in grads}:
        same = [g for g in grads if g.dtype == dtype]
        flat = torch.cat([g.reshape(-1) for g in same])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world_size())
        offset = 0
        for g in same:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def average_gradients_before_step(optimizer: torch.optim.Optimizer) -> Any:
    """Register a pre-step hook averaging ``optimizer``'s gradients across ranks; returns the hook handle.

    A step the recipe already reduced (mixed precision reduces before its overflow check, see
    :class:`lrfr.engine.precision.Precision`) sets ``optimizer._lrfr_reduced`` and is not reduced twice.
    """

    def hook(opt, args, kwargs):
        if getattr(opt, "_lrfr_reduced", False):
            opt._lrfr_reduced = False
            return
        _average_gradients(opt)

    return optimizer.register_step_pre_hook(hook)


def reduce_before_step(optimizer: torch.optim.Optimizer) -> None:
    """Average the gradients now (before an overflow check must agree across ranks) and skip the hook's pass."""
    if is_distributed():
        _average_gradients(optimizer)
        optimizer._lrfr_reduced = True


# -- BatchNorm over the global batch --------------------------------------------------------------------


class _GlobalMoments(torch.autograd.Function):
    """Sum of (count, Σx, Σx²) over ranks, differentiable: the backward all-reduces the incoming gradient."""

    @staticmethod
    def forward(ctx, stats: torch.Tensor) -> torch.Tensor:
        out = stats.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch (all ranks), on any device.

    Same parameters, buffers and state-dict keys as ``nn.BatchNorm1d/2d``; in eval mode, or in a single
    process, it is exactly ``F.batch_norm``. The running statistics use the global unbiased variance, as
    a single process with the whole batch would.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0] + list(range(2, x.dim()))
        xd = x.double()  # E[x²] − E[x]² cancels: accumulate the moments in float64
        count = torch.tensor([x.numel() / x.shape[1]], device=x.device, dtype=torch.float64)
        local = torch.cat([count, xd.sum(dims), (xd * xd).sum(dims)])
        total = _GlobalMoments.apply(local)
        c = x.shape[1]
        n, s, ss = total[0], total[1 : 1 + c], total[1 + c :]
        mean64 = s / n
        var64 = (ss / n - mean64 * mean64).clamp_min(0)
        mean, var = mean64.float(), var64.float()
        xf = x.float()
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                unbiased = (var64 * n / (n - 1).clamp_min(1)).float()
                self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"BatchNorm expects (N, C, ...) input; got {tuple(x.shape)}")


def sync_batch_norm(module: nn.Module) -> int:
    """Make every BatchNorm layer of ``module`` normalize over the global batch, in place; returns how many.

    The layers keep their parameters (an optimizer built on them stays valid) and their state-dict keys
    (a checkpoint moves freely between world sizes).
    """
    swapped = 0
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, (GlobalBatchNorm, nn.SyncBatchNorm)):
            on_cuda = m.running_mean is not None and m.running_mean.is_cuda
            if on_cuda:
                m.__class__ = nn.SyncBatchNorm  # NCCL and fused kernels; same parameters and buffers
                m.process_group = None  # the default group
            else:
                m.__class__ = GlobalBatchNorm
            swapped += 1
    return swapped


# -- numbers across ranks -------------------------------------------------------------------------------


def average_values(values: Mapping[str, float]) -> dict[str, float]:
    """The mean of each logged number over ranks (every rank gets the same dict; keys in rank 0's order)."""
    if not is_distributed() or not values:
        return dict(values)
    keys = list(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / world_size() for k, v in zip(keys, t.tolist())}


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (validation metrics computed once)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


__all__ = [
    "DistributedSetupError", "is_distributed", "rank", "world_size", "init_from_env", "local_rows",
    "average_gradients_before_step", "reduce_before_step", "GlobalBatchNorm", "sync_batch_norm", "average_values",
    "broadcast_from_main", "barrier",
]
