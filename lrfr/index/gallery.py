"""``GalleryIndex``: a FAISS gallery of face features with identity labels and names.

Cosine similarity by default: features are L2-normalized on the way in (gallery and probes alike)
and searched by inner product, so a score is the cosine of the angle between two features
(1 = same direction). Three index kinds, chosen by ``kind``:

``"flat"`` (default)
    ``IndexFlatIP``: exact, brute force (its speed: ``lrfr bench index``, docs/benchmarks.md).
``"ivf"``
    ``IndexIVFFlat`` with inner product: ``nlist`` k-means lists, ``nprobe`` of them scanned per
    probe. Approximate; needs training. **Training rule**: call ``train(features)`` with a
    representative sample, or let the first ``add`` train on the vectors it adds (at most
    256·nlist of them, a seeded sample). ``nlist=None`` picks about 4·√n lists (at most n/39) at
    training time; a first ``add`` with fewer vectors than ``nlist`` raises ``ValueError``.
``"hnsw"``
    ``IndexHNSWFlat`` with ``METRIC_INNER_PRODUCT`` (``hnsw_m`` links per node, ``ef_search``,
    ``ef_construction``). Approximate, no training, CPU only (FAISS has no GPU HNSW).

The speed of each kind and the recall cost of ivf/hnsw against exact search are measured by ``lrfr bench
index`` and ``lrfr bench search`` (docs/benchmarks.md).

``device="auto"`` puts flat and ivf indexes on GPU 0 when FAISS reports a GPU (``faiss-gpu``
installed), on the CPU otherwise; results are the same up to float rounding.

File format (``save``/``load``): one ``.npz`` (numpy zip, read with ``allow_pickle=False``; never a
pickle) holding ``header`` (UTF-8 JSON: format tag ``lrfr-gallery/1``, dim, count, kind, metric,
index parameters, ``meta``, SHA-256 of the payload), ``index`` (``faiss.serialize_index`` bytes; they hold
the normalized vectors), ``labels`` (int64), ``names_utf8`` + ``names_offsets`` (names as one UTF-8
buffer). Written atomically (temp file + rename).

Fingerprint: ``meta["fingerprint"]`` (written by ``lrfr index build``) names the recognizer, the
sha256 of its weights and the flip fusion the gallery was embedded with
(:func:`lrfr.fingerprint.recognizer_fingerprint`); :meth:`GalleryIndex.require_fingerprint`
refuses probes embedded any other way, naming both fingerprints.
"""
from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lrfr.index import backends
from lrfr.io import atomic_write

log = logging.getLogger(__name__)

FORMAT = "lrfr-gallery/1"
UNKNOWN = -1


class SearchResult(tuple):
    """``(scores, indices)`` — unpacks like a tuple — plus the gallery labels/names of each hit.

    ``scores`` float32 (n, k), best first; ``indices`` int64 (n, k) into the gallery (insertion
    order). Where fewer than k hits exist (small gallery, or an approximate index that found fewer)
    the index is -1, the score ``-inf``, the label -1 and the name ``None``.
    """

    def __new__(cls, scores: np.ndarray, indices: np.ndarray, labels: np.ndarray, names: np.ndarray):
        obj = super().__new__(cls, (scores, indices))
        obj.scores, obj.indices, obj.labels, obj.names = scores, indices, labels, names
        return obj

    def to_frame(self, probe_names: Sequence[str] | None = None):
        """Long table: one row per (probe, rank) with ``probe, rank, index, label, name, score``."""
        import pandas as pd

        n, k = self.indices.shape
        probes = np.arange(n) if probe_names is None else np.asarray(list(probe_names), dtype=object)
        if len(probes) != n:
            raise ValueError(f"{len(probes)} probe names for {n} probes")
        return pd.DataFrame(
            {
                "probe": np.repeat(probes, k),
                "rank": np.tile(np.arange(1, k + 1), n),
                "index": self.indices.ravel(),
                "label": self.labels.ravel(),
                "name": self.names.ravel(),
                "score": self.scores.ravel(),
            }
        )


