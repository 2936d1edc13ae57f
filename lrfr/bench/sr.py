"""Benchmark: SR front-ends — ``lrfr bench sr``.

For each front-end (bicubic; SRResNet at the paper's 64 channels × 16 blocks and at the shipped
48 × 16; GAFH-RIDN and prior-guided attention SR at their papers' sizes), on random faces (weights
do not change the cost):

* **inference**: LR 14×12 → 112×96 (8×), batch 64, images/s, after a warm-up batch; on the CPU in
  fp32, in bf16 autocast and with channels_last; on CUDA (when present) in fp32 and bf16 autocast.
* **one full training step** of the SR recipe (:class:`lrfr.recipes.sr.recipe.SRRecipe`): G forward,
  pixel + recognizer-feature perceptual + super-identity (L_SI) + adversarial losses, G backward
  and update, then the SRGAN discriminator's update; images/s at batch 16 (CPU) / 64 (CUDA), with the
  engine's switches: fp32, channels_last (CPU), bf16 autocast, torch.compile (after its warm-up step).

Each configuration runs in a fresh process so its peak RSS is its own; CUDA rows add the peak
allocated GPU memory. Runs are time-boxed (at least one timed batch).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lrfr.bench.common import engine_step, measure_in_subprocess, select_devices, time_steps

FRONT_ENDS = {
    "bicubic": ("bicubic", {}),
    "srresnet-64x16 (paper)": ("srresnet", {"channels": 64, "blocks": 16}),
    "srresnet-48x16 (shipped)": ("srresnet", {"channels": 48, "blocks": 16, "bicubic_skip": True}),
    "gafh_ridn-64 4x3 (paper)": ("gafh_ridn", {}),
    "prior_attention-64x16 (paper)": ("prior_attention", {}),
    "pfsr-512..64 (paper)": ("pfsr", {}),
}
#: the engine's switches timed on a training step ([run] precision, channels_last, compile)
TRAIN_VARIANTS = {"cpu": ["fp32", "channels_last", "bf16", "compile"], "cuda": ["fp32", "bf16", "compile"]}
#: recipe loss terms a front-end's training step adds (papers/003's L_c and L_p)
EXTRA_LOSSES = {"prior_attention": {"coarse_weight": 1.0, "prior_weight": 1.0}}


def _inference(arch: str, kwargs: dict, device: str, variant: str, batch_size: int, max_batches: int,
               max_seconds: float) -> dict[str, Any]:
    import contextlib

    import torch

    from lrfr import sr

    torch.manual_seed(0)
    model = sr.build(arch, scale=8, **kwargs).to(device).eval()
    x = torch.rand(batch_size, 3, 14, 12, device=device)
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    amp = (torch.autocast(device.split(":")[0], dtype=torch.bfloat16) if variant == "bf16"
           else contextlib.nullcontext())
    def step():
        with torch.no_grad(), amp:
            model(x)

    out = time_steps(step, device, batch_size, max_batches, max_seconds)
    out["timed_batches"] = out.pop("timed_steps")
    out["params"] = sum(p.numel() for p in model.parameters())
    return out


def _train_step(kwargs: dict, device: str, batch_size: int, max_batches: int, max_seconds: float,
                arch: str = "srresnet", variant: str = "fp32") -> dict[str, Any]:
    import tempfile

    from lrfr.config import from_dict
    from lrfr.recipes.sr.config import SRPipeline
    from lrfr.recipes.sr.recipe import SRRecipe

    cfg = from_dict(SRPipeline, {
        "model": {"arch": arch, "scale": 8, "kwargs": kwargs},
        "discriminator": {"arch": "srgan"},
        "loss": {"perceptual_weight": 0.05, "identity_weight": 0.05, "adversarial_weight": 1e-3,
                 **EXTRA_LOSSES.get(arch, {})},
        "data": {"n_identities": max(2, batch_size // 8), "images_per_identity": 8},
        "optim": {"batch_size": batch_size},
        "run": {"device": device, "out": tempfile.mkdtemp()},
    })
    recipe = SRRecipe(cfg, progress=False)
    step = engine_step(recipe, device, variant, cfg.run.out)  # the [run] switches, as `lrfr run` applies them
    out = time_steps(step, device, batch_size, max_batches, max_seconds)
    out.update({"batch_size": batch_size,
                "losses": "pixel + perceptual(recognizer) + identity + adversarial, D step"})
    return out


def run(out: Path, quick: bool = False, device: str = "all") -> dict[str, Any]:
    devices = select_devices(device)
    rows = []
    for label, (arch, kwargs) in FRONT_ENDS.items():
        for device in devices:
            variants = ["fp32", "bf16"] + (["channels_last"] if device == "cpu" else [])
            for variant in variants:
                r = measure_in_subprocess(_inference, arch=arch, kwargs=kwargs, device=device, variant=variant,
                                          batch_size=8 if quick else 64, max_batches=2 if quick else 50,
                                          max_seconds=2.0 if quick else (10.0 if device == "cpu" else 5.0))
                rows.append({"front_end": label, "job": "inference 14x12->112x96", "device": device,
                             "variant": variant, **r})
                print(f"  {label:26s} inference {device:4s} {variant:13s} {r['images_per_s']:9.1f} images/s")
            if arch == "bicubic":
                continue
            batch = 4 if quick else (16 if device == "cpu" else 64)
            for variant in TRAIN_VARIANTS[device] if not quick else ["fp32"]:
                r = measure_in_subprocess(_train_step, arch=arch, kwargs=kwargs, device=device, batch_size=batch,
                                          max_batches=1 if quick else 20, max_seconds=2.0 if quick else 20.0,
                                          variant=variant)
                rows.append({"front_end": label, "job": "training step (G+D+perceptual+identity)", "device": device,
                             "variant": variant, **r})
                print(f"  {label:26s} train step {device:4s} {variant:13s} {r['images_per_s']:9.1f} images/s")
    return {"rows": rows}
