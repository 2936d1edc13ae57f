"""``CompareFaceMiner``: the compare-face selection of C-Face (papers/004, §3.3 and Table 6).

What the paper specifies (§3.3)
    Before training, embed every HR training image with the recognizer CNN^R; within each identity,
    compute the *normalized Euclidean distance* between features, ``‖f_i/‖f_i‖ − f_j/‖f_j‖‖``
    (equivalently: descending cosine, since d² = 2 − 2·cos), and record the **k = 3** most similar
    other images. At training time the compare face I_c of an input is drawn **uniformly** from
    those k. The ablation (§5.1, Table 6) runs k = 1…5 and "random": I_c drawn uniformly from all
    images of the same class except the image itself (``mode="random"`` here).

What lrfr chose where the paper is silent
    * Fewer than k+1 images in an identity: keep all the other images (< k candidates; the rows of
      ``neighbors`` are padded with -1, ``distances`` with ``inf``).
    * Single-image identities (no other image exists) are listed in ``.singletons`` (count logged)
      and follow ``singleton=``: ``"self"`` (default) uses the image itself as its compare face
      (``neighbors[i] = [i, -1, …]``, distance 0), so the C-Face term equals the super-identity
      term for it; ``"exclude"`` leaves the row empty and sets ``usable[i] = False`` so a training
      sampler can skip it (``draw`` on it raises ``ValueError``).
    * The image itself is never its own neighbour, even when a duplicate has the same feature
      (duplicates are kept as neighbours: they are other images).
    * Ties (equal float32 distances) are ordered by label-sorted position (dataset index order
      within an identity), lower first, among the candidates the search returns; which of several
      tied images enters the last kept slot is the search's choice. Continuous features have no
      exact ties; duplicate images do.
    * Storage: ``save``/``load`` use an ``.npz`` (no pickle) with a format tag, ``neighbors`` (N,k)
      int64, ``distances`` (N,k) float32, ``labels``, ``k``, ``mode``, ``singleton``, and SHA-256
      fingerprints of the labels and of the features, so a stale file is detected; written
      atomically. ``mode="random"`` stores no neighbour table (N,0): draws use the label groups.

Mining strategies (``strategy=``), all exact:
    ``"selector"``: one inner-product flat index over the label-sorted, normalized features and one
        search per identity restricted to its id range with ``faiss.IDSelectorRange`` passed as
        ``faiss.SearchParameters(sel=...)`` (FAISS scans just that contiguous range).
    ``"knn"``: per identity, ``faiss.knn`` (brute-force k-NN, no index object) on its block of the
        label-sorted normalized features.
    ``"numpy"``: per identity, a matmul + ``argpartition`` (reference, no FAISS).
    ``"auto"`` = ``DEFAULT_STRATEGY`` = ``"knn"``, the faster FAISS path measured at CASIA-WebFace
    scale by ``lrfr bench index`` (494,414 × 512-d float32 over 10,575 identities, sizes 2…800,
    median 28, k=3; faiss-cpu 1.15.1 on a 2-core CPU that other jobs shared, load average 5–8,
    so wall times swing by 2–4× between runs; CPU seconds, all threads, are steadier):

    ==========  =======================================  =====================  =============
    strategy    wall s, runs 1 / 2 / 3 / 4                CPU s, runs 3 / 4      peak RSS (MB)
    ==========  =======================================  =====================  =============
    selector    36.6 / 111.4 / 71.0 (69.5 again) / 38.7  43.9 (60.8) / 25.6     2355
    knn         163.3 / 47.8 / 37.6 / 30.0               26.6 / 19.9            2112
    numpy       64.4 / 57.3 / 32.4 / 88.3                21.3 / 58.6            2112
    ==========  =======================================  =====================  =============

    ``knn`` beat ``selector`` in three of four runs and in both CPU-time runs (why was not profiled) and needs no second 1 GB copy (``selector`` builds a 1 GB index; it
    queries it through a zero-copy view of the index's storage). ``numpy`` (reference, not FAISS)
    is in the same range. Peak RSS includes the 1 GB of generated features; all are under the 60 s
    / 4 GB targets on an unshared 2-core machine going by CPU time. ``selector`` and ``knn`` give
    identical tables (same SHA-256); ``numpy`` (another summation order) matched them row for row
    on a 30k-image run, and at full scale differs somewhere (another digest), consistent with
    near-ties at float32 rounding (not inspected row by row).
"""
from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

