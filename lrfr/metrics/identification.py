"""Closed-set (CMC) and open-set (DIR at FAR) identification, as in BLUFR (Liao et al. 2014).

Definitions used (every one a stated choice):

* Scores are similarities (higher = more alike); lrfr's protocols use cosine similarity of
  L2-normalized features.
* A probe is **genuine** if its identity has at least one gallery entry (a *mate*), else an
  **impostor** probe.
* **Mate score**: a genuine probe's best score over its mate entries.
* **Rank** (``rank_over="identity"``, the default): ``1 +`` the number of *other gallery
  identities* whose best entry scores **≥** the mate score. Ties between the mate and a
  non-mate therefore count **against** the probe (conservative: a tie is a miss at rank 1).
  With ``rank_over="entry"`` the rank is ``1 +`` the number of non-mate gallery *entries*
  scoring ≥ the mate score. The two agree when every identity has one gallery image, as in
  BLUFR; ``"identity"`` is the usual meaning of "the right person is among the top r
  candidates" when a gallery holds several images of a person.
* **CMC(r)**: the fraction of genuine probes with rank ≤ r (impostor probes are ignored).
* **Open-set threshold at FAR f**: each impostor probe is scored by its best gallery score;
  ``k = round(f · n_impostor_probes)`` (halves up); threshold = the k-th highest of them,
  accept iff ``score ≥ threshold``; ``k = 0`` → just above the highest (only strictly greater
  scores are accepted); ``k = n`` (f = 1) → ``-inf`` (accept all). Same rule as
  :mod:`lrfr.metrics.roc`.
* **DIR(r, f)** (detection and identification rate): the fraction of genuine probes whose mate
  score is ≥ the threshold at ``f`` **and** whose rank is ≤ r. At rank 1 the mate must
  therefore beat every non-mate (strictly) and pass the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrfr.metrics.roc import _threshold_from_kth, n_false_accepts

RANK_OVER = ("identity", "entry")


@dataclass
class ProbeScores:
    """Per probe: genuine flag, mate score (NaN for impostor probes), rank (0 for impostor
    probes) and best gallery score (what an impostor probe is judged by)."""

    is_genuine: np.ndarray
    mate_score: np.ndarray
    rank: np.ndarray
    max_score: np.ndarray
    n_gallery_identities: int
    rank_over: str = "identity"


def _count_at_least(m, threshold):
    """Per row of ``m``, how many entries are ``>= threshold`` (a column). On the CPU numpy counts
    the comparison faster than torch's bool → int64 sum (``lrfr bench protocols``)."""
    import torch

    if m.device.type == "cpu":
        return torch.from_numpy(np.count_nonzero(m.numpy() >= threshold.numpy(), axis=1).astype(np.int64))
    return (m >= threshold).sum(dim=1)


def _block(s, gal_ids, probe_id, n_ids, rank_over, mate_col=None):
    """Genuine flag, mate score, rank and max score for one ``(probes, gallery)`` torch score block.

    ``mate_col``: per probe, the column of its identity in ``s`` when every identity has exactly
    one gallery entry (then identities and entries coincide and no per-identity max is needed).
    """
    import torch

    max_score = s.max(dim=1).values
    genuine = probe_id >= 0
    if rank_over == "identity":
        if mate_col is None:  # several entries per identity: best entry of each, (probes, n_ids)
            m = torch.full((s.shape[0], n_ids), -torch.inf, dtype=s.dtype, device=s.device)
            m.scatter_reduce_(1, gal_ids[None, :].expand_as(s), s, reduce="amax")
            mate_col = probe_id
        else:
            m = s
        mate_score = m.gather(1, mate_col.clamp(min=0)[:, None])
        beaten_by = _count_at_least(m, mate_score) - 1  # every column scoring >= the mate, less the mate itself
        mate_score = mate_score[:, 0]
    else:
        mate = gal_ids[None, :] == probe_id[:, None]
        mate_score = torch.where(mate, s, torch.full_like(s, -torch.inf)).max(dim=1).values
        beaten_by = ((s >= mate_score[:, None]) & ~mate).sum(dim=1)
    rank = torch.where(genuine, beaten_by + 1, torch.zeros_like(beaten_by))
    mate_score = torch.where(genuine, mate_score, torch.full_like(mate_score, float("nan")))
    return genuine, mate_score, rank, max_score


def _mate_columns(ids, gal_ids, probe_id):
    """Column of each probe's mate when identities are unique in the gallery, else ``None``."""
    if len(ids) != len(gal_ids):
        return None
    pos = np.empty(len(ids), np.int64)
    pos[gal_ids] = np.arange(len(gal_ids))
    return np.where(probe_id >= 0, pos[np.maximum(probe_id, 0)] if len(ids) else 0, -1)


def _gallery_ids(gallery_labels, probe_labels):
    gal = np.asarray(gallery_labels)
    ids, gal_ids = np.unique(gal, return_inverse=True)
    prb = np.asarray(probe_labels)
    pos = np.searchsorted(ids, prb)
    pos_c = np.minimum(pos, len(ids) - 1)
    present = (len(ids) > 0) & (ids[pos_c] == prb) if len(ids) else np.zeros(len(prb), bool)
    probe_id = np.where(present, pos_c, -1)
    return ids, gal_ids.astype(np.int64), probe_id.astype(np.int64)


