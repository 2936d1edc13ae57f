"""Benchmark: recognizer embedding throughput (images/s) — ``lrfr bench recognition``.

Measures ``lrfr.recognition.embed(model, x, flip=None)`` on random 112×96 batches (weights do not
change the cost) for sphere20a (full width, 512-d) and MobileFaceNet (128-d), batch 256:

* CUDA (when available): fp32, bf16 autocast (``embed``'s CUDA default) and bf16 with
  channels_last, after one warm-up batch, ``N`` timed batches with ``torch.cuda.synchronize``.
* CPU: time-boxed (at least one timed batch), after a small warm-up batch, in four settings of
  ``embed``: the eager network in the default memory format, channels_last, channels_last with the
  BatchNorms folded (``embed``'s CPU default), and that default under bf16 autocast.

Each configuration runs in a fresh process (``measure_in_subprocess``) so its peak RSS is its own.
Flip fusion (``flip="concat"``, the LFW default) runs two forwards per image: halve the figures.

Side by side (``interleaved``, CPU): in one process, for SphereFace-20, MobileFaceNet and the packaged
low-resolution student, the eager network, the folded channels_last one (``embed``'s CPU default) and the
onnxruntime backend take turns, batch by batch, ``rounds`` times; each row gives the median seconds a batch,
images/s and the ratio to the default — turns cancel most of what another process on the machine does.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lrfr.bench.common import cuda_reason, machine_info, measure_in_subprocess, select_devices

MODELS = {
    "sphere20a": {},
    "mobilefacenet": {},
}


#: CPU settings of embed(): label → (channels_last, fold_batchnorm, amp)
CPU_VARIANTS = {"eager": (False, False, "fp32"), "channels_last": (True, False, "fp32"),
                "channels_last + folded BN (default)": (True, True, "fp32"),
                "default + bf16 autocast": (True, True, "bf16")}
#: CUDA settings of embed(): label → (channels_last, fold_batchnorm, amp)
CUDA_VARIANTS = {"fp32": (False, False, "fp32"), "bf16 autocast (default)": (False, False, "bf16"),
                 "bf16 + channels_last": (True, False, "bf16")}


def _throughput(arch: str, kwargs: dict, batch_size: int, device: str, amp: str | None,
                max_batches: int, max_seconds: float, warmup_batch: int, channels_last: bool | str = "auto",
                fold_batchnorm: bool | str = "auto", variant: str = "default") -> dict[str, Any]:
    import torch

    import lrfr.recognition as rec

    torch.manual_seed(0)
    model = rec.build(arch, **kwargs).to(device).eval()
    h, w = model.input_size
    x = torch.rand(batch_size, 3, h, w, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    switches = {"amp": amp, "channels_last": channels_last, "fold_batchnorm": fold_batchnorm}
    rec.embed(model, x[:warmup_batch], flip=None, batch_size=warmup_batch, **switches)
    sync()
    n_batches, t0 = 0, time.perf_counter()
    while True:
        rec.embed(model, x, flip=None, batch_size=batch_size, **switches)
        sync()
        n_batches += 1
        elapsed = time.perf_counter() - t0
        if n_batches >= max_batches or elapsed >= max_seconds:
            break
    out = {
        "model": arch,
        "params": sum(p.numel() for p in model.parameters()),
        "embedding_dim": model.embedding_dim,
        "device": device,
        "precision": amp if amp in ("bf16", "fp16") else "fp32",
        "variant": variant,
        "batch_size": batch_size,
        "timed_batches": n_batches,
        "seconds": elapsed,
        "images_per_s": n_batches * batch_size / elapsed,
        "torch_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


#: interleaved CPU settings: label → embed() keyword arguments
INTERLEAVED = {"eager": dict(channels_last=False, fold_batchnorm=False, amp="fp32"),
               "folded channels_last (default)": dict(channels_last=True, fold_batchnorm=True, amp="fp32"),
               "onnxruntime": dict(backend="onnxruntime")}
#: the networks of the side-by-side comparison: label → (architecture, packaged weights or None)
INTERLEAVED_MODELS = {"sphere20a": ("sphere20a", None), "mobilefacenet": ("mobilefacenet", None),
                      "student (lr_mobilefacenet_celeba)": (None, "packaged:lr_mobilefacenet_celeba.pt")}


def interleaved(batch_size: int = 128, rounds: int = 7) -> dict[str, Any]:
    """The CPU settings in turns, in this process (module doc); onnxruntime rows only where it is installed."""
    import statistics
    from importlib.util import find_spec

    import torch

    import lrfr.recognition as rec

    settings = {k: v for k, v in INTERLEAVED.items() if k != "onnxruntime" or find_spec("onnxruntime")}
    rows = []
    for label, (arch, weights) in INTERLEAVED_MODELS.items():
        torch.manual_seed(0)
        model = rec.load(weights=weights) if weights else rec.build(arch).eval()
        x = torch.rand(batch_size, 3, *model.input_size)
        times: dict[str, list[float]] = {k: [] for k in settings}
        for kw in settings.values():  # warm: folding, the ONNX export and its session happen once
            rec.embed(model, x[:8], flip=None, batch_size=8, **kw)
        for _ in range(rounds):
            for name, kw in settings.items():
                t0 = time.perf_counter()
                rec.embed(model, x, flip=None, batch_size=batch_size, **kw)
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["folded channels_last (default)"])
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append({"model": label, "setting": name, "batch_size": batch_size, "rounds": rounds,
                         "median_s": med, "images_per_s": batch_size / med, "speed_vs_default": base / med,
                         "torch_threads": torch.get_num_threads()})
    return {"rows": rows}


def run(out_dir: str | Path, quick: bool = False, device: str = "all") -> dict[str, Any]:
    """Measure throughput; ``lrfr bench recognition`` writes the result to ``out_dir/recognition.json``."""
    import os

    import torch

    info = machine_info()
    # Other work on the machine skews CPU figures; record how busy it was.
    info["load_avg_1m_at_start"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results = []
    if quick:
        cpu_cfg = dict(batch_size=32, max_batches=1, max_seconds=2.0, warmup_batch=4)
        gpu_cfg = dict(batch_size=256, max_batches=3, max_seconds=10.0, warmup_batch=256)
    else:
        cpu_cfg = dict(batch_size=256, max_batches=5, max_seconds=30.0, warmup_batch=8)
        gpu_cfg = dict(batch_size=256, max_batches=20, max_seconds=60.0, warmup_batch=256)
    devices = select_devices(device)
    plans = [("cpu", CPU_VARIANTS, cpu_cfg)] * ("cpu" in devices) + [("cuda", CUDA_VARIANTS, gpu_cfg)] * ("cuda" in devices)
    for dev, variants, cfg in plans:
        for arch, kwargs in MODELS.items():
            for variant, (cl, fold, amp) in variants.items():
                r = measure_in_subprocess(_throughput, arch=arch, kwargs=kwargs, device=dev, amp=amp,
                                          channels_last=cl, fold_batchnorm=fold, variant=variant, **cfg)
                results.append(r)
                print(f"  {arch:14s} {dev:4s} {variant:38s} {r['images_per_s']:8.1f} images/s")
    side_by_side = []
    if "cpu" in devices:
        side_by_side = measure_in_subprocess(interleaved, batch_size=32 if quick else 128,
                                             rounds=2 if quick else 7)["rows"]
        for r in side_by_side:
            print(f"  {r['model']:34s} {r['setting']:32s} {r['images_per_s']:8.1f} images/s  x{r['speed_vs_default']:.2f}")
    cuda_note = torch.cuda.get_device_name(0) if "cuda" in devices else None
    report = {
        "benchmark": "recognition",
        "what": "lrfr.recognition.embed(model, x, flip=None) throughput on random 112x96 batches; "
                "flip='concat' costs two forwards per image",
        "quick": quick,
        "machine": info,
        "cuda": cuda_note,
        "cuda_reason": cuda_reason(devices),
        "results": results,
        "interleaved": side_by_side,
    }
    return report


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    rep = run(sys.argv[1] if len(sys.argv) > 1 else ".", quick="--quick" in sys.argv)
    print(json.dumps(rep["results"], indent=2))
