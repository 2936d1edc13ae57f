"""ROC and verification rate (VR) at fixed false accept rates (FAR), exact and scalable.

Operating point rule (BLUFR's, Liao et al. 2014), used everywhere in lrfr:

* scores are similarities (higher = more alike); a pair is **accepted iff ``score ≥ threshold``**;
* for a target ``FAR`` over ``n`` impostor scores, ``k = round(FAR · n)`` with halves rounded
  up (MATLAB's ``round``), and the threshold is the **k-th highest impostor score** (1-based),
  so at least ``k`` impostors are accepted (more if several impostors tie at the threshold;
  the achieved FAR is reported next to the nominal one);
* ``k = 0`` (``FAR = 0``, or ``FAR·n < 0.5``): the threshold lies **just above the highest
  impostor score** (``np.nextafter(max, +inf)`` in the scores' dtype): only scores strictly greater than
  every impostor are accepted, and the achieved FAR is 0;
* ``k = n`` (``FAR = 1``): the threshold is ``-inf``: **every** pair is accepted (VR = 1).

:func:`all_pairs_verification` applies this to every pair ``i < j`` of a feature set (BLUFR: ~10k
images, ~53M pairs a trial) without ever forming an N×N float64 matrix: float32 similarity
blocks of ``chunk`` rows are computed with torch (CPU or CUDA), their genuine and impostor
entries of the upper triangle are copied out (as contiguous row slices, the images being put in
label order first) (impostors into one preallocated float32 array,
4 bytes each: ~190 MB for BLUFR), and the thresholds are then found by exact selection
(``np.partition`` for a few FAR points; for a whole grid, one bucketed two-pass selection,
:mod:`lrfr.metrics.kth`). The result is exact for the float32 scores — VR@0.1% included — not a
histogram approximation: the histogram only says which few scores to look at.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def n_false_accepts(far: float, n_impostors: int) -> int:
    """``k = round(far · n)``, halves up, clipped to ``[0, n]``."""
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"FAR must be in [0, 1]; got {far}")
    return int(min(max(np.floor(far * n_impostors + 0.5), 0), n_impostors))


def _threshold_from_kth(k: int, n: int, kth_highest, max_score) -> float:
    if n == 0:
        return float("nan")
    if k == 0:
        # next representable value above the max *in the scores' own dtype* (float32 scores →
        # next float32), so that the comparison is exact whichever dtype it is done in
        m = max_score if isinstance(max_score, np.floating) else np.float64(max_score)
        return float(np.nextafter(m, m.dtype.type(np.inf)))
    if k >= n:
        return float("-inf")
    return float(kth_highest)


def threshold_at_far(impostor_scores, far: float) -> float:
    """The acceptance threshold for ``far`` over ``impostor_scores`` (rule in the module doc)."""
    imp = np.asarray(impostor_scores).ravel()
    n = imp.size
    k = n_false_accepts(far, n)
    if n == 0:
        return float("nan")
    kth = np.partition(imp, n - k)[n - k] if 0 < k < n else None
    return _threshold_from_kth(k, n, kth, imp.max())


@dataclass
class VRResult:
    """Verification rates at the requested FARs (arrays aligned with ``far``)."""

    far: np.ndarray  # nominal FAR
    vr: np.ndarray  # genuine accept rate at the threshold
    threshold: np.ndarray  # accept iff score >= threshold
    far_achieved: np.ndarray  # impostors accepted / impostors
    n_genuine: int
    n_impostor: int


def vr_at_far(genuine_scores, impostor_scores, fars) -> VRResult:
    """VR at each FAR of ``fars`` from explicit genuine and impostor score arrays (rule in the module doc)."""
    gen = np.sort(np.asarray(genuine_scores, dtype=np.float64).ravel())
    imp = np.sort(np.asarray(impostor_scores, dtype=np.float64).ravel())
    return _vr_from_sorted(gen, imp, fars)


def _accept_rates(sorted_scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Share of ``sorted_scores`` (ascending) that are ``>=`` each threshold (NaN with no scores)."""
    n = sorted_scores.size
    if not n:
        return np.full(len(thresholds), np.nan)
    # thresholds are values of the scores' dtype (or ±inf), so casting them is exact and spares
    # numpy an upcast copy of the (possibly 50M-long) array
    return (n - np.searchsorted(sorted_scores, thresholds.astype(sorted_scores.dtype), "left")) / n


def _vr_from_sorted(gen_sorted: np.ndarray, imp_sorted: np.ndarray, fars) -> VRResult:
    fars = np.atleast_1d(np.asarray(fars, dtype=np.float64))
    n_g, n_i = gen_sorted.size, imp_sorted.size
    thr = np.empty(len(fars))
    for j, f in enumerate(fars):
        k = n_false_accepts(f, n_i)
        kth = imp_sorted[n_i - k] if 0 < k < n_i else None
        thr[j] = _threshold_from_kth(k, n_i, kth, imp_sorted[-1] if n_i else np.nan)
    vr = _accept_rates(gen_sorted, thr)
    fa = _accept_rates(imp_sorted, thr)
    return VRResult(fars, np.asarray(vr, float), thr, np.asarray(fa, float), n_g, n_i)


