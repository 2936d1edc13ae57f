"""``lrfr bench distill``: the distillation recipe's training step (student forward + backward on front-end
faces, the teacher's HR features looked up), as ``lrfr run`` runs it.

Teacher and student are MobileFaceNets (the real-face recipe's: ``pipelines/distill_celeba.toml``), here
randomly initialised (speed does not depend on the weights); the front-end is bicubic (a generator's faces
are computed once before training, so they do not change the step's cost).

Two data paths: ``14x12`` (every LR face 8× bicubic, the clean student's) and ``7-28 px, mix`` (an LR size and
a degradation family drawn per face, the combined-margin head: ``pipelines/distill_robust.toml``'s), so what
the robust student's data path costs is known.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lrfr.bench.common import engine_step, measure_in_subprocess, select_devices, time_steps

VARIANTS = {"cpu": ["fp32", "channels_last"], "cuda": ["fp32", "bf16", "bf16+channels_last"]}


#: the robust student's data path (pipelines/distill_robust.toml's sizes, families and head)
ROBUST = {"data": {"lr_long_side": [7, 28], "mix": {
    "down:bicubic_noaa": 0.15, "down:area": 0.08, "down:bilinear": 0.07, "blur:sigma=0.5~4,down:bicubic": 0.1,
    "motion:length=3~13,angle=-180~180,down:bicubic": 0.07, "down:bicubic,noise:gauss=0.005~0.04": 0.1,
    "down:bicubic,jpeg:q=30~95": 0.08, "blur:sigma=0.3~3,down:area,noise:gauss=0~0.03,jpeg:q=30~95": 0.15}},
    "loss": {"head_init": "teacher", "margin": {"type": "combined", "s": 32.0, "m2": 0.3}}}
DATA_PATHS = {"14x12": {}, "7-28 px, mix": ROBUST}


def _train_step(device: str, batch_size: int, max_batches: int, max_seconds: float, variant: str,
                data_path: str = "14x12") -> dict[str, Any]:
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
    extra = DATA_PATHS[data_path]
    cfg = from_dict(DistillPipeline, {
        "teacher": {"weights": str(work / "teacher.pt")},
        "data": {"n_identities": max(2, batch_size // 8), "images_per_identity": 8, **extra.get("data", {})},
        "val": {"source": "none"},
        "loss": {"softmax_weight": 0.1, **extra.get("loss", {})},
        "optim": {"batch_size": batch_size},
        "run": {"device": device, "out": str(work / "run")},
    })
    recipe = DistillRecipe(cfg, progress=False)
    step = engine_step(recipe, device, variant, cfg.run.out)
    out = time_steps(step, device, batch_size, max_batches, max_seconds)
    out.update({"batch_size": batch_size, "data_path": data_path,
                "networks": "MobileFaceNet student (train) + margin head; teacher cached"})
    return out


def run(out: Path, quick: bool = False, device: str = "all") -> dict[str, Any]:
    rows = []
    for dev in select_devices(device):
        batch = 8 if quick else (64 if dev == "cpu" else 256)
        for variant in (["fp32"] if quick else VARIANTS[dev]):
            for data_path in DATA_PATHS:
                r = measure_in_subprocess(_train_step, device=dev, batch_size=batch, max_batches=1 if quick else 10,
                                          max_seconds=2.0 if quick else 30.0, variant=variant, data_path=data_path)
                rows.append({"job": "distill training step", "device": dev, "variant": variant, **r})
                print(f"  distill step {dev:4s} {variant:20s} {data_path:14s} {r['images_per_s']:9.1f} images/s")
    return {"rows": rows}