def probe_scores_from_matrix(scores, gallery_labels, probe_labels, rank_over: str = "identity") -> ProbeScores:
    """:class:`ProbeScores` from a ``(n_probes, n_gallery)`` similarity matrix (small cases, tests)."""
    import torch

    if rank_over not in RANK_OVER:
        raise ValueError(f"rank_over must be one of {RANK_OVER}; got {rank_over!r}")
    scores = np.asarray(scores)
    s = torch.as_tensor(scores if scores.dtype in (np.float32, np.float64) else scores.astype(np.float64))
    ids, gal_ids, probe_id = _gallery_ids(gallery_labels, probe_labels)
    if s.shape != (len(probe_id), len(gal_ids)):
        raise ValueError(f"scores must be (n_probes, n_gallery) = ({len(probe_id)}, {len(gal_ids)}); got {tuple(s.shape)}")
    mc = _mate_columns(ids, gal_ids, probe_id)
    g, ms, r, mx = _block(s, torch.as_tensor(gal_ids), torch.as_tensor(probe_id), len(ids), rank_over,
                          None if mc is None else torch.as_tensor(mc))
    return ProbeScores(g.numpy(), ms.numpy(), r.numpy().astype(np.int64), mx.numpy(), len(ids), rank_over)


def probe_scores(gallery_features, gallery_labels, probe_features, probe_labels, *, rank_over: str = "identity",
                 normalize: bool = True, chunk: int = 4096, device=None) -> ProbeScores:
    """:class:`ProbeScores` of cosine similarities (float32 torch matmuls, ``chunk`` probes at a time)."""
    import torch

    if rank_over not in RANK_OVER:
        raise ValueError(f"rank_over must be one of {RANK_OVER}; got {rank_over!r}")
    dev = torch.device(device if device is not None else "cpu")
    ids, gal_ids, probe_id = _gallery_ids(gallery_labels, probe_labels)
    g = torch.as_tensor(np.ascontiguousarray(gallery_features), dtype=torch.float32).to(dev)
    p = torch.as_tensor(np.ascontiguousarray(probe_features), dtype=torch.float32).to(dev)
    if normalize:
        g, p = torch.nn.functional.normalize(g, dim=1), torch.nn.functional.normalize(p, dim=1)
    gid = torch.as_tensor(gal_ids, device=dev)
    pid = torch.as_tensor(probe_id, device=dev)
    mc = _mate_columns(ids, gal_ids, probe_id)
    mc = None if mc is None else torch.as_tensor(mc, device=dev)
    outs = []
    with torch.no_grad():
        for a in range(0, p.shape[0], chunk):
            s = p[a:a + chunk] @ g.T
            blk = _block(s, gid, pid[a:a + chunk], len(ids), rank_over, None if mc is None else mc[a:a + chunk])
            outs.append([t.cpu().numpy() for t in blk])
    cat = [np.concatenate([o[i] for o in outs]) if outs else np.zeros(0) for i in range(4)]
    return ProbeScores(cat[0].astype(bool), cat[1], cat[2].astype(np.int64), cat[3], len(ids), rank_over)


def cmc(ps: ProbeScores, ranks) -> np.ndarray:
    """Closed-set identification rate at each rank of ``ranks`` over the genuine probes."""
    ranks = np.asarray(ranks)
    r = ps.rank[ps.is_genuine]
    if r.size == 0:
        return np.full(len(ranks), np.nan)
    return np.array([(r <= k).mean() for k in ranks], dtype=np.float64)


@dataclass
class OpenSetResult:
    far: np.ndarray  # nominal FARs
    ranks: np.ndarray
    dir: np.ndarray  # (len(far), len(ranks))
    threshold: np.ndarray  # per FAR; accept iff mate score >= threshold
    far_achieved: np.ndarray
    n_genuine: int
    n_impostor: int


def open_set_identification(ps: ProbeScores, fars, ranks=(1,)) -> OpenSetResult:
    """DIR at every ``(far, rank)`` (rules in the module doc). Without impostor probes the
    thresholds (and DIR) are NaN."""
    fars = np.atleast_1d(np.asarray(fars, dtype=np.float64))
    ranks = np.atleast_1d(np.asarray(ranks))
    imp = np.sort(ps.max_score[~ps.is_genuine].astype(np.float64, copy=False))
    n_i = imp.size
    gen_score = ps.mate_score[ps.is_genuine]
    gen_rank = ps.rank[ps.is_genuine]
    n_g = gen_score.size
    thr = np.empty(len(fars))
    for j, f in enumerate(fars):
        k = n_false_accepts(f, n_i)
        mx = ps.max_score[~ps.is_genuine].max() if n_i else np.nan
        thr[j] = _threshold_from_kth(k, n_i, imp[n_i - k] if 0 < k < n_i else None, mx)
    out = np.full((len(fars), len(ranks)), np.nan)
    if n_g and n_i:
        for j, t in enumerate(thr):
            detected = gen_score >= t
            for c, r in enumerate(ranks):
                out[j, c] = np.mean(detected & (gen_rank <= r))
    fa = np.array([(imp >= t).mean() if n_i else np.nan for t in thr])
    return OpenSetResult(fars, ranks, out, thr, fa, n_g, n_i)
