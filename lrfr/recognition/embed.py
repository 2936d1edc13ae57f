"""Batched, flip-fused feature extraction: ``embed(model, images, flip="concat")``.

Images follow lrfr's one convention (float RGB ``(N, 3, H, W)`` in [0, 1]); the model checks its
own input contract (size, dtype, range) and normalizes internally.

Flip fusion (SphereFace's LFW evaluation; lrfr's default): the feature of an image is
``[f(x), f(flip(x))]`` (``"concat"``, 2·D dims) or ``f(x) + f(flip(x))`` (``"sum"``), where
``flip`` mirrors left↔right. ``None`` gives ``f(x)`` alone.
"""
from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate

from lrfr.errors import BadImageError
from lrfr.recognition.inference import inference_copy

__all__ = ["embed"]

_FLIPS = ("concat", "sum", None)
_AMPS = {"auto", "bf16", "fp16", "fp32", None, False, True}


def _image_of(batch: Any) -> torch.Tensor:
    """A batch is a tensor, or a tuple/list/dict whose image comes first (or under ``"image"``)."""
    if torch.is_tensor(batch):
        return batch
    if isinstance(batch, dict) and "image" in batch:
        return batch["image"]
    if isinstance(batch, (tuple, list)) and batch and torch.is_tensor(batch[0]):
        return batch[0]
    raise TypeError(
        "embed expects batches of images: a float tensor (N, 3, H, W) in [0, 1] or an "
        f"(image, ...) tuple; got {type(batch).__name__}"
    )


def _collate(items: list, size: tuple[int, int] | None = None, root: Any = None):
    """``default_collate``, except that an image of another size than the model's (or than the
    batch's first) is an error naming the item (its name, the third element of
    ``(image, label, name)`` items, under the dataset's ``root``) instead of a stack error."""
    if items and isinstance(items[0], (tuple, list)) and items[0] and torch.is_tensor(items[0][0]):
        want = tuple(size) if size is not None else tuple(items[0][0].shape[-2:])
        source = "the model's input size" if size is not None else "the size of the batch's first image"
        for k, item in enumerate(items):
            got = tuple(item[0].shape[-2:])
            if got != want:
                name = item[2] if len(item) > 2 and isinstance(item[2], str) else f"item {k} of a batch"
                where = f"{root}/{name}" if root is not None and len(item) > 2 and isinstance(item[2], str) else name
                raise BadImageError(
                    where, f"image is {got[0]}x{got[1]} (HxW) but {want[0]}x{want[1]} ({source}) was expected",
                    "lrfr does not resize silently - align/resize these faces the same way as the training faces",
                )
    return default_collate(items)


