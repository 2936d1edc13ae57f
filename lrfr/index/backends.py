"""FAISS plumbing shared by :mod:`lrfr.index.gallery` and :mod:`lrfr.index.miner`.

Input checking (dimension, dtype, NaN), L2 normalization, index construction by kind
(``flat`` / ``ivf`` / ``hnsw``, all inner-product), and GPU handling. Every GPU call is guarded:
with ``faiss-cpu`` (``faiss.get_num_gpus()`` is 0 or missing) nothing GPU-related is touched.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

KINDS = ("flat", "ivf", "hnsw")
METRICS = ("cosine", "ip")


def _faiss():
    import faiss

    return faiss


def num_gpus() -> int:
    """GPUs FAISS can use: 0 with faiss-cpu (or when the query itself fails)."""
    faiss = _faiss()
    try:
        return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    except Exception:  # pragma: no cover - a broken CUDA install reads as "no GPU"
        return 0


def resolve_device(device: str, kind: str) -> str:
    """``"auto"`` → ``"cuda:0"`` when FAISS sees a GPU and the kind has a GPU version, else ``"cpu"``.

    ``"cuda"``/``"cuda:N"``/``"gpu"`` asks for a GPU explicitly and raises ``ValueError`` when FAISS
    has none. HNSW has no FAISS GPU implementation: it always stays on the CPU (logged when a GPU
    was asked for or available).
    """
    device = str(device).lower()
    if device == "auto":
        if num_gpus() > 0:
            if kind == "hnsw":
                log.info("FAISS has no GPU HNSW index; the hnsw gallery stays on the CPU")
                return "cpu"
            return "cuda:0"
        return "cpu"
    if device == "cpu":
        return "cpu"
    if device == "gpu" or device == "cuda" or device.startswith("cuda:"):
        n = num_gpus()
        gpu = int(device.split(":", 1)[1]) if ":" in device else 0
        if n == 0:
            raise ValueError(
                f"device={device!r} but FAISS reports no GPU (faiss-cpu installed?); use device='cpu' or 'auto'"
            )
        if gpu >= n:
            raise ValueError(f"device={device!r} but FAISS sees only {n} GPU(s)")
        if kind == "hnsw":
            log.warning("FAISS has no GPU HNSW index; the hnsw gallery stays on the CPU")
            return "cpu"
        return f"cuda:{gpu}"
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


_GPU_RESOURCES: dict[int, Any] = {}


def to_gpu(index, device: str):
    """Clone a CPU index onto the GPU named by ``device`` (``"cuda:N"``); resources are shared."""
    faiss = _faiss()
    gpu = int(device.split(":", 1)[1])
    res = _GPU_RESOURCES.get(gpu)
    if res is None:
        res = _GPU_RESOURCES[gpu] = faiss.StandardGpuResources()
    return faiss.index_cpu_to_gpu(res, gpu, index)


def to_cpu(index):
    """The CPU version of ``index`` (itself when it already lives on the CPU)."""
    faiss = _faiss()
    if num_gpus() > 0 and hasattr(faiss, "index_gpu_to_cpu") and type(index).__name__.startswith("Gpu"):
        return faiss.index_gpu_to_cpu(index)
    return index


def check_features(x, dim: int | None = None, what: str = "features") -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (n, d) array; ``ValueError`` on a wrong shape/dim, NaN or inf.

    Accepts numpy arrays, torch tensors (moved to CPU) and nested lists. A 1-D vector is a batch of one.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n, dim); got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what} have dimension {x.shape[1]}, expected {dim}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{what} must be real numbers, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    step = max(1, (1 << 24) // max(1, x.shape[1]))  # chunked: no full-size boolean temporary
    for s in range(0, len(x), step):
        chunk = x[s : s + step]
        if not np.isfinite(chunk).all():
            bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
            raise ValueError(f"{what} contain NaN/inf in {bad.size} row(s) (first: row {int(bad[0])})")
    return x


def l2_normalize(x: np.ndarray, inplace: bool = False, what: str = "features") -> np.ndarray:
    """Rows divided by their L2 norm (float32). A zero row has no direction: ``ValueError``."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if x.size and (norms == 0).any():
        bad = np.flatnonzero(norms[:, 0] == 0)
        raise ValueError(f"{what} contain {bad.size} all-zero row(s) (first: row {int(bad[0])}); cosine is undefined")
    if inplace:
        x /= norms
        return x
    return (x / norms).astype(np.float32, copy=False)


def default_nlist(n: int) -> int:
    """IVF lists for ``n`` training vectors: about 4·√n, at most n/39 (FAISS' 39 points per centroid)."""
    return int(max(1, min(round(4 * np.sqrt(max(n, 1))), n // 39 if n >= 39 else 1)))


def make_index(dim: int, kind: str, *, nlist: int | None = None, hnsw_m: int = 32, ef_construction: int = 40):
    """A fresh, empty CPU index: ``IndexFlatIP``, ``IndexIVFFlat`` (inner product) or ``IndexHNSWFlat``
    (``METRIC_INNER_PRODUCT``). IVF needs ``nlist`` resolved and is untrained."""
    faiss = _faiss()
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "ivf":
        if not nlist or nlist < 1:
            raise ValueError("an IVF index needs nlist >= 1")
        # index_factory: the IVF index owns its flat quantizer (no Python-side lifetime juggling)
        return faiss.index_factory(dim, f"IVF{int(nlist)},Flat", faiss.METRIC_INNER_PRODUCT)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(ef_construction)
        return index
    raise ValueError(f"unknown index kind {kind!r}; known: {', '.join(KINDS)}")


def set_search_params(index, kind: str, *, nprobe: int | None = None, ef_search: int | None = None) -> None:
    """Apply ``nprobe`` (IVF, CPU or GPU) / ``efSearch`` (HNSW) to a built index."""
    faiss = _faiss()
    if kind == "ivf" and nprobe is not None:
        nprobe = int(nprobe)
        if type(index).__name__.startswith("Gpu"):  # pragma: no cover - needs faiss-gpu
            try:
                index.nprobe = nprobe
            except AttributeError:
                index.setNumProbes(nprobe)
        else:
            faiss.extract_index_ivf(index).nprobe = nprobe
    elif kind == "hnsw" and ef_search is not None:
        index.hnsw.efSearch = int(ef_search)
