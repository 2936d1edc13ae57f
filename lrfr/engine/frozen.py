"""What a frozen network computes over a training set, computed once and kept in RAM.

A recipe whose network is frozen for a whole stage should not run it at every step: its features
(:class:`FrozenFeatures`) or its outputs (:func:`super_resolve_all`) are made once, indexed like the
training set, and looked up. Both run in eval mode without gradients and return CPU tensors.

Features can also be kept on disk (``cache_dir``, a recipe's ``[data] cache_dir``), so that another seed,
a resumed run or a second recipe on the same faces and recognizer does not embed them again: the file's
name is a digest of the decoded pixels, the recognizer (:func:`lrfr.fingerprint.module_digest`), the flips,
the batch size and the device type, so anything that could change a float computes afresh.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
from torch import nn

from lrfr.engine.batches import take

log = logging.getLogger(__name__)
#: bump when what a cache file holds changes
FEATURES_FORMAT = "lrfr-frozen-features/1"

__all__ = ["FrozenFeatures", "super_resolve_all"]


class FrozenFeatures:
    """A frozen recognizer's features of every training image (row i = image i) and, with flips, of its
    mirror image: computed once, looked up by index at every step (C-Face's CNN^R in stage 1, a
    distillation teacher)."""

    def __init__(self, plain: torch.Tensor, mirrored: torch.Tensor | None = None):
        if mirrored is not None and mirrored.shape != plain.shape:
            raise ValueError(f"mirrored features {tuple(mirrored.shape)} do not match {tuple(plain.shape)}")
        self.plain, self.mirrored = plain, mirrored

    def __len__(self) -> int:
        return len(self.plain)

    @classmethod
    def compute(cls, recognizer, data, *, hflip: bool, batch_size: int = 64, device=None, workers: int = 2,
                progress: bool = True, cache_dir: str | Path | None = None) -> "FrozenFeatures":
        """Embed the whole training set once (eval mode, ``forward_trusted``); features are kept on the CPU.

        With ``cache_dir`` and a pre-decoded set (``data.images``), read them from the file a previous call
        with the same pixels, recognizer, flips, batch size and device type wrote there, or write it."""
        device = device if device is not None else next(recognizer.parameters()).device
        path = None
        if cache_dir and hasattr(data, "images"):
            key = _features_key(recognizer, data, hflip, batch_size, torch.device(device).type)
            path = Path(cache_dir) / f"frozen-features-{key}.pt"
            cached = _read_features(path, key)
            if cached is not None:
                log.info("frozen recognizer: features of the training faces read from %s", path)
                return cached
        out = cls._embed(recognizer, data, hflip=hflip, batch_size=batch_size, device=device, workers=workers,
                         progress=progress)
        if path is not None:
            from lrfr.io import atomic_torch_save

            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save({"format": FEATURES_FORMAT, "key": key, "plain": out.plain, "mirrored": out.mirrored}, path)
        return out

    @classmethod
    @torch.no_grad()
    def _embed(cls, recognizer, data, *, hflip: bool, batch_size: int, device, workers: int,
               progress: bool) -> "FrozenFeatures":
        from tqdm.auto import tqdm

        was_training = recognizer.training
        recognizer.eval()
        plain, mirrored = [], []
        starts = range(0, len(data), batch_size)
        for s in tqdm(starts, desc="frozen recognizer: features of the training faces", disable=not progress, leave=False):
            images, _ = take(data, torch.arange(s, min(s + batch_size, len(data))), workers)
            images = images.to(device)
            plain.append(recognizer.forward_trusted(images).float().cpu())
            if hflip:
                mirrored.append(recognizer.forward_trusted(images.flip(-1)).float().cpu())
        recognizer.train(was_training)
        return cls(torch.cat(plain), torch.cat(mirrored) if hflip else None)

    def lookup(self, indices: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
        """Features of images ``indices``, the mirrored image's where ``flip`` is set."""
        out = self.plain[indices]
        if flip is not None and bool(flip.any()):
            if self.mirrored is None:
                raise ValueError("this cache holds no features of mirrored images (computed with hflip=False)")
            out = torch.where(flip[:, None], self.mirrored[indices], out)
        return out


def _features_key(recognizer: nn.Module, data, hflip: bool, batch_size: int, device_type: str) -> str:
    """A digest of everything the features depend on (the pixels themselves, not their file names)."""
    from lrfr.fingerprint import module_digest

    h = hashlib.blake2b(digest_size=16)
    h.update(f"{FEATURES_FORMAT}|{module_digest(recognizer)}|{hflip}|{batch_size}|{device_type}|"
             f"{tuple(data.images.shape)}".encode())
    h.update(data.images.contiguous().numpy().data)
    return h.hexdigest()


def _read_features(path: Path, key: str) -> "FrozenFeatures | None":
    """The cached features at ``path`` when it holds ``key``'s (the key covers the set's size and the flips);
    None (and a warning for a damaged file) otherwise."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("format") != FEATURES_FORMAT or stored.get("key") != key:
            return None
        return FrozenFeatures(stored["plain"], stored["mirrored"])
    except Exception as err:  # a truncated or foreign file: embed again and overwrite it
        log.warning("ignoring %s (%s); computing the features again", path, err)
        return None


@torch.no_grad()
def super_resolve_all(generator: nn.Module, data, *, scale: int, degrade: str, batch_size: int = 64,
                      workers: int = 2, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(SR faces as uint8 ``(N, 3, H, W)``, labels): every training face degraded and super-resolved by a frozen
    generator, as saved images would be (C-Face's stage 2, D^SR; a distillation front-end's faces)."""
    from tqdm.auto import tqdm

    from lrfr.data.degradations import degrade_batch

    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    images, labels = [], []
    for s in tqdm(range(0, len(data), batch_size), desc="frozen generator: super-resolving the training faces",
                  disable=not progress, leave=False):
        hr, lab = take(data, torch.arange(s, min(s + batch_size, len(data))), workers)
        # a degradation spec's random draws are seeded by the image's index in the training set
        sr = generator(degrade_batch(hr, scale, degrade, key=(0,), first_row=s).to(device)).clamp_(0, 1)
        images.append(sr.mul_(255).round_().to(torch.uint8).cpu())
        labels.append(torch.as_tensor(lab, dtype=torch.long))
    generator.train(was_training)
    return torch.cat(images), torch.cat(labels)
