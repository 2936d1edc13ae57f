"""Exact k-th highest values of a large float32 array, for many k at once, in two linear passes.

BLUFR's full FAR grid asks for ~70 order statistics of each trial's ~47M impostor scores. Sorting
the scores costs seconds a trial on a small CPU; ``np.partition`` with many ``kth`` is no better
(``lrfr bench protocols``). This module does what a radix select does, with numpy's vectorized passes:

1. each score is mapped to a 32-bit integer key ordered like the floats (the IEEE-754 trick:
   non-negative floats keep their bits, negative ones flip their 31 lower bits; ``-0.0`` is
   first made ``+0.0`` so that equal floats get equal keys), and the keys' top ``BUCKET_BITS``
   bits are counted (``np.bincount``): a histogram whose buckets are ordered like the scores;
2. the histogram's cumulative counts from the top say, for each k, the bucket that holds the k-th
   highest score and its rank inside that bucket; only those buckets' scores are copied out
   (a few thousand of ~50M) and sorted.

The results are the exact values a full sort would give (tested against ``np.sort``), and the
number of scores ``>=`` each value is exact too. Chunked (``CHUNK`` scores at a time); the
buckets of the first pass are kept for the second (4 bytes a score: BLUFR's 47M, 190 MB). NaN has no place in a ranking and is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: histogram resolution: 2^20 buckets (8 MB of counts); a bucket spans 2^-11 of a score's magnitude
BUCKET_BITS = 20
_SHIFT = 32 - BUCKET_BITS
_OFFSET = 1 << (BUCKET_BITS - 1)  # keys are signed: shift them into [0, 2^BUCKET_BITS)
#: scores per pass step: big enough for numpy's loops, small enough to stay out of the way
CHUNK = 1 << 22


def _buckets(chunk: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Bucket of each float32 score (non-decreasing in the score; ``-0.0`` and ``+0.0`` share one),
    written into ``out`` (int32, the chunk's length) when given. Two temporaries, the rest in place."""
    bits = np.add(chunk, np.float32(0.0), out=None if out is None else out.view(np.float32)).view(np.int32)
    flip = bits >> 31  # -0.0 + 0.0 == +0.0 above; negative floats: flip their 31 lower bits
    flip &= np.int32(0x7FFFFFFF)
    bits ^= flip
    bits >>= _SHIFT
    bits += _OFFSET
    return bits


@dataclass
class KthHighest:
    """``values[i]``: the ``ks[i]``-th highest score (1-based); ``at_least[i]``: how many scores are
    ``>= values[i]`` (``ks[i]`` plus the ties just below it); ``max``: the highest score."""

    values: np.ndarray
    at_least: np.ndarray
    max: np.float32


def kth_highest(scores: np.ndarray, ks) -> KthHighest:
    """The ``k``-th highest of ``scores`` (float32, 1-D) for every ``k`` in ``ks`` (1 ≤ k ≤ n), exactly."""
    scores = np.asarray(scores)
    if scores.dtype != np.float32 or scores.ndim != 1:
        raise ValueError(f"kth_highest needs a 1-D float32 array; got {scores.dtype} with shape {scores.shape}")
    n = scores.size
    ks = np.asarray(ks, dtype=np.int64).ravel()
    if n == 0:
        raise ValueError("kth_highest: no scores")
    if ks.size and (ks.min() < 1 or ks.max() > n):
        raise ValueError(f"kth_highest: every k must be in 1..{n}; got {ks.min()}..{ks.max()}")
    counts = np.zeros(1 << BUCKET_BITS, dtype=np.int64)
    # the first pass keeps every score's bucket (4 bytes a score) for the second pass to reuse
    bucket = np.empty(n, dtype=np.int32)
    for s in range(0, n, CHUNK):
        chunk = scores[s:s + CHUNK]
        if np.isnan(chunk).any():
            raise ValueError("kth_highest: the scores hold NaN, which has no rank")
        counts += np.bincount(_buckets(chunk, bucket[s:s + CHUNK]), minlength=1 << BUCKET_BITS)
    above = np.cumsum(counts[::-1])[::-1] - counts  # scores in buckets strictly higher than each bucket
    top = int(np.flatnonzero(counts)[-1])
    # the k-th highest lies in the lowest bucket b with above[b] < k (then above[b - 1] >= k, so
    # k <= above[b] + counts[b]); `above` does not increase with b, so a binary search finds it
    where = np.searchsorted(-above, -ks, side="right")
    wanted = np.zeros(1 << BUCKET_BITS, dtype=bool)
    wanted[where] = True
    wanted[top] = True
    picked, picked_bucket = [], []
    for s in range(0, n, CHUNK):
        chunk = scores[s:s + CHUNK]
        b = bucket[s:s + CHUNK]
        m = wanted[b]
        picked.append(chunk[m])
        picked_bucket.append(b[m])
    vals = np.concatenate(picked)
    bks = np.concatenate(picked_bucket)
    srt = np.lexsort((-vals, -bks))  # by bucket, then value, both descending
    vals, bks = vals[srt], bks[srt]
    firsts = np.searchsorted(-bks, -where)  # where each wanted bucket's scores start
    values = np.empty(ks.size, dtype=np.float32)
    at_least = np.empty(ks.size, dtype=np.int64)
    for i, (k, b, first) in enumerate(zip(ks, where, firsts)):
        inside = vals[first:first + int(counts[b])]  # this bucket's scores, descending
        v = inside[int(k - above[b]) - 1]
        values[i] = v
        # ties at v: every score of this bucket >= v (equal scores share a bucket)
        at_least[i] = int(above[b]) + int(np.count_nonzero(inside >= v))
    return KthHighest(values, at_least, np.float32(vals[0]))  # the top bucket comes first