import numpy as np

from lrfr.index import backends
from lrfr.io import atomic_write

log = logging.getLogger(__name__)

FORMAT = "lrfr-compare-faces/1"
MODES = ("topk", "random")
SINGLETON_RULES = ("self", "exclude")
STRATEGIES = ("selector", "knn", "numpy")
#: chosen from ``lrfr bench index`` on CASIA-WebFace-sized synthetic data (see lrfr/bench/index.py)
DEFAULT_STRATEGY = "knn"
PAPER_K = 3

_CHUNK_ROWS = 65536


def labels_fingerprint(labels: np.ndarray) -> str:
    lab = np.ascontiguousarray(labels, dtype=np.int64)
    h = hashlib.sha256(b"lrfr-labels/1")
    h.update(np.int64(lab.size).tobytes())
    h.update(lab.tobytes())
    return h.hexdigest()


def features_fingerprint(features: np.ndarray) -> str:
    f = np.ascontiguousarray(features, dtype=np.float32)
    h = hashlib.sha256(b"lrfr-features/1")
    h.update(np.asarray(f.shape, dtype=np.int64).tobytes())
    step = _CHUNK_ROWS
    for s in range(0, len(f), step):
        h.update(f[s : s + step].tobytes())
    return h.hexdigest()


def _as_int_labels(labels, n: int | None) -> np.ndarray:
    lab = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
    if lab.ndim != 1 or (n is not None and len(lab) != n):
        raise ValueError(f"labels must be a 1-D array with one label per feature ({n}), got shape {lab.shape}")
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
    return lab.astype(np.int64)


