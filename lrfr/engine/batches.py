"""Deterministic batch order and augmentation, derived from (seed, step) alone.

Because the i-th batch and its augmentation depend only on the seed and the step number, a run
resumed from a checkpoint at step s draws exactly the batches an uninterrupted run would have.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7_919 + stream) % (2**63))


class EpochBatches:
    """Batch ``step`` = slice of a per-epoch permutation seeded by ``(seed, epoch)``; drops the last partial batch."""

    def __init__(self, n_items: int, batch_size: int, seed: int):
        if n_items < batch_size:
            raise ValueError(f"training set has {n_items} images, fewer than batch_size={batch_size}")
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.per_epoch = n_items // batch_size
        self._perm_epoch, self._perm = -1, None

    def indices(self, step: int) -> torch.Tensor:
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 7_777 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n_items, generator=g), epoch
        return self._perm[k * self.batch_size : (k + 1) * self.batch_size]


def flip_mask(n: int, generator: torch.Generator) -> torch.Tensor:
    """Which of ``n`` images a horizontal-flip augmentation mirrors (p = 0.5 each), drawn from ``generator``."""
    return torch.rand(n, generator=generator) < 0.5


def apply_flip(images: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror left↔right the images of ``(N, C, H, W)`` whose entry of the bool mask ``flip`` is set."""
    return torch.where(flip.to(images.device)[:, None, None, None], images.flip(-1), images)


def augment(images: torch.Tensor, generator: torch.Generator, hflip: bool = True, crop_pad: int = 0,
            rows: slice | None = None, n_total: int | None = None) -> torch.Tensor:
    """Horizontal flip (p=0.5) and a small random crop: pad by ``crop_pad`` (edge replicate), crop back.

    ``rows`` of ``n_total``: ``images`` are these rows of a larger (global) batch; the random draws are
    made for the whole batch and sliced, so a rank's share is augmented exactly as in one process.
    """
    n, _, h, w = images.shape
    total = n if n_total is None else n_total
    rows = rows if rows is not None else slice(0, total)
    out = images
    if hflip:
        out = apply_flip(out, flip_mask(total, generator)[rows])
    if crop_pad > 0:
        padded = F.pad(out, (crop_pad,) * 4, mode="replicate")
        dy = torch.randint(0, 2 * crop_pad + 1, (total,), generator=generator)[rows]
        dx = torch.randint(0, 2 * crop_pad + 1, (total,), generator=generator)[rows]
        out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    return out


def take(data, indices: torch.Tensor, workers: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float [0, 1], labels) of ``indices`` from a pre-decoded set (``.batch``) or any face dataset."""
    return data.batch(indices) if hasattr(data, "batch") else gather(data, indices, workers)


def draw_batch(data, batches: "EpochBatches", step: int, seed: int, hflip: bool, crop_pad: int,
               workers: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's rows of step ``step``'s augmented batch (the whole batch without DDP).

    The global batch and its augmentation follow from ``(seed, step)`` alone; under torchrun each rank
    decodes only its rows (:func:`lrfr.engine.distributed.local_rows`).
    """
    from lrfr.engine.distributed import local_rows

    idx = batches.indices(step)
    rows = local_rows(len(idx))
    images, labels = take(data, idx[rows], workers)
    images = augment(images, step_generator(seed, step), hflip, crop_pad, rows=rows, n_total=len(idx))
    return images, labels


def gather(dataset, indices: torch.Tensor, workers: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Fetch items ``(image, label, ...)`` for ``indices`` (threads: image decoding releases the GIL)."""
    idx = indices.tolist()
    if workers > 1 and len(idx) > 1:
        with ThreadPoolExecutor(workers) as pool:
            items = list(pool.map(dataset.__getitem__, idx))
    else:
        items = [dataset[i] for i in idx]
    images = torch.stack([it[0] for it in items])
    labels = torch.as_tensor([int(it[1]) for it in items], dtype=torch.long)
    return images, labels
