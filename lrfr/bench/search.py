"""``lrfr bench search``: a watchlist search end to end on the CPU — read, front-end, embed, search — and what
approximate indexes cost in recall on face-like features.

(a) **Probes per second, end to end.** ``n_probes`` 14×12 PNG probe files (SynthFaces renders, degraded ×8 and
    written like ``lrfr degrade`` writes them) searched through the ``camera`` preset: reading, the front-end
    (bicubic to 112×96) and the probe recognizer are timed once per backend (torch, onnxruntime), the search
    alone once per gallery (size × kind); end-to-end probes/s = 1 / (seconds per probe read+embed + seconds per
    probe searched).
(b) **Face-like galleries** of 1k, 100k and 1M identities (one vector each, 128-d): not uniform noise but
    vectors with the spectrum of real embeddings — identity centres and within-identity offsets drawn from
    Gaussians whose covariances are those of the gallery recognizer's embeddings of real faces (SynthFaces
    renders: ``n_fit_identities`` × 4 faces; the covariances' eigen-spectra carry the low intrinsic dimension
    that makes approximate search work on faces). Probes: another offset of a random gallery identity.
    Recall of ivf (nlist ≈ 4√n, nprobe 8/32) and hnsw (M 32, efSearch 64/128) against flat: ``recall@1`` (the
    same top-1), ``top1_identity`` (the top-1 is the probe's identity). Peak memory of each build is measured
    in a fresh process.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from lrfr.bench.common import machine_info, measure_in_subprocess

DIM = 128


def face_statistics(n_identities: int, per_identity: int = 4, seed: int = 0) -> dict:
    """Mean, between-identity and within-identity covariances of real embeddings (the camera preset's
    gallery recognizer on SynthFaces renders; flip fusion off: 128-d)."""
    import torch

    from lrfr.data.synth import SynthFaces
    from lrfr.probe import ProbePipeline

    pipe = ProbePipeline.preset("camera", flip="none")
    ds = SynthFaces(n_identities=n_identities, images_per_identity=per_identity, size=(112, 96), seed=seed,
                    identity_offset=6_000_000)
    faces = torch.stack([ds[i][0] for i in range(len(ds))])
    f = pipe.embed_gallery(faces)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_identities), per_identity)
    centres = np.stack([f[labels == c].mean(0) for c in range(n_identities)])
    within = f - centres[labels]
    return {"mean": centres.mean(0), "between": np.cov(centres, rowvar=False),
            "within": np.cov(within, rowvar=False) * per_identity / max(per_identity - 1, 1)}


def face_like(stats: dict, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` identity centres and a second offset of each (the probe draw), float32, from ``stats``."""
    rng = np.random.default_rng(seed)
    lb = np.linalg.cholesky(stats["between"] + 1e-6 * np.eye(DIM)).astype(np.float32)
    lw = np.linalg.cholesky(stats["within"] + 1e-6 * np.eye(DIM)).astype(np.float32)
    centres = np.empty((n, DIM), np.float32)
    for s in range(0, n, 65536):
        e = min(n, s + 65536)
        centres[s:e] = stats["mean"] + rng.standard_normal((e - s, DIM), dtype=np.float32) @ lb.T
    gallery = centres + _offsets(rng, n, lw)
    return centres, gallery


def _offsets(rng, n: int, lw: np.ndarray) -> np.ndarray:
    out = np.empty((n, DIM), np.float32)
    for s in range(0, n, 65536):
        e = min(n, s + 65536)
        out[s:e] = rng.standard_normal((e - s, DIM), dtype=np.float32) @ lw.T
    return out


