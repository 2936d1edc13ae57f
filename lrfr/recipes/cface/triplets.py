"""C-Face's training triplets (I_o^LR, I_o^HR, I_c^HR), drawn from ``(seed, step)`` alone (papers/004 §3.3).

:class:`TripletSampler` says, for step ``s``, which training images are the inputs I_o (a slice of
a per-epoch permutation, :class:`~lrfr.engine.batches.EpochBatches`), which image is each one's
compare face I_c (uniform over the :class:`~lrfr.index.miner.CompareFaceMiner`'s top-k of I_o
within its identity — k = 3 is the paper's; k = 1…5 and ``"random"``, any other image of the
identity, are Table 6's ablation), and which triplets are mirrored (horizontal flip, p = 0.5, the
whole triplet at once). The LR input is degraded from HR_o by the recipe. Because every draw is a
pure function of ``(seed, step)``, a resumed run draws exactly the triplets an uninterrupted one would.

:class:`lrfr.engine.frozen.FrozenFeatures` holds CNN^R's identity features of
every HR training image — and of its mirror image when flips are drawn — computed once: while CNN^R is
frozen (stage 1) the features of HR_o and HR_c never change, so a step only runs CNN^R on its SR output.

lrfr's choices (the paper is silent): the compare face is mirrored with its input; images the
miner marks unusable (single-image identities under ``singleton="exclude"``) are never inputs;
the draw of I_c uses stream 2 of :func:`~lrfr.engine.batches.step_generator` (stream 0 is the
flip, stream 1 WGAN-GP's ε).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lrfr.engine.batches import EpochBatches, flip_mask, step_generator

__all__ = ["Triplets", "TripletSampler", "COMPARE_STREAM"]

#: CNN^R's features of every HR training face, computed once (the engine's cache of a frozen network)

#: the step_generator stream the compare faces are drawn from
COMPARE_STREAM = 2


@dataclass(frozen=True)
class Triplets:
    """One step's triplets: dataset indices of I_o and I_c, and which triplets are mirrored."""

    index: torch.Tensor  # (B,) int64
    compare: torch.Tensor  # (B,) int64
    flip: torch.Tensor  # (B,) bool

    def rows(self, sl: slice) -> "Triplets":
        """The triplets ``sl`` of this batch (a rank's share of the global batch)."""
        return Triplets(index=self.index[sl], compare=self.compare[sl], flip=self.flip[sl])


class TripletSampler:
    """Triplets of step ``s`` from ``(seed, s)``: inputs by epoch permutation, compare faces from ``miner``.

    ``miner``: a :class:`~lrfr.index.miner.CompareFaceMiner` over the training set (its ``usable``
    images are the inputs); ``hflip``: draw mirrored triplets (p = 0.5).
    """

    def __init__(self, miner, batch_size: int, seed: int, hflip: bool = True):
        self.miner = miner
        self.pool = torch.from_numpy(np.flatnonzero(miner.usable).astype(np.int64))
        if len(self.pool) < batch_size:
            raise ValueError(f"only {len(self.pool)} training images have a compare face, fewer than the batch "
                             f"size {batch_size}")
        self.batches = EpochBatches(len(self.pool), batch_size, seed)
        self.seed, self.hflip, self.batch_size = seed, bool(hflip), batch_size

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.per_epoch

    def draw(self, step: int) -> Triplets:
        index = self.pool[self.batches.indices(step)]
        compare = self.miner.draw_batch(index, generator=step_generator(self.seed, step, stream=COMPARE_STREAM))
        if self.hflip:
            flip = flip_mask(len(index), step_generator(self.seed, step))
        else:
            flip = torch.zeros(len(index), dtype=torch.bool)
        return Triplets(index=index, compare=compare.to(torch.int64), flip=flip)
