"""Benchmark: C-Face stage 1 — ``lrfr bench cface``.

One full stage-1 training step of :class:`lrfr.train.cface_stages.CFaceGANRecipe` (triplets drawn,
LR degraded on the fly, G forward, eq. 7 = α·L_GAN + β·L_P (recognizer features) + L_CF with the
HR-side features from the cache, G backward and update, the discriminator's update), in images/s,
for the shipped synth configuration (SRResNet 48 × 16, discriminator 32 / dense 256, the packaged
sphere20a as CNN^R) and the paper's sizes (SRResNet 64 × 16, discriminator 64 / dense 1024). Beside
it: the one-off cost stage 1 pays before its first step (``setup_s``: loading CNN^R, its features of
every HR training image, both flips, and the compare-face mining).

Batch 16 on the CPU, 64 on CUDA (the paper's), fp32, random SynthFaces (weights do not change the
cost). Each configuration runs in a fresh process (peak RSS its own); time-boxed.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lrfr.bench.common import measure_in_subprocess, time_steps

CONFIGS = {
    "synth (48x16, D 32/256)": ({"channels": 48, "blocks": 16, "batch_norm": True, "bicubic_skip": True},
                                {"channels": 32, "dense": 256}),
    "paper (64x16, D 64/1024)": ({"channels": 64, "blocks": 16}, {"channels": 64, "dense": 1024}),
}


def _stage1_step(generator: dict, discriminator: dict, device: str, batch_size: int, max_batches: int,
                 max_seconds: float, quick: bool) -> dict[str, Any]:
    import tempfile

    import torch

    from lrfr.config import from_dict
    from lrfr.train.cface import CFaceTrainer
    from lrfr.train.cface_config import CFacePipeline

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
    recipe.set_mode(True)
    steps = iter(range(10**9))
    out = time_steps(lambda: recipe.train_step(next(steps)), device, batch_size, max_batches, max_seconds)
    out.update({"batch_size": batch_size, "training_images": len(trainer.data), "setup_s": setup_s,
                "losses": "eq. 7: adversarial + perceptual(recognizer) + C-Face (cached HR features), D step"})
    return out


def run(out: Path, quick: bool = False) -> dict[str, Any]:
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for label, (generator, discriminator) in CONFIGS.items():
        for device in devices:
            batch = 4 if quick else (16 if device == "cpu" else 64)
            r = measure_in_subprocess(_stage1_step, generator=generator, discriminator=discriminator, device=device,
                                      batch_size=batch, max_batches=1 if quick else 20,
                                      max_seconds=2.0 if quick else (60.0 if device == "cpu" else 20.0), quick=quick)
            rows.append({"config": label, "job": "C-Face stage-1 training step", "device": device, "variant": "fp32",
                         **r})
            print(f"  {label:26s} stage 1 {device:4s} {r['images_per_s']:9.1f} images/s "
                  f"({r['seconds_per_step']:.2f} s/step at batch {batch})")
    return {"rows": rows}
