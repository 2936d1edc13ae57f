"""Image fidelity: PSNR and SSIM per image, in torch (CPU or GPU batches).

Conventions (stated, all parameters):

* Inputs: ``(N, C, H, W)`` or ``(C, H, W)`` float tensors on the same scale, ``data_range``
  being the span of that scale (``1.0`` for lrfr's ``[0, 1]`` images, ``255.0`` for 8-bit
  values). Values are not rounded or clipped here; quantize first if you want the 8-bit figure.
* ``crop_border``: pixels removed from each side before measuring (BasicSR crops ``scale``
  pixels for SR benchmarks); default 0.
* ``y_channel=False`` (default): measured on all channels (RGB). ``True``: on the luma Y of
  ITU-R BT.601 YCbCr, "studio swing", as MATLAB's ``rgb2ycbcr`` and the SR literature
  (BasicSR's ``test_y_channel``): with RGB scaled to [0, 1],
  ``Y = (16 + 65.481·R + 128.553·G + 24.966·B) / 255`` (so Y ∈ [16/255, 235/255]), then
  rescaled to ``data_range``.
* PSNR: ``10·log10(data_range² / MSE)``, the MSE over all measured pixels and channels of
  one image; identical images give ``+inf``.
* SSIM (Wang, Bovik, Sheikh, Simoncelli 2004): 11×11 Gaussian window, σ = 1.5, normalized to
  sum 1; ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²`` with ``L = data_range``; local statistics over
  the *valid* region only (no padding: the SSIM map is ``(H−10)×(W−10)``, as the reference
  MATLAB ``ssim_index`` with ``filter2(..., 'valid')`` and BasicSR); the image's SSIM is the
  mean of the map, averaged over channels for RGB.
* Precision: PSNR's squared error is summed in float64. SSIM is computed in the inputs' precision,
  at least float32: for lrfr's float32 images a float64 computation differs by under 1e-6 per
  image (tested; lrfr stores per-image SSIM as float32 anyway), and float32 takes about 60% of
  the time on a CPU (SSIM was a fifth of an end-to-end ``lrfr.evaluate``). Pass float64 images
  for the float64 figure.
"""
from __future__ import annotations

import torch

# BT.601 "studio swing" luma weights for RGB in [0, 1] giving Y in [16, 235] (MATLAB rgb2ycbcr).
_Y_WEIGHTS = (65.481, 128.553, 24.966)


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"{name} must be (N, C, H, W) or (C, H, W); got shape {tuple(x.shape)}")
    return x


def rgb_to_y(x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Luma Y (BT.601 studio swing, module doc) of RGB ``(N, 3, H, W)`` → ``(N, 1, H, W)``, same scale as the input."""
    x = _as_batch(x, "x")
    if x.shape[1] != 3:
        raise ValueError(f"rgb_to_y needs 3 channels; got {x.shape[1]}")
    w = torch.tensor(_Y_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    y01 = (16.0 + (x / data_range * w).sum(dim=1, keepdim=True)) / 255.0
    return y01 * data_range


def _prepare(x, y, data_range, crop_border, y_channel, dtype=torch.float64):
    x, y = _as_batch(x, "x"), _as_batch(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    if crop_border:
        if 2 * crop_border >= min(x.shape[-2:]):
            raise ValueError(f"crop_border={crop_border} leaves nothing of a {tuple(x.shape[-2:])} image")
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
        y = y[..., crop_border:-crop_border, crop_border:-crop_border]
    if dtype is not None:
        x, y = x.to(dtype), y.to(dtype)
    if y_channel:
        x, y = rgb_to_y(x, data_range), rgb_to_y(y, data_range)
    return x, y


#: images per step of :func:`psnr` and :func:`ssim`: each image is measured on its own, so a batch is
#: walked in slices small enough for their temporaries to stay in the CPU's cache (faster than whole 128-image
#: batches: docs/benchmarks.md; the same numbers, bit for bit — tested)
CHUNK = 16


def _in_chunks(fn, x, y, **kwargs) -> torch.Tensor:
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)) or x.ndim != 4 or x.shape[0] <= CHUNK:
        return fn(x, y, **kwargs)
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    return torch.cat([fn(x[i:i + CHUNK], y[i:i + CHUNK], **kwargs) for i in range(0, x.shape[0], CHUNK)])


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """PSNR in dB of each image pair, shape ``(N,)`` (float64; ``inf`` where identical). Module doc for conventions."""
    return _in_chunks(_psnr, x, y, data_range=data_range, crop_border=crop_border, y_channel=y_channel)


def _psnr(x, y, data_range, crop_border, y_channel):
    if y_channel:
        x, y = _prepare(x, y, data_range, crop_border, y_channel)  # new float64 tensors
        diff = x.sub_(y)
    else:  # one float64 copy, differenced and squared in place (the same numbers as (x64 − y64)²)
        x, y = _prepare(x, y, data_range, crop_border, False, dtype=None)
        diff = x.to(torch.float64, copy=True).sub_(y)
    mse = diff.square_().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None) -> torch.Tensor:
    """Normalized 2-D Gaussian ``(size, size)`` (outer product of the 1-D one)."""
    r = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _valid_band(g: torch.Tensor, n: int) -> torch.Tensor:
    """(n, n − len(g) + 1) matrix M with ``(v @ M)[j] = Σ_k g[k]·v[j + k]``: 1-D valid correlation."""
    size = len(g)
    m = torch.zeros(n, n - size + 1, dtype=g.dtype, device=g.device)
    for k in range(size):
        m.diagonal(-k).copy_(g[k].expand(n - size + 1))
    return m


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, crop_border: int = 0, y_channel: bool = False,
         window_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """SSIM of each image pair, shape ``(N,)`` (the inputs' precision, at least float32). Module doc for conventions."""
    return _in_chunks(_ssim, x, y, data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                      window_size=window_size, sigma=sigma, k1=k1, k2=k2)


def _ssim(x, y, data_range, crop_border, y_channel, window_size, sigma, k1, k2):
    dtype = torch.float64 if torch.float64 in (getattr(x, "dtype", None), getattr(y, "dtype", None)) else torch.float32
    x, y = _prepare(x, y, data_range, crop_border, y_channel, dtype)
    if min(x.shape[-2:]) < window_size:
        raise ValueError(f"SSIM needs images of at least {window_size}×{window_size}; got {tuple(x.shape[-2:])}")
    # The 2-D Gaussian is the outer product of a 1-D one, so filter rows then columns. Each pass
    # is a product with a banded (valid-region) matrix: the same numbers as the 11×11 window,
    # computed by BLAS instead of a slow depthwise convolution.
    g = gaussian_window(window_size, sigma, torch.float64, x.device)[window_size // 2]
    g = (g / g.sum()).to(x.dtype)  # the window in float64, then rounded once
    band_w = _valid_band(g, x.shape[-1])  # (W, W - size + 1)
    band_h = _valid_band(g, x.shape[-2]).T  # (H - size + 1, H)

    def filt(t):
        return band_h @ (t @ band_w)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x**2
    syy = filt(y * y) - mu_y**2
    sxy = filt(x * y) - mu_x * mu_y
    smap = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return smap.flatten(2).mean(dim=2).mean(dim=1)