def _batches(images: Any, batch_size: int, num_workers: int,
             size: tuple[int, int] | None = None) -> tuple[Iterable, int | None]:
    if torch.is_tensor(images):
        if images.dim() == 3:
            images = images.unsqueeze(0)
        n = images.shape[0]
        return (images[i:i + batch_size] for i in range(0, n, batch_size)), -(-n // batch_size)
    if isinstance(images, np.ndarray):
        raise TypeError("embed expects torch tensors in [0, 1] (N, 3, H, W); convert numpy arrays with "
                        "torch.from_numpy (and lrfr.io.to_tensor01 for uint8 HWC images)")
    if isinstance(images, Dataset) and hasattr(images, "__len__") and hasattr(images, "__getitem__"):
        collate = partial(_collate, size=size, root=getattr(images, "root", None))
        loader = DataLoader(images, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate)
        return loader, len(loader)
    if isinstance(images, Iterable):
        return images, (len(images) if hasattr(images, "__len__") else None)
    raise TypeError(f"embed: cannot iterate over images of type {type(images).__name__}")


def _autocast(device: torch.device, amp: Any):
    if amp is None or amp is False or amp == "fp32":
        if device.type == "cuda":  # fp32 means fp32: cuDNN would otherwise run convolutions in TF32
            c = torch.backends.cudnn
            return c.flags(enabled=c.enabled, benchmark=c.benchmark, deterministic=c.deterministic, allow_tf32=False)
        return nullcontext()
    if amp == "auto":
        if device.type != "cuda":
            return nullcontext()
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if amp in ("bf16", True):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if amp == "fp16":
        return torch.autocast(device.type, dtype=torch.float16)
    raise ValueError(f"amp must be one of 'auto', 'bf16', 'fp16', 'fp32'/None; got {amp!r}")


def embed(model: nn.Module, images: Any, flip: str | None = "concat", batch_size: int = 256,
          device: str | torch.device | None = None, progress: bool = False, amp: Any = "auto",
          num_workers: int = 0, cpu_chunk: int = 16, channels_last: bool | str = "auto",
          fold_batchnorm: bool | str = "auto", backend: str = "torch") -> np.ndarray:
    """Embed ``images`` with ``model``; returns float32 numpy ``(N, D)`` (``(N, 2D)`` for concat).

    Parameters
    ----------
    model : a recognizer (``lrfr.recognition.base.Recognizer``) or any module mapping [0, 1]
        batches to ``(B, D)`` features. Run in eval mode under ``no_grad``; its previous
        training/eval mode is restored afterwards.
    images : a float tensor ``(N, 3, H, W)`` in [0, 1]; or a ``Dataset`` whose items are
        ``(image, ...)`` tuples (batched with a ``DataLoader``, in order); or any iterable of
        batches (tensors or ``(images, ...)`` tuples).
    flip : ``"concat"`` → ``[f(x), f(flip x)]``; ``"sum"`` → ``f(x) + f(flip x)``; ``None`` → ``f(x)``.
    batch_size : images per forward (tensor/Dataset inputs; iterables keep their own batching).
        With a flip, each forward runs ``2 · batch_size`` images (original and mirrored together).
    device : where to run; the model is moved there if needed. Default: the model's device.
    amp : ``"auto"`` = bf16 autocast on CUDA, fp32 elsewhere; ``"bf16"``/``"fp16"`` force it;
        ``"fp32"``/``None`` disable it (and, on CUDA, cuDNN's TF32 convolutions for the call). The output
        is float32 in every case. ``lrfr.evaluate`` passes ``"fp32"`` unless asked for ``fast``.
    num_workers : DataLoader workers for Dataset inputs.
    cpu_chunk : on the CPU, forwards run ``cpu_chunk`` images at a time whatever ``batch_size`` is:
        activations of small batches stay in cache (``lrfr bench recognition``). Results do not depend on it.
    channels_last : run the forwards in channels_last memory format (``"auto"``: on the CPU, where
        oneDNN's convolutions are faster in it: ``lrfr bench recognition``). The model's weights are converted for the call and restored afterwards.
        Features agree with the default format to float rounding (~1e-6), not bit for bit.
    backend : ``"torch"`` (default) or ``"onnxruntime"``: the recognizer exported to ONNX once (cached on disk
        under its digest, :mod:`lrfr.recognition.onnx_backend`) and run by onnxruntime on the CPU
    fold_batchnorm : run a copy of the recognizer with every BatchNorm folded into its convolution
        (:mod:`lrfr.recognition.inference`; ``"auto"``: on the CPU, ``lrfr bench recognition``). The input
        check is the original's; features agree to float rounding (~1e-6). Other modules run as given.
    """
    if flip not in _FLIPS:
        raise ValueError(f"flip must be 'concat', 'sum' or None; got {flip!r}")
    if amp not in _AMPS:
        raise ValueError(f"amp must be one of 'auto', 'bf16', 'fp16', 'fp32'/None; got {amp!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if backend not in ("torch", "onnxruntime"):
        raise ValueError(f"backend must be 'torch' or 'onnxruntime'; got {backend!r}")
    if backend == "onnxruntime":
        from lrfr.recognition.onnx_backend import onnx_copy

        model, device, amp, fold_batchnorm, channels_last = onnx_copy(model), "cpu", None, False, False
        cpu_chunk = 0  # onnxruntime takes the whole batch in one run
    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    if any(p.device != device for p in model.parameters()):
        model.to(device)

    size = getattr(model, "input_size", None)
    batches, total = _batches(images, batch_size, num_workers, tuple(size) if size is not None else None)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=total, desc="embed", unit="batch")

    was_training = model.training
    model.eval()
    use_cl = device.type == "cpu" if channels_last == "auto" else bool(channels_last)
    use_fold = device.type == "cpu" if fold_batchnorm == "auto" else bool(fold_batchnorm)
    runner = inference_copy(model) if use_fold else None
    convert_model = use_cl and runner is None  # lrfr's folded copy stays in channels_last; no restore
    if runner is None:
        runner = model
    if use_cl:
        runner.to(memory_format=torch.channels_last)
    out: list[np.ndarray] = []
    try:
        with torch.no_grad():
            for batch in batches:
                x = _image_of(batch)
                if x.dim() == 3:
                    x = x.unsqueeze(0)
                if x.shape[0] == 0:
                    continue
                x = x.to(device, non_blocking=True)
                if x.dtype != torch.float32 and x.is_floating_point():
                    x = x.float()
                n = x.shape[0]
                inp = torch.cat([x, x.flip(-1)], 0) if flip is not None else x
                if use_cl and inp.dim() == 4:
                    inp = inp.contiguous(memory_format=torch.channels_last)
                step = cpu_chunk if device.type == "cpu" and cpu_chunk else inp.shape[0]
                with _autocast(device, amp):
                    f = torch.cat([runner(inp[i:i + step]).float() for i in range(0, inp.shape[0], step)])
                if flip == "concat":
                    f = torch.cat([f[:n], f[n:]], 1)
                elif flip == "sum":
                    f = f[:n] + f[n:]
                out.append(f.cpu().numpy().astype(np.float32, copy=False))
    finally:
        model.train(was_training)
        if convert_model:
            model.to(memory_format=torch.contiguous_format)
    if not out:
        raise ValueError("embed: no images given")
    return np.concatenate(out, 0)