def roc_curve(scores, same):
    """Full ROC of similarity ``scores`` with flags ``same`` (accept iff ``score ≥ t``).

    Returns ``(far, tar, thresholds)``, one point per distinct score in decreasing threshold
    order, starting at ``(0, 0, +inf)`` (accept nothing) and ending at ``(1, 1)``.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(same, dtype=bool).ravel()
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    n_p, n_n = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    far = np.r_[0.0, fp / n_n]
    tar = np.r_[0.0, tp / n_p]
    return far, tar, np.r_[np.inf, s[last]]


def _torch_device(device):
    import torch

    return torch.device(device if device is not None else "cpu")


@dataclass
class AllPairsScores:
    """Genuine scores (sorted, float32) and impostor scores (float32; sorted if ``is_sorted``)."""

    genuine: np.ndarray
    impostor: np.ndarray
    is_sorted: bool = False


def _label_order(labels):
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    lab = labels[order]
    _, first, counts = np.unique(lab, return_index=True, return_counts=True)
    end = np.repeat(first + counts, counts)  # end[i]: one past the last position holding lab[i]
    n_gen = int((counts * (counts - 1) // 2).sum())
    n = lab.size
    return order, end, n_gen, n * (n - 1) // 2 - n_gen


def _collect(n, end, n_gen, n_imp, block, chunk) -> AllPairsScores:
    """Copy the genuine/impostor parts of the upper triangle out of ``block(a, b)`` (rows a..b-1 ×
    columns a..n-1, label-ordered) as contiguous row slices."""
    imp = np.empty(n_imp, dtype=np.float32)
    gen = np.empty(n_gen, dtype=np.float32)
    pi = pg = 0
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        blk = block(a, b)
        for r in range(b - a):
            e = end[a + r] - a
            row = blk[r]
            k = e - (r + 1)
            gen[pg:pg + k] = row[r + 1:e]
            pg += k
            k = row.size - e
            imp[pi:pi + k] = row[e:]
            pi += k
        del blk
    assert pg == n_gen and pi == n_imp
    gen.sort()
    return AllPairsScores(gen, imp, False)


def all_pairs_scores(features, labels, chunk: int = 1024, device=None, normalize: bool = True) -> AllPairsScores:
    """Cosine similarities of every pair ``i < j`` of ``features``, split by label into genuine
    (same label) and impostor (different label), in float32, ``chunk`` rows at a time.

    How: images are put in label order (a stable sort; pair scores do not depend on order), so
    that for row ``i`` the genuine partners after it are the contiguous columns
    ``i+1 .. end(label_i)-1`` and the impostor partners the contiguous columns ``end(label_i) ..
    N-1``. Each block ``x[a:b] @ x[a:].T`` (float32, torch, on ``device``) is copied out row by
    row as slices — no masks. Peak extra memory: one ``chunk × N`` float32 block and the
    impostor array (4 bytes per impostor pair). ``normalize``: L2-normalize rows first (cosine).
    """
    import torch

    dev = _torch_device(device)
    order, end, n_gen, n_imp = _label_order(labels)
    x = torch.as_tensor(np.ascontiguousarray(np.asarray(features)[order]), dtype=torch.float32).to(dev)
    if normalize:
        x = torch.nn.functional.normalize(x, dim=1)

    def block(a, b):
        with torch.no_grad():
            return (x[a:b] @ x[a:].T).cpu().numpy()

    return _collect(len(order), end, n_gen, n_imp, block, chunk)


def similarity_matrix(features, chunk: int = 1024, device=None, normalize: bool = True) -> np.ndarray:
    """The full ``N × N`` float32 cosine similarity matrix (``4·N²`` bytes: 0.7 GB for LFW's
    13,233 images), computed in row chunks; for reuse across trials that share images.

    The matrix is exactly symmetric (callers may read ``sim[j, i]`` for ``sim[i, j]``): each row
    chunk computes its columns from the diagonal on, and the block below the diagonal is its
    mirror. That is half the multiply-adds of full rows (``lrfr bench protocols``), and the
    products are the same floats as full rows (tested: ``tests/test_metrics_candidates.py``).
    """
    import torch

    dev = _torch_device(device)
    x = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32).to(dev)
    if normalize:
        x = torch.nn.functional.normalize(x, dim=1)
    n = x.shape[0]
    out = np.empty((n, n), dtype=np.float32)
    dst = torch.from_numpy(out)
    with torch.no_grad():
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            if dev.type == "cpu":  # straight into the matrix, without a copy of the block
                torch.mm(x[a:b], x[a:].T, out=dst[a:b, a:])
            else:
                dst[a:b, a:] = (x[a:b] @ x[a:].T).cpu()
            dst[b:, a:b] = dst[a:b, b:].T  # the mirror: columns a..b of the rows below this chunk
    return out


def all_pairs_scores_from_matrix(sim: np.ndarray, index, labels, chunk: int = 1024) -> AllPairsScores:
    """As :func:`all_pairs_scores` for the images ``index`` (rows/columns of the precomputed
    similarity matrix ``sim``) with ``labels`` (one per entry of ``index``)."""
    index = np.asarray(index)
    order, end, n_gen, n_imp = _label_order(labels)
    rows = index[order]

    def block(a, b):  # whole rows (contiguous copies), then their columns: faster than sim[np.ix_(...)]
        return np.take(sim[rows[a:b]], rows[a:], axis=1)

    return _collect(len(rows), end, n_gen, n_imp, block, chunk)


def vr_at_far_from_scores(scores: AllPairsScores, fars, sort_above: int = 8) -> VRResult:
    """Exact VR at ``fars`` from :func:`all_pairs_scores` output.

    With at most ``sort_above`` FAR points needing a k-th value, each is found by
    ``np.partition`` (in place, O(n) each) and the achieved FAR counted directly; with more (BLUFR's
    full grid: ~70), all of them come from one bucketed two-pass selection
    (:func:`lrfr.metrics.kth.kth_highest`, faster than the sort it replaced: ``lrfr bench protocols``). Both
    are exact; already sorted scores are binary-searched.
    """
    fars = np.atleast_1d(np.asarray(fars, dtype=np.float64))
    imp, gen = scores.impostor, scores.genuine
    n_i, n_g = imp.size, gen.size
    if scores.is_sorted:
        return _vr_from_sorted(gen, imp, fars)
    ks = [n_false_accepts(f, n_i) for f in fars]
    inner = sorted({n_i - k for k in ks if 0 < k < n_i})
    if len(inner) > sort_above:
        if imp.dtype != np.float32:  # the bucketed selection reads float32 bits
            imp.sort()
            scores.is_sorted = True
            return _vr_from_sorted(gen, imp, fars)
        return _vr_from_selection(gen, imp, fars, ks)
    if inner:
        imp.partition(inner)
    mx = imp.max() if n_i else np.nan
    thr = np.array([_threshold_from_kth(k, n_i, imp[n_i - k] if 0 < k < n_i else None, mx) for k in ks])
    vr = _accept_rates(gen, thr)
    fa = np.array([np.count_nonzero(imp >= imp.dtype.type(t)) / n_i if n_i else np.nan for t in thr])
    return VRResult(fars, np.asarray(vr, float), thr, fa, n_g, n_i)


def _vr_from_selection(gen_sorted: np.ndarray, imp: np.ndarray, fars: np.ndarray, ks: list[int]) -> VRResult:
    """VR at ``fars`` with the k-th highest impostor scores from :func:`lrfr.metrics.kth.kth_highest`
    (the same thresholds and achieved FARs as sorting ``imp``; ``imp`` is left as it is)."""
    from lrfr.metrics.kth import kth_highest

    n_g, n_i = gen_sorted.size, imp.size
    inner = sorted({k for k in ks if 0 < k < n_i})
    sel = kth_highest(imp, inner)
    kth = dict(zip(inner, sel.values))
    accepted = dict(zip(inner, sel.at_least))
    thr = np.array([_threshold_from_kth(k, n_i, kth.get(k), sel.max) for k in ks])
    fa = np.array([accepted[k] / n_i if k in accepted else (0.0 if k == 0 else 1.0) for k in ks])
    vr = _accept_rates(gen_sorted, thr)
    return VRResult(fars, np.asarray(vr, float), thr, fa, n_g, n_i)


def all_pairs_verification(features, labels, fars, chunk: int = 1024, device=None, sort_above: int = 8) -> VRResult:
    """VR at ``fars`` over all pairs ``i < j`` of ``features`` (cosine similarity, float32, chunked).

    See the module doc for the threshold rule and memory; ``device`` is a torch device for the
    similarity blocks ("cpu", "cuda"); selection runs on the CPU.
    """
    return vr_at_far_from_scores(all_pairs_scores(features, labels, chunk, device), fars, sort_above)



@dataclass
class ScoreCandidates:
    """Every pair ``i < j`` of a similarity matrix whose score is at least ``floor`` (rows/columns of the matrix)."""

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray
    floor: float


def candidates_above(sim: np.ndarray, floor: float, block: int = 512) -> ScoreCandidates:
    """One pass over the upper triangle of ``sim`` (float32, square), keeping the pairs scoring ``>= floor``."""
    import torch

    s = torch.from_numpy(sim)
    f = torch.tensor(floor, dtype=s.dtype)
    parts_i, parts_j, parts_v = [], [], []
    for r0 in range(0, s.shape[0], block):
        view = s[r0:r0 + block, r0:]  # rows r0.., columns from the diagonal on: no copy
        r, c = torch.nonzero(view >= f, as_tuple=True)
        upper = c > r
        r, c = r[upper], c[upper]
        parts_v.append(view[r, c].numpy())
        parts_i.append((r + r0).numpy())
        parts_j.append((c + r0).numpy())
    cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
    return ScoreCandidates(cat(parts_i, np.int64), cat(parts_j, np.int64), cat(parts_v, sim.dtype), float(floor))


def impostor_floor(sim: np.ndarray, index, labels, fars, *, margin: float = 4.0, sample: int = 200_000,
                   seed: int = 0) -> float | None:
    """A score floor with about ``margin`` × k impostor pairs ``i < j`` of ``index`` above it (k: the most false
    accepts any of ``fars`` allows), read off a seeded sample of impostor pairs. ``None`` when that many would
    not be a small share of the impostors (then candidates do not pay)."""
    index, labels = np.asarray(index, dtype=np.int64), np.asarray(labels)
    n = index.size
    n_gen, n_imp = _pair_counts(labels)
    k = max(n_false_accepts(f, n_imp) for f in np.atleast_1d(fars)) if n_imp else 0
    if n_imp == 0 or max(k, 1) * margin * 20 > n_imp:  # candidates would not be few: the full path is as good
        return None
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, sample), rng.integers(0, n, sample)
    keep = labels[a] != labels[b]
    drawn = sim[index[a[keep]], index[b[keep]]]
    rank = int(np.ceil(margin * max(k, 1) / n_imp * drawn.size)) + 32
    if rank >= drawn.size:
        return None
    return float(np.partition(drawn, drawn.size - rank)[drawn.size - rank])


def _pair_counts(labels) -> tuple[int, int]:
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    n = int(counts.sum())
    n_gen = int((counts * (counts - 1) // 2).sum())
    return n_gen, n * (n - 1) // 2 - n_gen


def vr_at_far_from_candidates(cands: ScoreCandidates, index, labels, fars) -> VRResult | None:
    """Exact VR at ``fars`` over the pairs ``i < j`` of the images ``index`` (rows of the matrix ``cands`` came
    from), from the candidates alone: every threshold (a k-th highest impostor score), accepted genuine pair and
    accepted impostor lies at or above ``cands.floor``, so the result equals :func:`vr_at_far_from_scores` on
    all the scores, bit for bit. ``None`` when fewer than the needed impostors clear the floor."""
    fars = np.atleast_1d(np.asarray(fars, dtype=np.float64))
    index, labels = np.asarray(index, dtype=np.int64), np.asarray(labels)
    n_gen, n_imp = _pair_counts(labels)
    ks = [n_false_accepts(f, n_imp) for f in fars]
    size = int(max(index.max(initial=-1), cands.i.max(initial=-1), cands.j.max(initial=-1))) + 1
    label_of = np.zeros(size, dtype=labels.dtype)
    member = np.zeros(size, dtype=bool)
    member[index], label_of[index] = True, labels
    inside = member[cands.i] & member[cands.j]
    same = label_of[cands.i] == label_of[cands.j]
    imp = np.sort(cands.score[inside & ~same])
    gen = np.sort(cands.score[inside & same])
    if n_imp == 0 or imp.size < max(max(ks), 1):
        return None
    thr = np.array([_threshold_from_kth(k, n_imp, imp[imp.size - k] if 0 < k < n_imp else None, imp[-1]) for k in ks])
    if np.any(thr < cands.floor):
        return None
    t32 = thr.astype(imp.dtype)
    vr = (gen.size - np.searchsorted(gen, t32, "left")) / n_gen if n_gen else np.full(len(thr), np.nan)
    fa = (imp.size - np.searchsorted(imp, t32, "left")) / n_imp
    return VRResult(fars, np.asarray(vr, float), thr, np.asarray(fa, float), n_gen, n_imp)


def vr_at_far_from_matrix(sim: np.ndarray, index, labels, fars, **floor_options) -> VRResult | None:
    """Exact VR at a few small FARs over the pairs ``i < j`` of the images ``index`` of a precomputed float32
    similarity matrix, without copying their scores out: :func:`impostor_floor`, one pass of
    :func:`candidates_above`, :func:`vr_at_far_from_candidates`. ``None``: take the full path."""
    floor = impostor_floor(sim, index, labels, fars, **floor_options)
    if floor is None:
        return None
    sub = np.asarray(index, dtype=np.int64)
    return vr_at_far_from_candidates(candidates_above(sim, floor), sub, labels, fars)
