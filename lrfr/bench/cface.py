"""Benchmark: C-Face stage 1 — ``lrfr bench cface``.

One full stage-1 training step of :class:`lrfr.recipes.cface.stages.CFaceGANRecipe` (triplets drawn,
LR degraded on the fly, G forward, eq. 7 = α·L_GAN + β·L_P (recognizer features) + L_CF with the
HR-side features from the cache, G backward and update, the discriminator's update), in images/s,
for the shipped synth configuration (SRResNet 48 × 16, discriminator 32 / dense 256, the packaged
sphere20a as CNN^R) and the paper's sizes (SRResNet 64 × 16, discriminator 64 / dense 1024). Beside
it: the one-off cost stage 1 pays before its first step (``setup_s``: loading CNN^R, its features of
every HR training image, both flips, and the compare-face mining).

Random SynthFaces (weights do not change the cost). The engine's switches are timed as ``lrfr run``
applies them (:func:`lrfr.bench.common.engine_step`): on the CPU fp32 and channels_last at batch 16;
on CUDA fp32 and bf16 autocast at batch 64 (the paper's) and 256 (a GPU's batch, also with bf16 +
channels_last: at 64, a step of these small networks may be bound by kernel launches rather than
arithmetic, which no precision changes). ``speedup_vs_fp32`` compares each row with the fp32 row of the same
configuration, device and batch. Each configuration runs in a fresh process (peak RSS its own);
time-boxed.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lrfr.bench.common import engine_step, measure_in_subprocess, select_devices, time_steps

CONFIGS = {
    "synth (48x16, D 32/256)": ({"channels": 48, "blocks": 16, "batch_norm": True, "bicubic_skip": True},
                                {"channels": 32, "dense": 256}),
    "paper (64x16, D 64/1024)": ({"channels": 64, "blocks": 16}, {"channels": 64, "dense": 1024}),
}
#: (variant, batch size) pairs timed on each device; variants are keys of bench.common.TRAIN_SWITCHES
PLAN = {
    "cpu": [("fp32", 16), ("channels_last", 16)],
    "cuda": [("fp32", 64), ("bf16", 64), ("fp32", 256), ("bf16", 256), ("bf16+channels_last", 256)],
}


def _stage1_step(generator: dict, discriminator: dict, device: str, batch_size: int, max_batches: int,
                 max_seconds: float, quick: bool, variant: str = "fp32") -> dict[str, Any]:
    import tempfile

    import torch

    from lrfr.config import from_dict
    from lrfr.recipes.cface.algorithm import CFaceTrainer
    from lrfr.recipes.cface.config import CFacePipeline

    if quick:
        generator, discriminator = {"channels": 8, "blocks": 2}, {"channels": 8, "dense": 16}
    n_ids = max(2, batch_size // 4)
    cfg = from_dict(CFacePipeline, {
        "model": {"arch": "srresnet", "scale": 8, "kwargs": generator},
        "discriminator": {"arch": "srgan", "kwargs": discriminator},
        "data": {"n_identities": n_ids, "images_per_identity": 8},
        "stage1": {"batch_size": batch_size, "iterations": 10**6},
        "val": {"source": "none"},
        "eval": {"protocols": []},
        "run": {"device": device, "out": tempfile.mkdtemp()},
    })
    trainer = CFaceTrainer(cfg, progress=False)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    recipe = trainer.stage1_recipe()  # CNN^R features of the whole set (both flips) + mining
    sync()
    setup_s = time.perf_counter() - t0
    step = engine_step(recipe, device, variant, cfg.run.out)  # the [run] switches, as `lrfr run` applies them
    out = time_steps(step, device, batch_size, max_batches, max_seconds)
    out.update({"batch_size": batch_size, "training_images": len(trainer.data), "setup_s": setup_s,
                "losses": "eq. 7: adversarial + perceptual(recognizer) + C-Face (cached HR features), D step"})
    return out


def run(out: Path, quick: bool = False, device: str = "all") -> dict[str, Any]:
    rows = []
    for label, (generator, discriminator) in CONFIGS.items():
        for dev in select_devices(device):
            fp32: dict[int, float] = {}
            for variant, batch in PLAN[dev] if not quick else [("fp32", 4)]:
                r = measure_in_subprocess(_stage1_step, generator=generator, discriminator=discriminator, device=dev,
                                          batch_size=batch, max_batches=1 if quick else 20,
                                          max_seconds=2.0 if quick else (60.0 if dev == "cpu" else 20.0), quick=quick,
                                          variant=variant)
                if variant == "fp32":
                    fp32[batch] = r["images_per_s"]
                speedup = r["images_per_s"] / fp32[batch] if batch in fp32 else None
                rows.append({"config": label, "job": "C-Face stage-1 training step", "device": dev, "variant": variant,
                             **r, "speedup_vs_fp32": speedup})
                print(f"  {label:26s} stage 1 {dev:4s} {variant:18s} {r['images_per_s']:9.1f} images/s "
                      f"({r['seconds_per_step']:.3f} s/step at batch {batch}"
                      + (f", {speedup:.2f}x fp32)" if speedup is not None else ")"))
    return {"rows": rows}