class CompareFaceMiner:
    """Mine (and draw) C-Face compare faces.

    Parameters
    ----------
    features: (N, D) CNN^R features of every HR training image (numpy or torch; not modified).
    labels: (N,) identity labels.
    k: neighbours kept per image, 1–5 in the paper's ablation (paper value: 3). Ignored for ``mode="random"``.
    mode: ``"topk"`` (the paper's rule) or ``"random"`` (Table 6's baseline: any other image of the class).
    singleton: ``"self"`` or ``"exclude"`` — rule for identities with one image (module doc).
    seed: seeds the generator ``draw``/``draw_batch`` use when none is passed.
    strategy: ``"auto"``, ``"selector"``, ``"knn"`` or ``"numpy"`` (module doc).
    progress: show a tqdm bar over identities.

    Attributes: ``neighbors`` (N,k) int64 (-1 padded), ``distances`` (N,k) float32 (normalized Euclidean,
    ``inf`` padded), ``labels``, ``singletons`` (indices), ``usable`` (bool mask), ``num_candidates`` (N,).
    """

    def __init__(
        self,
        features,
        labels,
        k: int = PAPER_K,
        mode: str = "topk",
        singleton: str = "self",
        seed: int | None = 0,
        strategy: str = "auto",
        progress: bool = False,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if singleton not in SINGLETON_RULES:
            raise ValueError(f"singleton must be one of {SINGLETON_RULES}, got {singleton!r}")
        if strategy == "auto":
            strategy = DEFAULT_STRATEGY
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be 'auto' or one of {STRATEGIES}, got {strategy!r}")
        k = int(k)
        if mode == "topk" and k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        x = backends.check_features(features, None, "features")
        lab = _as_int_labels(labels, len(x))
        if len(x) == 0:
            raise ValueError("no features to mine")
        self.mode = mode
        self.k = k if mode == "topk" else None
        self.singleton = singleton
        self.strategy = strategy if mode == "topk" else None
        self._rng = np.random.default_rng(seed)
        self._setup_groups(lab)
        self.features_fingerprint = features_fingerprint(x)
        self.labels_fingerprint = labels_fingerprint(lab)
        if mode == "topk":
            self.neighbors, self.distances = self._mine(x, k, strategy, progress)
        else:
            self.neighbors = np.zeros((len(lab), 0), dtype=np.int64)
            self.distances = np.zeros((len(lab), 0), dtype=np.float32)
        self._finish()
        if len(self.singletons):
            log.info(
                "%d of %d identities have a single image (%d images); singleton rule %r",
                len(self.singletons), len(self._counts), len(self.singletons), singleton,
            )

    # ------------------------------------------------------------------ groups
    def _setup_groups(self, labels: np.ndarray) -> None:
        self.labels = labels
        self._order = np.argsort(labels, kind="stable")  # sorted position -> dataset index
        self._pos = np.empty_like(self._order)
        self._pos[self._order] = np.arange(len(labels))  # dataset index -> sorted position
        _, starts, inverse, counts = np.unique(labels[self._order], return_index=True, return_inverse=True, return_counts=True)
        self._starts, self._counts = starts.astype(np.int64), counts.astype(np.int64)
        self._class_of = np.empty(len(labels), dtype=np.int64)
        self._class_of[self._order] = inverse.reshape(-1)
        self.singletons = np.sort(self._order[starts[counts == 1]])

    def _finish(self) -> None:
        n = len(self.labels)
        is_single = np.zeros(n, dtype=bool)
        is_single[self.singletons] = True
        if self.mode == "topk":
            if self.singleton == "self" and len(self.singletons):
                self.neighbors[self.singletons, 0] = self.singletons
                self.distances[self.singletons, 0] = 0.0
            self.num_candidates = (self.neighbors >= 0).sum(axis=1).astype(np.int64)
        else:
            self.num_candidates = self._counts[self._class_of] - 1
            if self.singleton == "self":
                self.num_candidates[is_single] = 1
        self.usable = self.num_candidates > 0

    # ------------------------------------------------------------------ mining
    def _sorted_normalized(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """L2-normalized features in label-sorted order, built chunk by chunk (no full temporaries)."""
        if out is None:
            out = np.empty_like(x)
        for s in range(0, len(x), _CHUNK_ROWS):
            rows = self._order[s : s + _CHUNK_ROWS]
            out[s : s + len(rows)] = backends.l2_normalize(x[rows], what="features")
        return out

    def _mine(self, x: np.ndarray, k: int, strategy: str, progress: bool):
        import faiss

        n, d = x.shape
        neighbors = np.full((n, k), -1, dtype=np.int64)
        distances = np.full((n, k), np.inf, dtype=np.float32)
        index = None
        if strategy == "selector":
            index = faiss.IndexFlatIP(d)
            for s in range(0, n, _CHUNK_ROWS):
                rows = self._order[s : s + _CHUNK_ROWS]
                index.add(backends.l2_normalize(x[rows], what="features"))
            # zero-copy view of the index's own storage: the queries are the stored vectors
            xs = faiss.rev_swig_ptr(index.get_xb(), n * d).reshape(n, d)
        else:
            xs = self._sorted_normalized(x)

        classes = np.flatnonzero(self._counts >= 2)
        it = classes
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(classes, desc="mining compare faces", unit="id")
        for c in it:
            s, m = int(self._starts[c]), int(self._counts[c])
            block = xs[s : s + m]
            kk = min(k + 1, m)
            if strategy == "selector":
                params = faiss.SearchParameters(sel=faiss.IDSelectorRange(s, s + m))
                sc, ix = index.search(block, kk, params=params)
                ix = ix - s
            elif strategy == "knn":
                sc, ix = faiss.knn(block, block, kk, metric=faiss.METRIC_INNER_PRODUCT)
            else:
                sim = block @ block.T
                np.fill_diagonal(sim, -np.inf)
                kk = kk - 1
                ix = np.argpartition(-sim, kk - 1, axis=1)[:, :kk] if kk < m else np.argsort(-sim, axis=1)
                ix = ix[:, :kk]
                sc = np.take_along_axis(sim, ix, axis=1)
            dist, ix = self._drop_self_and_sort(sc, ix, m, min(k, m - 1))
            dst = self._order[s : s + m]
            neighbors[dst, : ix.shape[1]] = self._order[s + ix]
            distances[dst, : ix.shape[1]] = dist
        del xs, index
        return neighbors, distances

    @staticmethod
    def _drop_self_and_sort(sc: np.ndarray, ix: np.ndarray, m: int, keep: int):
        """Remove each row's own position (if returned), keep ``keep`` entries and turn scores into
        normalized Euclidean distances, ordered by (distance, index)."""
        own = np.arange(m)[:, None]
        is_self = ix == own
        if is_self.any() or ix.shape[1] > keep:
            # non-self entries first (stable: preserves FAISS's order), then cut to `keep`
            first = np.argsort(is_self, axis=1, kind="stable")[:, :keep]
            sc = np.take_along_axis(sc, first, axis=1)
            ix = np.take_along_axis(ix, first, axis=1)
        dist = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * sc.astype(np.float32)))
        order = np.lexsort((ix, dist), axis=-1)  # by distance, then lower index
        return np.take_along_axis(dist, order, axis=1), np.take_along_axis(ix, order, axis=1)

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.labels)

    def candidates(self, i: int) -> np.ndarray:
        """Dataset indices ``draw(i)`` chooses among (uniformly)."""
        i = int(i)
        if self.mode == "topk":
            row = self.neighbors[i]
            return row[row >= 0]
        c = self._class_of[i]
        members = self._order[self._starts[c] : self._starts[c] + self._counts[c]]
        others = members[members != i]
        if others.size == 0 and self.singleton == "self":
            return np.array([i], dtype=np.int64)
        return np.sort(others)

    def _check_usable(self, idx: np.ndarray) -> None:
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"index out of range for {len(self)} images")
        bad = ~self.usable[idx]
        if bad.any():
            raise ValueError(
                f"image {int(idx[bad][0])} has no compare face (single-image identity, singleton='exclude'); "
                f"sample only indices where miner.usable is True"
            )

    def draw_batch(self, indices, generator=None):
        """One compare face per index, uniform over its candidates.

        ``generator``: a ``numpy.random.Generator`` (numpy result) or a ``torch.Generator`` (torch
        result, same device as ``indices`` when those are a tensor); ``None`` uses the miner's seeded one.
        """
        is_torch = hasattr(indices, "detach") or type(generator).__module__.startswith("torch")
        device = getattr(indices, "device", None)
        idx = np.asarray(indices.detach().cpu().numpy() if hasattr(indices, "detach") else indices, dtype=np.int64)
        shape = idx.shape
        idx = idx.reshape(-1)
        self._check_usable(idx)
        cnt = self.num_candidates[idx]
        if generator is not None and type(generator).__module__.startswith("torch"):
            import torch

            u = torch.rand(len(idx), generator=generator, dtype=torch.float64).numpy()
            r = np.minimum((u * cnt).astype(np.int64), cnt - 1)
        else:
            rng = self._rng if generator is None else generator
            r = rng.integers(0, cnt) if len(idx) else np.zeros(0, dtype=np.int64)
        if self.mode == "topk":
            out = self.neighbors[idx, r]  # valid entries are packed at the front of each row
        else:
            c = self._class_of[idx]
            single = self._counts[c] == 1
            own = self._pos[idx] - self._starts[c]
            r = r + (r >= own)  # skip the image itself
            out = np.where(single, idx, self._order[np.minimum(self._starts[c] + r, len(self) - 1)])
        out = out.reshape(shape)
        if is_torch:
            import torch

            t = torch.from_numpy(out)
            return t.to(device) if device is not None else t
        return out

    def draw(self, i: int, rng=None) -> int:
        """The compare face of image ``i``: uniform over ``candidates(i)``."""
        return int(self.draw_batch(np.array([int(i)]), rng)[0])

    def check(self, features=None, labels=None, path: str | Path | None = None) -> None:
        """Raise ``ValueError`` when ``features``/``labels`` are not the ones this table was mined from."""
        where = f"{path}: " if path is not None else ""
        if labels is not None:
            lab = _as_int_labels(labels, None)
            if labels_fingerprint(lab) != self.labels_fingerprint:
                raise ValueError(
                    f"{where}stale compare-face table: mined from {len(self)} labels that differ from the "
                    f"{len(lab)} given (dataset changed?); re-run `lrfr mine`"
                )
        if features is not None:
            x = backends.check_features(features, None, "features")
            if features_fingerprint(x) != self.features_fingerprint:
                raise ValueError(
                    f"{where}stale compare-face table: the features differ from those it was mined from "
                    f"(other recognizer/weights or dataset?); re-run `lrfr mine`"
                )

    def summary(self) -> dict:
        return {
            "images": int(len(self)),
            "identities": int(len(self._counts)),
            "singletons": int(len(self.singletons)),
            "usable": int(self.usable.sum()),
            "mode": self.mode,
            "k": self.k,
            "singleton_rule": self.singleton,
            "images_with_fewer_than_k": int((self.num_candidates < (self.k or 0)).sum()) if self.mode == "topk" else None,
            "min_class_size": int(self._counts.min()),
            "median_class_size": float(np.median(self._counts)),
            "max_class_size": int(self._counts.max()),
        }

    def __repr__(self) -> str:
        return (
            f"CompareFaceMiner(images={len(self)}, identities={len(self._counts)}, mode={self.mode!r}, "
            f"k={self.k}, singletons={len(self.singletons)}, singleton={self.singleton!r})"
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the table to ``path`` (``.npz``, atomically), e.g. ``DATA/compare_faces.npz``."""
        header = {
            "format": FORMAT,
            "mode": self.mode,
            "k": self.k,
            "singleton": self.singleton,
            "strategy": self.strategy,
            "count": len(self),
            "features_fingerprint": self.features_fingerprint,
            "labels_fingerprint": self.labels_fingerprint,
        }
        arrays = {
            "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
            "neighbors": self.neighbors,
            "distances": self.distances,
            "labels": self.labels,
            "k": np.int64(-1 if self.k is None else self.k),
            "mode": np.array(self.mode),
            "fingerprint": np.array(self.features_fingerprint),
        }

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        return atomic_write(Path(path), write)

    @classmethod
    def load(cls, path: str | Path, features=None, labels=None, seed: int | None = 0) -> "CompareFaceMiner":
        """Read a table written by ``save``; with ``features``/``labels`` given, refuse a stale one."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"compare-face table not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode("utf-8"))
                nb, dist, lab = z["neighbors"], z["distances"], z["labels"]
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not a readable compare-face table ({FORMAT}); corrupt or truncated? ({err})") from err
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: format {header.get('format')!r}, expected {FORMAT!r}")
        n = int(header["count"])
        if len(lab) != n or len(nb) != n or nb.shape != dist.shape:
            raise ValueError(f"{path}: inconsistent arrays (count {n}, labels {len(lab)}, neighbors {nb.shape})")
        obj = cls.__new__(cls)
        obj.mode, obj.k, obj.singleton = header["mode"], header["k"], header["singleton"]
        obj.strategy = header.get("strategy")
        obj._rng = np.random.default_rng(seed)
        obj._setup_groups(lab.astype(np.int64))
        obj.features_fingerprint = header["features_fingerprint"]
        obj.labels_fingerprint = header["labels_fingerprint"]
        if labels_fingerprint(obj.labels) != obj.labels_fingerprint:
            raise ValueError(f"{path}: corrupt table (labels do not match their stored fingerprint)")
        obj.neighbors, obj.distances = nb.astype(np.int64), dist.astype(np.float32)
        obj._finish()
        obj.check(features=features, labels=labels, path=path)
        return obj
