"""Where a C-Face stage-1 step spends its time on a GPU (issue 17: why bf16 is not 2x fp32 there).

Builds the stage-1 recipe exactly as ``lrfr bench cface`` does (the shipped synth configuration),
then for each engine variant at batch 256 times, after warm-up, (a) the data half of a step alone
(``triplet_batch``: draw the triplets, gather the HR faces, degrade them on the GPU, look up the
cached CNN^R features) and (b) whole steps; the difference is the networks' half. Last, one
``torch.profiler`` pass of the bf16 + channels_last step lists the top operators by self GPU time
and the GPU's busy share of the wall time.

    python docs/bench/profile_cface.py [OUT_DIR] [BATCH]   # for a GPU; on a CPU only as a smoke test
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from lrfr.bench.cface import CONFIGS
from lrfr.bench.common import engine_step


DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def build(batch: int):
    import tempfile

    from lrfr.config import from_dict
    from lrfr.recipes.cface.algorithm import CFaceTrainer
    from lrfr.recipes.cface.config import CFacePipeline

    generator, discriminator = CONFIGS["synth (48x16, D 32/256)"]
    cfg = from_dict(CFacePipeline, {
        "model": {"arch": "srresnet", "scale": 8, "kwargs": generator},
        "discriminator": {"arch": "srgan", "kwargs": discriminator},
        "data": {"n_identities": batch // 4, "images_per_identity": 8},
        "stage1": {"batch_size": batch, "iterations": 10**6},
        "val": {"source": "none"}, "eval": {"protocols": []},
        "run": {"device": DEVICE, "out": tempfile.mkdtemp()},
    })
    trainer = CFaceTrainer(cfg, progress=False)
    return trainer.stage1_recipe(), cfg


def timed(fn, n: int) -> float:
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - t0) / n


def main(out: Path, batch: int = 256, n: int = 20) -> dict:
    rows = []
    for variant in ("fp32", "bf16", "bf16+channels_last"):
        recipe, cfg = build(batch)
        step = engine_step(recipe, DEVICE, variant, cfg.run.out)
        data_s = timed(lambda: recipe.triplet_batch(0), n)
        step_s = timed(step, n)
        rows.append({"variant": variant, "batch_size": batch, "step_s": step_s, "data_s": data_s,
                     "networks_s": step_s - data_s, "images_per_s": batch / step_s})
        print(f"{variant:20s} step {step_s * 1e3:7.1f} ms = data {data_s * 1e3:6.1f} ms + networks "
              f"{(step_s - data_s) * 1e3:6.1f} ms  ({batch / step_s:7.0f} images/s)")
    base = rows[0]["networks_s"]
    for r in rows:
        r["networks_speedup_vs_fp32"] = base / r["networks_s"]
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for _ in range(5):
            step()
        sync()
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    # kernels and copies are the events of device type CUDA (the operators that launch them carry
    # their time too: summing every event would count it twice)
    from torch.autograd import DeviceType

    gpu_total = sum(e.self_device_time_total for e in events if e.device_type == DeviceType.CUDA) / 1e6
    table = events.table(sort_by="self_cuda_time_total", row_limit=15)
    print(table)
    print(f"GPU busy {gpu_total:.3f} s of {wall:.3f} s wall ({100 * gpu_total / wall:.0f}%) over 5 bf16+channels_last steps")
    result = {"rows": rows, "profile_wall_s": wall, "profile_gpu_busy_s": gpu_total,
              "device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu", "torch": torch.__version__,
              # fp32 convolutions run on tensor cores in TF32 unless these say otherwise
              "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
              "float32_matmul_precision": torch.get_float32_matmul_precision()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile_cface.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "profile_cface.txt").write_text(table + "\n")
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/profile"), batch=int(sys.argv[2]) if len(sys.argv) > 2 else 256)
