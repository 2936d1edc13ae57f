"""HR → LR (→ back to HR size): the one documented degradation chain.

Images follow lrfr's convention: float RGB tensors ``(N, 3, H, W)`` or ``(3, H, W)`` in ``[0, 1]``.

The chain
---------
``downsample(hr, s)`` (default, ``method="bicubic"``)::

    lr = F.interpolate(hr, size=(H // s, W // s), mode="bicubic", antialias=True, align_corners=False)
    lr = lr.clamp(0, 1)                       # bicubic overshoots at edges
    lr = (lr * 255).round() / 255             # only with quantize=True

``downsample(hr, s, method="bilinear_steps")``: ``log2(s)`` times
``F.interpolate(x, size=(h // 2, w // 2), mode="bilinear", antialias=False, align_corners=False)``;
with ``align_corners=False`` one such halving is exactly the mean of each 2×2 block. Then clamp
(and quantize) as above.

``upsample(lr, scale | size)``::

    F.interpolate(lr, size=(h * s, w * s), mode="bicubic", align_corners=False).clamp(0, 1)

``degrade(hr, s, upscale=True)`` = ``upsample(downsample(hr, s), size=(H, W))``: the LR face
brought back to the HR size, the input of "interpolate first" SR networks (VDSR-style, SRGAN
variants fed at HR size) and the *Bicubic* baseline of every table.

Provenance
----------
* C-Face (papers/004, Sec. 4): HR faces are cropped, "down-sampled to 16×16, 32×32, and 64×64 and
  then upscaled to 128×128", i.e. scales 8/4/2, with *Bicubic* as the interpolation baseline.
  The paper does not name the interpolation of the down-sampling itself nor antialiasing; we
  chose bicubic with antialias (the ``imresize``/PIL behaviour that bicubic LR sets are usually
  made with) — ``antialias=False`` gives plain bicubic sampling instead.
* PFSR (papers/002, Sec. 4): 128×128 targets are "bilinearly downsampled" to 64, 32 and 16 pixels.
  Reading that as successive bilinear halvings (``method="bilinear_steps"``) is our
  reconstruction; it makes every step's target the 2×2 mean of the next-larger one.
* Lai et al. (ICIP 2019, "Low-resolution face recognition based on identity-preserved face
  hallucination") downsample LFW with OpenCV's ``INTER_CUBIC`` and no antialias: ``method="bicubic_noaa"``
  (spec ``down:bicubic_noaa``), which ``tests/test_degrade.py`` checks against a hand-computed cubic
  convolution.
* ``align_corners=False``, clamping and the optional 8-bit quantization are our choices.

Why ``quantize``: LR test sets are usually stored as 8-bit image files, so a model evaluated on
LR *files* sees values on the 1/255 grid; ``quantize=True`` makes in-memory degradation
bit-identical to writing the LR images as PNG and reading them back (rounding is not
differentiable in a useful way: leave it off inside training graphs).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DOWN_METHODS = ("bicubic", "bicubic_noaa", "bilinear", "bilinear_steps", "area", "nearest")
UP_METHODS = ("bicubic", "bilinear", "nearest")


def _as_batch(img: torch.Tensor, what: str) -> tuple[torch.Tensor, bool]:
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor (N, 3, H, W) or (3, H, W); got {type(img).__name__}")
    if not img.is_floating_point():
        raise TypeError(
            f"{what} must be a float tensor in [0, 1]; got dtype {img.dtype} (use lrfr.io.to_tensor01 for uint8 images)"
        )
    if img.dim() == 3:
        return img.unsqueeze(0), True
    if img.dim() == 4:
        return img, False
    raise ValueError(f"{what} must be (N, C, H, W) or (C, H, W); got shape {tuple(img.shape)}")


def _check_scale(scale) -> int:
    if isinstance(scale, bool) or not float(scale).is_integer() or scale < 1:
        raise ValueError(f"scale must be an integer >= 1; got {scale!r}")
    return int(scale)


def _check_lr_size(size, hr_size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size):
        raise ValueError(f"size must be (h, w) with positive integers; got {size!r}")
    if size[0] > hr_size[0] or size[1] > hr_size[1]:
        raise ValueError(f"LR size {size[0]}x{size[1]} is larger than the image ({hr_size[0]}x{hr_size[1]})")
    return int(size[0]), int(size[1])


def _quantize(x: torch.Tensor) -> torch.Tensor:
    return x.mul(255.0).round_().div_(255.0)


def downsample(
    hr: torch.Tensor,
    scale: int | None = None,
    method: str = "bicubic",
    antialias: bool = True,
    quantize: bool = False,
    *,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """HR ``(N, 3, H, W)`` / ``(3, H, W)`` in [0, 1] → LR ``(…, H/scale, W/scale)``, clamped to [0, 1].

    ``scale``: an integer ≥ 1 dividing both H and W (2, 4, 8 in the papers; 112×96 → 14×12 at 8×).
    ``method``: ``"bicubic"`` (default; C-Face), ``"bicubic_noaa"`` (cubic convolution, a = −0.75,
    sampled at the LR pixel centres with no antialiasing filter: OpenCV's ``INTER_CUBIC`` resize, the
    degradation of Lai et al. 2019), ``"bilinear_steps"`` (repeated 2× bilinear halving, PFSR; scale must
    be a power of 2), or plain ``"bilinear"``/``"area"``/``"nearest"``. ``antialias`` applies to
    ``bicubic``/``bilinear`` (ignored by the others; ``bicubic_noaa`` never antialiases).
    ``quantize``: round to 8-bit levels (see the module docstring).
    ``size``: instead of ``scale``, the LR size ``(h, w)`` itself — any size up to the HR one, so the
    factor need not be an integer (a 112×96 face to 17×15); ``bilinear_steps`` needs a power-of-2 scale.
    """
    x, single = _as_batch(hr, "hr")
    h, w = x.shape[-2:]
    if method not in DOWN_METHODS:
        raise ValueError(f"unknown downsampling method {method!r}; known: {', '.join(DOWN_METHODS)}")
    if (scale is None) == (size is None):
        raise ValueError("downsample: give exactly one of scale and size")
    if size is not None:
        size = _check_lr_size(size, (h, w))
        s = 1 if size == (h, w) else 0  # 0: a size-given reduction (no integer factor)
        if method == "bilinear_steps" and s == 0:
            raise ValueError("method='bilinear_steps' halves repeatedly: give a power-of-2 scale, not a size")
    else:
        s = _check_scale(scale)
        if h % s or w % s:
            raise ValueError(
                f"HR size {h}x{w} (HxW) is not divisible by scale {s}: "
                f"{h}/{s} = {h / s:g}, {w}/{s} = {w / s:g}; crop or pad the HR images to a multiple of {s}"
            )
        size = (h // s, w // s)
    if s == 1:
        y = x.clone()
    elif method == "bilinear_steps":
        steps = int(round(math.log2(s)))
        if 2**steps != s:
            raise ValueError(f"method='bilinear_steps' halves repeatedly, so scale must be a power of 2; got {s}")
        y = x
        for _ in range(steps):
            y = F.interpolate(y, size=(y.shape[-2] // 2, y.shape[-1] // 2), mode="bilinear", align_corners=False, antialias=False)
    elif method in ("bicubic", "bilinear"):
        y = F.interpolate(x, size=size, mode=method, align_corners=False, antialias=antialias)
    elif method == "bicubic_noaa":  # torch's bicubic is OpenCV's kernel (a = -0.75) and pixel-centre sampling
        y = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=False)
    else:
        y = F.interpolate(x, size=size, mode=method)
    y = y.clamp(0.0, 1.0)
    if quantize:
        y = _quantize(y)
    return y[0] if single else y


def upsample(
    lr: torch.Tensor,
    scale: int | None = None,
    size: tuple[int, int] | None = None,
    method: str = "bicubic",
) -> torch.Tensor:
    """LR → ``size`` (or ``scale`` × its size) by ``F.interpolate(mode=method, align_corners=False)``, clamped to [0, 1].

    Give exactly one of ``scale`` and ``size``. ``method``: bicubic (default), bilinear or nearest.
    """
    x, single = _as_batch(lr, "lr")
    if (scale is None) == (size is None):
        raise ValueError("upsample: give exactly one of scale and size")
    if size is None:
        s = _check_scale(scale)
        size = (x.shape[-2] * s, x.shape[-1] * s)
    size = (int(size[0]), int(size[1]))
    if method not in UP_METHODS:
        raise ValueError(f"unknown upsampling method {method!r}; known: {', '.join(UP_METHODS)}")
    if tuple(x.shape[-2:]) == size:
        y = x.clone()
    elif method == "nearest":
        y = F.interpolate(x, size=size, mode="nearest")
    else:
        y = F.interpolate(x, size=size, mode=method, align_corners=False)
    y = y.clamp(0.0, 1.0)
    return y[0] if single else y


def degrade(
    hr: torch.Tensor,
    scale: int,
    method: str = "bicubic",
    upscale: bool = False,
    upscale_method: str = "bicubic",
    antialias: bool = True,
    quantize: bool = False,
) -> torch.Tensor:
    """The documented chain: :func:`downsample`, then (``upscale=True``) :func:`upsample` back to HR size.

    ``quantize`` rounds the LR image to 8-bit levels (before any upscaling), as saving it would.
    """
    lr = downsample(hr, scale, method=method, antialias=antialias, quantize=quantize)
    if not upscale:
        return lr
    return upsample(lr, size=tuple(hr.shape[-2:]), method=upscale_method)



def crop_to_aspect(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centre of ``img`` ``(…, h, w)`` in the proportions of ``size`` ``(H, W)``: the longer side (in
    those proportions) is cropped to ``round`` of what the other side implies, and nothing is cropped
    when that is under one pixel (a 14×12 or 17×15 face keeps every pixel for 112×96; 24×24 → 24×21;
    20×16 → 19×16)."""
    h, w = img.shape[-2:]
    H, W = size
    keep_h, keep_w = h, w
    if h * W > w * H:  # taller than the target: keep the width, crop rows
        keep_h = min(h, max(1, int(round(w * H / W))))
    else:  # wider (or equal): keep the height, crop columns
        keep_w = min(w, max(1, int(round(h * W / H))))
    top, left = (h - keep_h) // 2, (w - keep_w) // 2
    return img[..., top:top + keep_h, left:left + keep_w]


def fit_to_size(lr: torch.Tensor, size: tuple[int, int], method: str = "bicubic") -> torch.Tensor:
    """A low-resolution face of any size → ``size`` (the recognizer's input, e.g. 112×96): the rule every
    native LR image follows in lrfr (a camera crop, a 20×16 face, a file written by ``lrfr degrade``).

    1. :func:`crop_to_aspect`: centre-crop to the target's proportions (a no-op for faces made by
       dividing 112×96 by any factor, integer or not, up to rounding);
    2. resize to ``size``: bicubic (``align_corners=False``) upwards, antialiased bicubic downwards, clamped.

    A face whose proportions match is exactly :func:`upsample` ``(lr, size=size)``, so a native 14×12
    file gives the same pixels as lrfr's own 8× degradation brought back to 112×96.
    """
    x, single = _as_batch(lr, "lr")
    x = crop_to_aspect(x, size)
    h, w = x.shape[-2:]
    size = (int(size[0]), int(size[1]))
    if (h, w) == size:
        y = x.clone()
    elif h > size[0] or w > size[1]:
        y = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0.0, 1.0)
    else:
        y = upsample(x, size=size, method=method)
    return y[0] if single else y
