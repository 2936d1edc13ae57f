"""Degrade → super-resolve → embed, for a list of HR image files, with an in-memory cache.

This is the pixel half of :func:`lrfr.evaluate`: it turns image paths into features (and
per-image PSNR/SSIM of SR vs HR). Features are cached per (data, scale, degradation, SR model,
recognizer, flip fusion) so that running several protocols, or the same protocol twice, embeds
each image once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lrfr.devices import resolve_device

HR = "hr"  # the upper bound: no degradation, no SR


@dataclass(frozen=True)
class FeatureKey:
    scale: int
    degrade: str
    sr: str
    recognizer: str
    flip: str | None


@dataclass
class CachedFeatures:
    rows: dict[str, int] = field(default_factory=dict)  # path → row
    features: list[np.ndarray] = field(default_factory=list)
    psnr: list[np.ndarray] = field(default_factory=list)
    ssim: list[np.ndarray] = field(default_factory=list)


_CACHE: dict[FeatureKey, CachedFeatures] = {}


def clear_cache() -> None:
    _CACHE.clear()


def model_key(model: object, label: str | None = None) -> str:
    """A cache key for a model: its registry name, or its class + identity + a weight fingerprint."""
    if isinstance(model, str):
        return model
    if isinstance(model, nn.Module):
        with torch.no_grad():
            fp = sum(float(p.double().sum()) for p in model.parameters())
        return f"{label or type(model).__name__}@{id(model):x}:{fp:.10g}"
    return f"{type(model).__name__}@{id(model):x}"


def sr_name(sr: object) -> str:
    if isinstance(sr, str):
        return sr
    return getattr(sr, "name", None) or type(sr).__name__


def build_sr(sr: object, scale: int) -> nn.Module | None:
    """``"hr"`` → None (no degradation); a registry name → the model; a module → itself."""
    if isinstance(sr, str):
        if sr == HR:
            return None
        from lrfr import sr as sr_registry

        return sr_registry.build(sr, scale=scale)
    if isinstance(sr, nn.Module) or callable(sr):
        return sr
    raise TypeError(f"sr_model must be a registry name, 'hr', or an nn.Module; got {type(sr).__name__}")


def extract(
    paths: list[Path],
    sr: object,
    recognizer: nn.Module,
    *,
    scale: int,
    flip: str | None,
    degrade: str = "bicubic",
    batch_size: int = 128,
    device: str | torch.device | None = None,
    progress: bool = True,
    cache: bool = True,
    recognizer_key: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (N, D) float32, PSNR (N,) and SSIM (N,) for ``paths`` (NaN quality for ``"hr"``).

    Chain per batch of HR images (float [0, 1]): ``lrfr.data.degrade.downsample(hr, scale,
    method=degrade)`` → SR model → clamp to [0, 1] → recognizer (flip-fused by ``embed``). The SR
    output must already have the recognizer's input size; the recognizer's contract check says
    so otherwise. PSNR/SSIM: RGB, data range 1, no border crop (see :mod:`lrfr.metrics.quality`).
    """
    from tqdm.auto import tqdm

    from lrfr.data.degrade import downsample
    from lrfr.data.folders import load_images
    from lrfr.metrics.quality import psnr, ssim
    from lrfr.recognition import embed

    device = resolve_device(device)
    key = FeatureKey(scale, degrade, model_key(sr), recognizer_key or model_key(recognizer), flip)
    store = _CACHE.setdefault(key, CachedFeatures()) if cache else CachedFeatures()
    paths = [str(Path(p)) for p in paths]
    todo = [p for p in dict.fromkeys(paths) if p not in store.rows]
    model = build_sr(sr, scale)
    if isinstance(model, nn.Module):
        model = model.to(device).eval()
    recognizer = recognizer.to(device).eval()
    bar = tqdm(total=len(todo), desc=f"embed {sr_name(sr)}", unit="img", disable=not progress or not todo)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        hr = load_images(chunk, progress=False)
        if model is None:
            x = hr
            q_psnr = q_ssim = np.full(len(chunk), np.nan, np.float32)
        else:
            lr = downsample(hr, scale, method=degrade)
            with torch.no_grad():
                x = model(lr.to(device)).float().clamp_(0, 1).cpu()
            if x.shape[-2:] != hr.shape[-2:]:
                raise ValueError(
                    f"SR model {sr_name(sr)!r} returned {tuple(x.shape[-2:])} images for {tuple(hr.shape[-2:])} HR faces "
                    f"at scale {scale}; it must restore the HR size"
                )
            q_psnr = np.asarray(psnr(x, hr), np.float32)
            q_ssim = np.asarray(ssim(x, hr), np.float32)
        feats = embed(recognizer, x, flip=flip, batch_size=batch_size, device=device)
        base = len(store.rows)
        for i, p in enumerate(chunk):
            store.rows[p] = base + i
        store.features.append(np.asarray(feats, np.float32))
        store.psnr.append(q_psnr)
        store.ssim.append(q_ssim)
        bar.update(len(chunk))
    bar.close()
    if store.features and len(store.features) > 1:  # keep one contiguous block per key
        store.features = [np.concatenate(store.features)]
        store.psnr = [np.concatenate(store.psnr)]
        store.ssim = [np.concatenate(store.ssim)]
    rows = np.fromiter((store.rows[p] for p in paths), dtype=np.int64, count=len(paths))
    return store.features[0][rows], store.psnr[0][rows], store.ssim[0][rows]
