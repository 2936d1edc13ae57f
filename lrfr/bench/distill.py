"""``lrfr bench distill``: the distillation recipe's training step (student forward + backward on front-end
faces, the teacher's HR features looked up), as ``lrfr run`` runs it.

Teacher and student are MobileFaceNets (the real-face recipe's: ``pipelines/distill_celeba.toml``), here
randomly initialised (speed does not depend on the weights); the front-end is bicubic (a generator's faces
are computed once before training, so they do not change the step's cost).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lrfr.bench.common import engine_step, measure_in_subprocess, select_devices, time_steps

VARIANTS = {"cpu": ["fp32", "channels_last"], "cuda": ["fp32", "bf16", "bf16+channels_last"]}


def _train_step(device: str, batch_size: int, max_batches: int, max_seconds: float, variant: str) -> dict[str, Any]:
    import tempfile

    import torch

    from lrfr import recognition
    from lrfr.config import from_dict
    from lrfr.recipes.distill.config import DistillPipeline
    from lrfr.recipes.distill.recipe import DistillRecipe
    from lrfr.recognition.weights import save_recognizer

    work = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    save_recognizer(recognition.build("mobilefacenet").eval(), work / "teacher.pt")
    cfg = from_dict(DistillPipeline, {
        "teacher": {"weights": str(work / "teacher.pt")},
        "data": {"n_identities": max(2, batch_size // 8), "images_per_identity": 8},
        "val": {"source": "none"},
        "loss": {"softmax_weight": 0.1},
        "optim": {"batch_size": batch_size},
        "run": {"device": device, "out": str(work / "run")},
    })
    recipe = DistillRecipe(cfg, progress=False)
    step = engine_step(recipe, device, variant, cfg.run.out)
    out = time_steps(step, device, batch_size, max_batches, max_seconds)
    out.update({"batch_size": batch_size, "networks": "MobileFaceNet student (train) + A-Softmax head; teacher cached"})
    return out


def run(out: Path, quick: bool = False, device: str = "all") -> dict[str, Any]:
    rows = []
    for dev in select_devices(device):
        batch = 8 if quick else (64 if dev == "cpu" else 256)
        for variant in (["fp32"] if quick else VARIANTS[dev]):
            r = measure_in_subprocess(_train_step, device=dev, batch_size=batch, max_batches=1 if quick else 10,
                                      max_seconds=2.0 if quick else 30.0, variant=variant)
            rows.append({"job": "distill training step", "device": dev, "variant": variant, **r})
            print(f"  distill step {dev:4s} {variant:20s} {r['images_per_s']:9.1f} images/s")
    return {"rows": rows}
