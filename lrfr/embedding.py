"""Degrade → super-resolve → embed, for a list of HR image files, with a bounded in-memory cache.

This is the pixel half of :func:`lrfr.evaluate`: it turns image paths into features (and
per-image PSNR/SSIM of SR vs HR). Features are cached per (data, scale, degradation, SR model,
recognizer, flip fusion) so that running several protocols, or the same protocol twice, embeds
each image once.

The cache keeps the :data:`CACHE_ENTRIES` most recently used feature sets (least recently used
dropped first; :func:`set_cache_entries`), so evaluating a generator again and again during
training does not grow memory. A model file is keyed by its path, size and modification time;
a model passed as an ``nn.Module`` by a digest of what determines its output: class, ``repr``,
plain attributes and every parameter and buffer (so a changed batch-norm statistic, or weights
permuted to the same sum, are another key). A callable that is not an ``nn.Module`` cannot be
fingerprinted and is never cached.

Every image must have the recognizer's input size (``recognizer.input_size``); an image that
cannot be read or has another size stops the run with an error naming it, unless
``on_bad_image="skip"``: then it is left out, and :class:`Extracted` says which and why.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lrfr.devices import resolve_device
from lrfr.errors import BadImageError
from lrfr.feature_store import STAGES, Extracted, FeatureKey
from lrfr.data.degradations import degradation_seed
from lrfr.fingerprint import module_digest

HR = "hr"  # the upper bound: no degradation, no SR

#: how many feature sets the cache keeps (least recently used dropped first)
CACHE_ENTRIES = 8

ON_BAD_IMAGE = ("error", "skip")

#: embedding precisions: "fp32" (the default, on every device: the measuring stick) or "bf16"
#: (bfloat16 autocast, opt-in: ``lrfr.evaluate(fast=True)``; its speed and what it changes: ``lrfr bench fast``,
#: docs/benchmarks.md)
PRECISIONS = ("fp32", "bf16")

#: faces of a bf16 call that are embedded in fp32 as well, to report how far bf16 moved them
FAST_CHECK_FACES = 256


@dataclass
class CachedFeatures:
    rows: dict[str, int] = field(default_factory=dict)  # path → row
    features: list[np.ndarray] = field(default_factory=list)
    psnr: list[np.ndarray] = field(default_factory=list)
    ssim: list[np.ndarray] = field(default_factory=list)
    bad: dict[str, str] = field(default_factory=dict)  # path → why it cannot be used
    check: list[np.ndarray] = field(default_factory=list)  # bf16 vs fp32 cosine of the first faces


class _StageClock:
    """Adds each stage's wall time to a dict. Stage boundaries on CUDA synchronize the device so a
    stage is charged for its own kernels; a batch has five such boundaries, and it already waited
    for the device once, in the device-to-host copy of its features."""

    def __init__(self, device: torch.device):
        import time

        self._now = time.perf_counter
        self._sync = torch.cuda.synchronize if device.type == "cuda" else None
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self._t = self._now()

    def done(self, stage: str) -> None:
        if self._sync is not None:
            self._sync()
        t = self._now()
        self.seconds[stage] += t - self._t
        self._t = t


_CACHE: OrderedDict[FeatureKey, CachedFeatures] = OrderedDict()


def clear_cache() -> None:
    _CACHE.clear()


def set_cache_entries(n: int) -> None:
    """Keep at most ``n`` feature sets in the cache (0 turns caching off); drops the oldest now."""
    global CACHE_ENTRIES
    if int(n) != n or n < 0:
        raise ValueError(f"cache entries must be an integer >= 0; got {n!r}")
    CACHE_ENTRIES = int(n)
    _evict()


def _evict() -> None:
    while len(_CACHE) > CACHE_ENTRIES:
        _CACHE.popitem(last=False)


def _cache_store(key: FeatureKey | None) -> CachedFeatures:
    if key is None or CACHE_ENTRIES == 0:
        return CachedFeatures()
    store = _CACHE.get(key)
    if store is None:
        store = _CACHE[key] = CachedFeatures()
        _evict()
    else:
        _CACHE.move_to_end(key)
    return store


def model_key(model: object, label: str | None = None) -> str | None:
    """A cache key for a model: its registry name; for a model file its resolved path, size and
    modification time (a retrained file is another key); for an ``nn.Module`` its class and
    :func:`module_digest`; ``None`` (do not cache) for any other callable."""
    if isinstance(model, (str, Path)):
        path = Path(model)
        if path.is_file():
            st = path.stat()
            return f"file:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        return str(model)
    if isinstance(model, nn.Module):
        return f"{label or type(model).__name__}#{module_digest(model)}"
    return None


def sr_name(sr: object) -> str:
    """The name a table shows: a registry name as given; a model file's pipeline name; a module's ``name``."""
    if isinstance(sr, (str, Path)):
        if Path(str(sr)).suffix in (".pt", ".pth") and Path(str(sr)).is_file():
            from lrfr.modelfile import read_model

            return str(read_model(sr)["meta"].get("pipeline") or Path(str(sr)).stem)
        return str(sr)
    return getattr(sr, "name", None) or type(sr).__name__


def build_sr(sr: object, scale: int) -> nn.Module | None:
    """``"hr"`` → None (no degradation); anything else through :meth:`lrfr.probe.FrontEnd.resolve` — the one
    resolver of front-ends: ``"bicubic"``, a model file or ``packaged:NAME`` (its scale must be the evaluation's),
    a module as it is. A registry name of a *learned* architecture (``"srresnet"``) is refused: it would evaluate
    an untrained network; pass the model file its training wrote (``runs/srgan/generator.pt``)."""
    if isinstance(sr, (str, Path)):
        from lrfr.probe import FrontEnd

        if str(sr) == HR:
            return None
        front = FrontEnd.resolve(sr)
        if front.model is None:  # bicubic: parameter-free, built at the evaluation's scale
            from lrfr import sr as sr_registry

            return sr_registry.build(front.name, scale=scale)
        if front.scale != scale:
            raise ValueError(f"{sr} is a ×{front.scale} generator, but the evaluation degrades ×{scale} "
                             f"(pass scale={front.scale})")
        return front.model
    if isinstance(sr, nn.Module) or callable(sr):
        return sr
    raise TypeError(f"sr_model must be a registry name, 'hr', a model file, or an nn.Module; got {type(sr).__name__}")


def expected_size(recognizer: nn.Module) -> tuple[int, int] | None:
    """The HR image size the recognizer takes (its ``input_size``), or None if it does not say."""
    size = getattr(recognizer, "input_size", None)
    if size is None:
        return None
    size = tuple(int(s) for s in size)
    return size if len(size) == 2 else None


def extract_features(
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
    on_bad_image: str = "error",
    degrade_seed: int = 0,
    precision: str = "fp32",
    feature_dir: str | Path | None = None,
    backend: str = "torch",
) -> Extracted:
    """Features, PSNR and SSIM for ``paths`` (NaN quality for ``"hr"``), as :class:`Extracted`.

    Chain per batch of HR images (float [0, 1]): ``lrfr.data.resample.degrade_batch(hr, scale,
    degrade, seeds)`` (``degrade``: ``"bicubic"``, ``"bilinear_steps"`` or a degradation spec of
    :mod:`lrfr.data.degradations`; image ``p``'s seed is :func:`degradation_seed` ``(degrade_seed, p)``,
    so its LR bytes do not depend on the batch it falls in) → SR model → clamp to [0, 1] → recognizer (flip-fused by ``embed``). Every
    HR image must have the recognizer's ``input_size`` (else the first image's size, for a
    recognizer that declares none) and the SR output must restore it. PSNR/SSIM: RGB, data range 1,
    no border crop (see :mod:`lrfr.metrics.quality`), computed on ``device``, where the SR faces are
    (degradation always runs on the CPU, so every device super-resolves the same LR bytes).

    ``precision``: ``"fp32"`` (default, on every device) or ``"bf16"`` (bfloat16 autocast for the
    recognizer only; the first :data:`FAST_CHECK_FACES` faces are embedded in fp32 too and
    ``Extracted.check`` holds their cosine to the bf16 features).

    ``backend``: ``"torch"`` (default) or ``"onnxruntime"`` (the recognizer exported once and run by onnxruntime
    on the CPU; :mod:`lrfr.recognition.onnx_backend`; fp32 only).

    ``feature_dir``: a folder where each extraction is stored and found again on disk, keyed by
    everything that made it (:mod:`lrfr.feature_store`); ``None`` (default): memory only.

    ``on_bad_image``: ``"error"`` (default) — an unreadable image or one of another size raises
    :class:`~lrfr.errors.BadImageError` naming it; ``"skip"`` — such images get NaN rows and are
    listed in ``Extracted.skipped`` with the reason.
    """
    from lrfr.data.degradations import canonical

    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(f"on_bad_image must be one of {', '.join(ON_BAD_IMAGE)}; got {on_bad_image!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if backend not in ("torch", "onnxruntime"):
        raise ValueError(f"backend must be 'torch' or 'onnxruntime'; got {backend!r}")
    if backend == "onnxruntime" and precision != "fp32":
        raise ValueError("the onnxruntime backend embeds in fp32: drop fast=True (bf16) or use backend='torch'")
    spec = canonical(degrade)  # a malformed spec fails here, before any image is read
    chain = "none" if isinstance(sr, str) and sr == HR else f"{spec}#seed={int(degrade_seed)}"  # HR is never degraded
    # what makes this set of features: the in-memory cache's key, and (with the files) the disk store's
    key = FeatureKey(scale, chain, model_key(sr), recognizer_key or model_key(recognizer), flip, precision, backend)
    paths = [str(Path(p)) for p in paths]
    args = dict(key=key, spec=spec, degrade_seed=degrade_seed, batch_size=batch_size, device=device,
                progress=progress, cache=cache, on_bad_image=on_bad_image)
    if feature_dir is None:
        return _extract_features(paths, sr, recognizer, **args)
    from lrfr import feature_store

    stored_key = feature_store.store_key(paths, key, on_bad_image=on_bad_image)
    stored = feature_store.load(feature_dir, stored_key)
    if stored is not None:
        return stored
    extracted = _extract_features(paths, sr, recognizer, **args)
    feature_store.save(feature_dir, stored_key, extracted)
    return extracted


def _extract_features(
    paths: list[str],
    sr: object,
    recognizer: nn.Module,
    *,
    key: FeatureKey,
    spec: str,
    degrade_seed: int,
    batch_size: int,
    device: str | torch.device | None,
    progress: bool,
    cache: bool,
    on_bad_image: str,
) -> Extracted:
    """:func:`extract_features` without the disk store, its arguments checked and ``key`` made."""
    from tqdm.auto import tqdm

    from lrfr.data.degradations import apply_degradation
    from lrfr.data.folders import read_images
    from lrfr.metrics.quality import psnr, ssim
    from lrfr.metrics.verification import pair_scores
    from lrfr.recognition import embed

    device = resolve_device(device)
    scale, flip, precision = key.scale, key.flip, key.precision
    store = _cache_store(key if cache and key.sr and key.recognizer else None)
    if on_bad_image == "error":
        for p in paths:
            if p in store.bad:
                raise BadImageError(p, store.bad[p])
    todo = [p for p in dict.fromkeys(paths) if p not in store.rows and p not in store.bad]
    size = expected_size(recognizer)
    size_source = "the recognizer's input size" if size is not None else "the size of the first image"
    model = build_sr(sr, scale) if todo else None
    channels_last = isinstance(model, nn.Module) and device.type == "cpu" and any(True for _ in model.parameters())
    if isinstance(model, nn.Module):
        # channels_last speeds SRResNet up on the CPU (lrfr bench sr; docs/benchmarks.md)
        model = model.to(device).eval()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
    if todo:
        recognizer = recognizer.to(device).eval()
    bar = tqdm(total=len(todo), desc=f"embed {sr_name(sr)}", unit="img", disable=not progress or not todo)
    clock = _StageClock(device)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        hr, ok, bad = read_images(chunk, size=size, size_source=size_source, on_error=on_bad_image)
        clock.done("read")
        for i, reason in bad.items():
            store.bad[chunk[i]] = reason
        bar.update(len(chunk))
        if not ok:
            continue
        if size is None:
            size = tuple(hr.shape[-2:])
        chunk = [chunk[i] for i in ok]
        if model is None:
            x = hr
            q_psnr = q_ssim = np.full(len(chunk), np.nan, np.float32)
        else:
            # degraded on the CPU whatever the device: the same LR bytes on every machine
            lr = apply_degradation(hr, scale, spec, [degradation_seed(degrade_seed, p) for p in chunk])
            clock.done("degrade")
            with torch.no_grad():
                lr = lr.to(device)
                if channels_last:
                    lr = lr.contiguous(memory_format=torch.channels_last)
                x = model(lr).float().clamp_(0, 1)
                # on a GPU the SR faces stay there for quality and embedding; on the CPU, contiguous
                x = x.contiguous() if device.type == "cpu" else x
            clock.done("sr")
            if x.shape[-2:] != hr.shape[-2:]:
                raise ValueError(
                    f"SR model {sr_name(sr)!r} returned {tuple(x.shape[-2:])} images for {tuple(hr.shape[-2:])} HR faces "
                    f"at scale {scale}; it must restore the HR size"
                )
            ref = hr.to(device)
            q_psnr = psnr(x, ref).cpu().numpy().astype(np.float32)
            q_ssim = ssim(x, ref).cpu().numpy().astype(np.float32)
            clock.done("quality")
        feats = embed(recognizer, x, flip=flip, batch_size=batch_size, device=device, amp=precision,
                      backend=key.backend)
        checked = sum(len(c) for c in store.check)
        if precision != "fp32" and checked < FAST_CHECK_FACES:
            n = min(FAST_CHECK_FACES - checked, len(feats))
            exact = embed(recognizer, x[:n], flip=flip, batch_size=batch_size, device=device, amp="fp32")
            store.check.append(pair_scores(feats[:n], exact).astype(np.float32))
        clock.done("embed")
        base = len(store.rows)
        for i, p in enumerate(chunk):
            store.rows[p] = base + i
        store.features.append(np.asarray(feats, np.float32))
        store.psnr.append(q_psnr)
        store.ssim.append(q_ssim)
    bar.close()
    if len(store.features) > 1:  # keep one contiguous block per key
        store.features = [np.concatenate(store.features)]
        store.psnr = [np.concatenate(store.psnr)]
        store.ssim = [np.concatenate(store.ssim)]
    check = np.concatenate(store.check) if store.check else np.zeros(0, np.float32)
    skipped = {p: store.bad[p] for p in dict.fromkeys(paths) if p in store.bad}
    good = np.array([p not in store.bad for p in paths], dtype=bool)
    if paths and not good.any():
        first = next(iter(skipped))
        raise BadImageError(first, f"{skipped[first]} (and every other of the {len(paths)} images could not be used either)")
    if not paths:
        return Extracted(np.zeros((0, 0), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32), {},
                         clock.seconds, check)
    rows = np.fromiter((store.rows[p] for p, g in zip(paths, good) if g), dtype=np.int64, count=int(good.sum()))
    if good.all():
        return Extracted(store.features[0][rows], store.psnr[0][rows], store.ssim[0][rows], skipped, clock.seconds,
                         check)
    feats = np.full((len(paths), store.features[0].shape[1]), np.nan, np.float32)
    q_psnr = np.full(len(paths), np.nan, np.float32)
    q_ssim = np.full(len(paths), np.nan, np.float32)
    feats[good], q_psnr[good], q_ssim[good] = store.features[0][rows], store.psnr[0][rows], store.ssim[0][rows]
    return Extracted(feats, q_psnr, q_ssim, skipped, clock.seconds, check)