@dataclass
class Identification:
    """Open-set identification of n probes (see ``GalleryIndex.identify``).

    ``labels``/``names``: the accepted identity (-1 / ``None`` for "unknown"); ``scores``: the best
    gallery score whether accepted or not; ``indices``: the best gallery image (-1 when unknown);
    ``accepted``: ``scores >= threshold``.
    """

    labels: np.ndarray
    names: np.ndarray
    scores: np.ndarray
    indices: np.ndarray
    accepted: np.ndarray
    threshold: float

    def to_frame(self, probe_names: Sequence[str] | None = None):
        import pandas as pd

        n = len(self.labels)
        probes = np.arange(n) if probe_names is None else np.asarray(list(probe_names), dtype=object)
        return pd.DataFrame(
            {
                "probe": probes,
                "label": self.labels,
                "name": self.names,
                "score": self.scores,
                "accepted": self.accepted,
            }
        )


class GalleryIndex:
    """A FAISS index of features with an identity label and a name per vector.

    Parameters
    ----------
    dim: feature dimension (every ``add``/``search`` is checked against it).
    kind: ``"flat"`` (exact, default), ``"ivf"`` or ``"hnsw"`` (approximate) — see the module doc.
    metric: ``"cosine"`` (L2-normalize, then inner product; default) or ``"ip"`` (raw inner product).
    nlist: IVF lists (``None``: about 4·√n at training time). nprobe: IVF lists scanned per probe.
    hnsw_m, ef_search, ef_construction: HNSW graph degree and search/construction beam widths.
    device: ``"auto"`` (GPU when FAISS has one, except hnsw), ``"cpu"``, ``"cuda"``/``"cuda:N"``.
    train_seed: seed of the training sample drawn by a lazy IVF training.

    Example::

        g = GalleryIndex(128)
        g.add(features, labels, names)
        scores, idx = g.search(probes, k=5)
        who = g.identify(probes, threshold=0.35)   # score >= threshold accepts
        g.save("gallery.lrfr"); g = GalleryIndex.load("gallery.lrfr", expected_dim=128)
    """

    def __init__(
        self,
        dim: int,
        kind: str = "flat",
        metric: str = "cosine",
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_m: int = 32,
        ef_search: int = 64,
        ef_construction: int = 40,
        device: str = "auto",
        train_seed: int = 0,
    ):
        if int(dim) < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if kind not in backends.KINDS:
            raise ValueError(f"unknown index kind {kind!r}; known: {', '.join(backends.KINDS)}")
        if metric not in backends.METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(backends.METRICS)}")
        if nlist is not None and int(nlist) < 1:
            raise ValueError(f"nlist must be >= 1, got {nlist}")
        self.dim = int(dim)
        self.kind = kind
        self.metric = metric
        self.nlist = None if nlist is None else int(nlist)
        self._nprobe = int(nprobe)
        self.hnsw_m = int(hnsw_m)
        self._ef_search = int(ef_search)
        self.ef_construction = int(ef_construction)
        self.train_seed = int(train_seed)
        self.device = backends.resolve_device(device, kind)
        self._labels = np.zeros(0, dtype=np.int64)
        self._names: list[str] = []
        #: free-form JSON-serializable notes saved with the gallery (e.g. recognizer, weights, classes)
        self.meta: dict = {}
        self._index = None if kind == "ivf" else self._place(self._new_cpu_index())

    # ------------------------------------------------------------------ construction helpers
    def _new_cpu_index(self):
        return backends.make_index(
            self.dim, self.kind, nlist=self.nlist, hnsw_m=self.hnsw_m, ef_construction=self.ef_construction
        )

    def _place(self, cpu_index):
        index = backends.to_gpu(cpu_index, self.device) if self.device.startswith("cuda") else cpu_index
        backends.set_search_params(index, self.kind, nprobe=self._nprobe, ef_search=self._ef_search)
        return index

    def _prepare(self, x, what: str) -> np.ndarray:
        x = backends.check_features(x, self.dim, what)
        if self.metric == "cosine":
            x = backends.l2_normalize(x, inplace=False, what=what)
        return x

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def require_fingerprint(self, current: dict, what: str = "this gallery") -> None:
        """Raise :class:`lrfr.fingerprint.FingerprintMismatchError` when ``meta["fingerprint"]``
        (if recorded) differs from ``current``: scores against features of other weights or
        another flip fusion mean nothing."""
        from lrfr.fingerprint import check_fingerprint

        check_fingerprint(self.meta.get("fingerprint"), current, what,
                          hint="embed the probes with the recognizer the gallery was built with, or rebuild the gallery")

    @property
    def ntotal(self) -> int:
        return len(self)

    @property
    def is_trained(self) -> bool:
        return self._index is not None and bool(self._index.is_trained)

    @property
    def labels(self) -> np.ndarray:
        """Identity label of every stored vector (int64, insertion order; read-only view)."""
        v = self._labels.view()
        v.flags.writeable = False
        return v

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def nprobe(self) -> int:
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = int(value)
        if self._index is not None:
            backends.set_search_params(self._index, self.kind, nprobe=self._nprobe)

    @property
    def ef_search(self) -> int:
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._ef_search = int(value)
        if self._index is not None:
            backends.set_search_params(self._index, self.kind, ef_search=self._ef_search)

    def params(self) -> dict:
        """The constructor parameters (with ``nlist`` as resolved by training)."""
        return {
            "dim": self.dim,
            "kind": self.kind,
            "metric": self.metric,
            "nlist": self.nlist,
            "nprobe": self._nprobe,
            "hnsw_m": self.hnsw_m,
            "ef_search": self._ef_search,
            "ef_construction": self.ef_construction,
            "train_seed": self.train_seed,
        }

    def __repr__(self) -> str:
        return (
            f"GalleryIndex(dim={self.dim}, kind={self.kind!r}, metric={self.metric!r}, "
            f"ntotal={len(self)}, device={self.device!r})"
        )

    # ------------------------------------------------------------------ building
    def train(self, features) -> "GalleryIndex":
        """Train an IVF index on ``features`` (a representative sample); a no-op for flat/hnsw.

        ``nlist=None`` resolves to about 4·√n here. Needs at least ``nlist`` vectors; FAISS wants
        about 39·nlist for good centroids (it warns below that).
        """
        if self.kind != "ivf":
            return self
        if self.is_trained:
            raise ValueError("this IVF index is already trained (and may hold vectors); make a new GalleryIndex")
        x = self._prepare(features, "training features")
        n = len(x)
        nlist = self.nlist if self.nlist is not None else backends.default_nlist(n)
        if n < nlist:
            raise ValueError(
                f"an IVF index with nlist={nlist} needs at least {nlist} training vectors, got {n}; "
                f"train on a larger sample, lower nlist, or use kind='flat'"
            )
        if n < 39 * nlist:
            log.warning("training IVF with %d vectors for %d lists (FAISS recommends >= %d)", n, nlist, 39 * nlist)
        cap = 256 * nlist
        if n > cap:
            sample = np.random.default_rng(self.train_seed).choice(n, cap, replace=False)
            x = x[np.sort(sample)]
        self.nlist = int(nlist)
        cpu = self._new_cpu_index()
        if self.device.startswith("cuda"):
            index = self._place(cpu)
            index.train(x)
        else:
            cpu.train(x)
            index = self._place(cpu)
        self._index = index
        return self

    def add(self, features, labels, names: Sequence[str] | None = None) -> "GalleryIndex":
        """Append ``features`` (n, dim) with identity ``labels`` (n, ints >= 0) and ``names`` (n strings;
        default ``str(label)``). Indices continue from the current size. An untrained IVF index is
        trained on these vectors first (see the module doc)."""
        x = self._prepare(features, "features")
        n = len(x)
        lab = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
        if lab.ndim != 1 or len(lab) != n:
            raise ValueError(f"labels must be a 1-D sequence of {n} identity labels (one per feature), got shape {lab.shape}")
        if n and not np.issubdtype(lab.dtype, np.integer):
            if not (np.issubdtype(lab.dtype, np.floating) and np.all(lab == np.round(lab))):
                raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
        lab = lab.astype(np.int64)
        if n and lab.min() < 0:
            raise ValueError("labels must be >= 0 (-1 is reserved for 'unknown')")
        if names is None:
            nm = [str(int(v)) for v in lab]
        else:
            nm = list(names)
            if len(nm) != n:
                raise ValueError(f"got {len(nm)} names for {n} features; labels and names need one entry per feature")
            if not all(isinstance(s, str) for s in nm):
                raise ValueError("names must be strings")
        if n == 0:
            return self
        if self._index is None:  # lazy IVF training on the first add
            self.train(x)  # x is already normalized; normalizing again is harmless
        self._index.add(x)
        self._labels = np.concatenate([self._labels, lab])
        self._names.extend(nm)
        return self

    # ------------------------------------------------------------------ querying
    def _lookup(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        valid = indices >= 0
        labels = np.full(indices.shape, UNKNOWN, dtype=np.int64)
        labels[valid] = self._labels[indices[valid]]
        names = np.full(indices.shape, None, dtype=object)
        all_names = self._names
        names[valid] = [all_names[j] for j in indices[valid].tolist()]
        return labels, names

    def labels_of(self, indices) -> np.ndarray:
        """Labels of gallery indices (-1 for -1)."""
        return self._lookup(np.asarray(indices, dtype=np.int64))[0]

    def names_of(self, indices) -> np.ndarray:
        """Names of gallery indices (object array; ``None`` for -1)."""
        return self._lookup(np.asarray(indices, dtype=np.int64))[1]

    def search(self, probes, k: int = 1) -> SearchResult:
        """The k best gallery vectors per probe: ``(scores float32 (n,k), indices int64 (n,k))``.

        Scores are cosines (metric ``"cosine"``) or inner products, best first. ``k`` larger than the
        gallery is padded with index -1 / score ``-inf``. The result also carries ``.labels``,
        ``.names`` and ``.to_frame()``.
        """
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if len(self) == 0:
            raise ValueError("the gallery is empty: add features before searching")
        q = self._prepare(probes, "probes")
        kk = min(k, len(self))
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        indices = np.full((len(q), k), -1, dtype=np.int64)
        if len(q):
            s, i = self._index.search(q, kk)
            scores[:, :kk], indices[:, :kk] = s, i
            scores[indices < 0] = -np.inf
        labels, names = self._lookup(indices)
        return SearchResult(scores, indices, labels, names)

    def identify(self, probes, threshold: float) -> Identification:
        """Open-set identification: the best gallery identity of each probe, or unknown.

        A probe's score for an identity is the best score over that identity's gallery images, so
        the best identity is the one owning the top-1 image. It is accepted when
        ``score >= threshold`` (``>=`` accepts); otherwise the probe is "unknown": label -1,
        name ``None``, index -1. ``scores`` keep the best score either way.
        """
        res = self.search(probes, k=1)
        scores = res.scores[:, 0]
        accepted = scores >= float(threshold)
        labels = np.where(accepted, res.labels[:, 0], UNKNOWN)
        indices = np.where(accepted, res.indices[:, 0], -1)
        names = res.names[:, 0].copy()
        names[~accepted] = None
        return Identification(labels, names, scores, indices, accepted, float(threshold))

    def vectors(self) -> np.ndarray:
        """The stored vectors (normalized under ``metric="cosine"``), float32 (ntotal, dim)."""
        if len(self) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        cpu = backends.to_cpu(self._index)
        if self.kind == "ivf":
            import faiss

            cpu = faiss.clone_index(cpu) if cpu is self._index else cpu
            faiss.extract_index_ivf(cpu).make_direct_map()
        return cpu.reconstruct_n(0, len(self))

    # ------------------------------------------------------------------ persistence
    def _payload(self) -> dict[str, np.ndarray]:
        import faiss

        if self._index is None:
            index_bytes = np.zeros(0, dtype=np.uint8)
        else:
            index_bytes = faiss.serialize_index(backends.to_cpu(self._index))
        encoded = [s.encode("utf-8") for s in self._names]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return {
            "index": np.asarray(index_bytes, dtype=np.uint8),
            "labels": self._labels,
            "names_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8),
            "names_offsets": offsets,
        }

    @staticmethod
    def _checksum(payload: dict[str, np.ndarray]) -> str:
        h = hashlib.sha256()
        for key in ("index", "labels", "names_utf8", "names_offsets"):
            h.update(key.encode())
            h.update(np.ascontiguousarray(payload[key]).tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write the gallery (vectors, labels, names, parameters) to one ``.npz`` file, atomically."""
        path = Path(path)
        payload = self._payload()
        header = {
            "format": FORMAT,
            "count": len(self),
            "trained": self.is_trained,
            "sha256": self._checksum(payload),
            **self.params(),
            "meta": self.meta,
        }
        arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), **payload}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path, expected_dim: int | None = None, device: str = "auto") -> "GalleryIndex":
        """Read a gallery written by ``save``. Raises ``FileNotFoundError`` for a missing file and
        ``ValueError`` (naming the file) for another format, a dimension other than ``expected_dim``,
        or a corrupt/truncated file (zip CRC or SHA-256 mismatch)."""
        import faiss

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"gallery file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = {"header", "index", "labels", "names_utf8", "names_offsets"} - set(z.files)
                if missing:
                    raise ValueError(f"missing arrays {sorted(missing)}")
                data = {k: z[k] for k in ("header", "index", "labels", "names_utf8", "names_offsets")}
            header = json.loads(data["header"].tobytes().decode("utf-8"))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, UnicodeDecodeError) as err:
            raise ValueError(
                f"{path}: not a readable lrfr gallery file ({FORMAT} .npz); corrupt or truncated? ({err})"
            ) from err
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: format {header.get('format')!r}, expected {FORMAT!r}")
        try:
            dim, count, kind, metric = int(header["dim"]), int(header["count"]), header["kind"], header["metric"]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: incomplete gallery header (missing or bad {err})") from err
        if expected_dim is not None and dim != int(expected_dim):
            raise ValueError(f"{path}: gallery features have dimension {dim}, expected {int(expected_dim)}")
        if cls._checksum(data) != header.get("sha256"):
            raise ValueError(f"{path}: checksum mismatch, the file is corrupt (expected sha256 {header.get('sha256')})")
        labels = data["labels"].astype(np.int64, copy=False)
        offsets = data["names_offsets"]
        if len(labels) != count or len(offsets) != count + 1:
            raise ValueError(f"{path}: header says {count} vectors but holds {len(labels)} labels / {len(offsets) - 1} names")
        g = cls(
            dim,
            kind=kind,
            metric=metric,
            nlist=header.get("nlist"),
            nprobe=header.get("nprobe", 16),
            hnsw_m=header.get("hnsw_m", 32),
            ef_search=header.get("ef_search", 64),
            ef_construction=header.get("ef_construction", 40),
            device=device,
            train_seed=header.get("train_seed", 0),
        )
        if data["index"].size:
            cpu = faiss.deserialize_index(np.ascontiguousarray(data["index"]))
            if cpu.d != dim or cpu.ntotal != count:
                raise ValueError(f"{path}: index holds {cpu.ntotal} vectors of dim {cpu.d}, header says {count} of dim {dim}")
            g._index = g._place(cpu)
        elif count:
            raise ValueError(f"{path}: header says {count} vectors but the index is empty")
        buf = data["names_utf8"].tobytes()
        g._names = [buf[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
        g._labels = labels.copy()
        g.meta = dict(header.get("meta") or {})
        return g