def gallery_job(n: int, n_probes: int, kinds: list, stats: dict, seed: int) -> dict:
    """Build each index over ``n`` face-like identities and search ``n_probes`` probes (in a fresh process)."""
    from lrfr.bench.index import timed_searches
    from lrfr.index.gallery import GalleryIndex

    rng = np.random.default_rng(seed + 1)
    centres, gallery = face_like(stats, n, seed)
    who = rng.integers(0, n, n_probes)
    lw = np.linalg.cholesky(stats["within"] + 1e-6 * np.eye(DIM)).astype(np.float32)
    probes = centres[who] + _offsets(rng, n_probes, lw)
    del centres
    labels = np.arange(n, dtype=np.int64)
    rows, exact = [], None
    for kind, settings in kinds:
        kw = {"nlist": max(16, int(4 * np.sqrt(n)))} if kind == "ivf" else {"hnsw_m": 32} if kind == "hnsw" else {}
        t = time.perf_counter()
        g = GalleryIndex(DIM, kind, device="cpu", **kw)
        g.add(gallery, labels)
        build = time.perf_counter() - t
        for label, search_s, idx in timed_searches(g, probes, settings):
            if exact is None:
                exact = idx
            rows.append({"identities": n, "kind": kind, "setting": label, "build_s": build, "search_s": search_s,
                         "search_ms_per_probe": 1000 * search_s / n_probes,
                         "recall@1": float(np.mean(idx[:, 0] == exact[:, 0])),
                         "top1_identity": float(np.mean(labels[np.maximum(idx[:, 0], 0)] == who)),
                         **{k: v for k, v in kw.items()}})
        del g
    return {"rows": rows}


def embed_job(n_probes: int, backend: str, seed: int) -> dict:
    """Seconds per probe to read 14×12 PNG files and embed them through the camera preset."""
    import tempfile

    import torch

    from lrfr.data.resample import downsample
    from lrfr.data.synth import SynthFaces
    from lrfr.gallery import read_faces
    from lrfr.io import to_uint8, write_image
    from lrfr.probe import ProbePipeline

    folder = Path(tempfile.mkdtemp(prefix="lrfr-bench-search-"))
    ds = SynthFaces(n_identities=n_probes, images_per_identity=1, size=(112, 96), seed=seed, identity_offset=7_000_000)
    lr = downsample(torch.stack([ds[i][0] for i in range(n_probes)]), 8)
    for i in range(n_probes):
        write_image(folder / f"p{i:05d}.png", to_uint8(lr[i]))
    pipe = ProbePipeline.preset("camera", backend=backend)
    pipe.embed_probes(lr[:8])  # warm: an onnxruntime session opens (and the export is cached) once
    t = time.perf_counter()
    faces = read_faces(folder)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    pipe.embed_probes(faces.images)
    embed_s = time.perf_counter() - t
    return {"backend": backend, "probes": n_probes, "read_s": read_s, "front_end_embed_s": embed_s,
            "ms_per_probe": 1000 * (read_s + embed_s) / n_probes}


def run(out_dir: str | Path, quick: bool = False) -> dict:
    import pandas as pd

    sizes = [1_000, 20_000] if quick else [1_000, 100_000, 1_000_000]
    n_probes = 200 if quick else 1_000
    stats = face_statistics(60 if quick else 300)
    kinds = [("flat", [("exact", {})]), ("ivf", [("nprobe=8", {"nprobe": 8}), ("nprobe=32", {"nprobe": 32})]),
             ("hnsw", [("efSearch=64", {"ef_search": 64}), ("efSearch=128", {"ef_search": 128})])]
    embedding = [measure_in_subprocess(embed_job, n_probes=128 if quick else 512, backend=b, seed=0)
                 for b in ("torch", "onnxruntime")]
    galleries = []
    for n in sizes:
        job = measure_in_subprocess(gallery_job, n=n, n_probes=n_probes, kinds=kinds, stats=stats, seed=0)
        galleries += [{**r, "peak_rss_mb": job["peak_rss_mb"]} for r in job["rows"]]
    best = min(e["ms_per_probe"] for e in embedding)
    for g in galleries:
        g["end_to_end_probes_per_s"] = 1000 / (best + g["search_ms_per_probe"])
    result = {"machine": machine_info(), "quick": quick, "embedding": embedding, "galleries": galleries,
              "end_to_end_backend": min(embedding, key=lambda e: e["ms_per_probe"])["backend"]}
    print(pd.DataFrame(embedding).to_string(index=False))
    print(pd.DataFrame(galleries).drop(columns=["build_s"]).to_string(index=False, float_format="{:.3f}".format))
    return result
