"""Benchmark: ``lrfr.evaluate`` end to end on LFW-BLUFR at 8× — ``lrfr bench evaluate``.

What a user waits for: read 13,233 aligned LFW faces, degrade them to 14×12 (bicubic with
antialias), super-resolve, embed them with the CASIA MobileFaceNet (flip-fused), run BLUFR's 10
trials. Rows: bicubic on each device, and one learned front-end (the packaged SynthFaces SRResNet;
its weights do not change the cost) on CUDA — on this project's 2-core CPUs a learned 8× front-end
over 13k faces takes ~15 minutes, so there it is left out and the row says so.

Needs the real data: ``$LRFR_SHARED`` (or ``<repo>/../shared``) with ``data/lfw`` and
``weights/mobilefacenet_casia_068.ckpt``; without it the bench records why and measures nothing.
``--quick`` runs BLUFR's first trial only. Each row also says where its time went
(``stage_s``: reading, degrading, SR, PSNR/SSIM, embedding, BLUFR; ``table.attrs["seconds"]``).
Goal (issue 17): bicubic end to end ≤ 60 s on 2 cores; ≤ 60 s on one GPU.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lrfr.bench.common import measure_in_subprocess, select_devices, shared_root

GOAL_S = 60.0


def _evaluate_job(sr: str, device: str, data: str, weights: str, trials: list[int],
                  backend: str = "torch") -> dict[str, Any]:
    import tempfile

    import lrfr
    from lrfr import protocols
    from lrfr.weights import resolve

    protocol = protocols.get("blufr", trials=trials, progress=False) if trials else protocols.get("blufr", progress=False)
    sr_model = "bicubic" if sr == "bicubic" else resolve(sr)
    t0 = time.perf_counter()
    table = lrfr.evaluate(sr_model, protocol=protocol, recognizer="mobilefacenet", weights=weights, data=data,
                          scale=8, device=device, workdir=tempfile.mkdtemp(prefix="lrfr-bench-eval-"),
                          progress=False, cache=False, backend=backend)
    seconds = time.perf_counter() - t0
    row = table.iloc[0].to_dict()
    keep = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and ("vr@" in k or "dir@" in k)}
    (stages,) = table.attrs["seconds"].values()
    return {"seconds": seconds, "n_trials": len(trials) or 10, "stage_s": stages, "backend": backend, **keep}


def run(out: Path, quick: bool = False, device: str = "all") -> dict[str, Any]:
    root = shared_root()
    data, weights = root / "data" / "lfw", root / "weights" / "mobilefacenet_casia_068.ckpt"
    if not (data.is_dir() and weights.is_file()):
        return {"rows": [], "skipped": f"LFW or the CASIA MobileFaceNet not found under {root} (set LRFR_SHARED)"}
    trials = [1] if quick else []
    rows = []
    from importlib.util import find_spec

    for dev in select_devices(device):
        fronts = ["bicubic"] + (["packaged:srresnet_synth.pt"] if dev == "cuda" else [])
        backends = ["torch"] + (["onnxruntime"] if dev == "cpu" and find_spec("onnxruntime") else [])
        for sr, backend in [(s, b) for s in fronts for b in backends if s == "bicubic" or b == "torch"]:
            r = measure_in_subprocess(_evaluate_job, sr=sr, device=dev, data=str(data), weights=str(weights),
                                      trials=trials, backend=backend)
            rows.append({"front_end": sr, "job": "lrfr.evaluate LFW-BLUFR 8x end to end", "device": dev,
                         "goal_s": GOAL_S, "meets_goal": r["seconds"] <= GOAL_S if not quick else None, **r})
            print(f"  {sr:28s} {dev:4s} {backend:11s} {r['seconds']:8.1f} s  ("
                  + ", ".join(f"{k} {v:.1f}" for k, v in r["stage_s"].items()) + ")")
        if dev == "cpu":
            rows.append({"front_end": "packaged:srresnet_synth.pt", "device": "cpu",
                         "job": "lrfr.evaluate LFW-BLUFR 8x end to end",
                         "skipped": "a learned 8x front-end over 13,233 faces takes ~15 min on 2 CPU cores"})
    return {"rows": rows, "backend_differences": backend_differences(rows)}


def backend_differences(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Every protocol figure where onnxruntime's bicubic row differs from PyTorch's: ``{figure: {"torch", "onnxruntime"}}``
    (empty when every VR and DIR is the same to the last digit)."""
    by = {r.get("backend"): r for r in rows if r.get("front_end") == "bicubic" and r.get("device") == "cpu" and "seconds" in r}
    if {"torch", "onnxruntime"} - set(by):
        return {}
    a, b = by["torch"], by["onnxruntime"]
    return {k: {"torch": a[k], "onnxruntime": b[k]} for k in a if ("vr@" in k or "dir@" in k) and a[k] != b.get(k)}
