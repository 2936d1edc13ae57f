"""CUDA paths on tiny real runs: mixed precision in the engine (bf16, and fp16 with its loss scale),
resume on the GPU and from the GPU onto the CPU, and evaluation's device-side quality and embedding.

Skipped where torch sees no GPU (CI, the 2-core machines); run on a lent GPU machine with
``pytest -m cuda`` (docs/bench/device.sh does).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lrfr.recipes import run_pipeline
from lrfr.engine.checkpoint import load_checkpoint
from test_train_faults import RECIPES, faces, write_pipeline  # noqa: F401

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

RECOGNIZER_AND_SRGAN = [r for r in RECIPES if r[0] in ("recognizer", "srgan")]


def _on_cuda(data: dict, precision: str) -> dict:
    data["run"].update(device="cuda", precision=precision)
    return data


def _assert_close_states(a: dict, b: dict) -> None:
    for k, v in a.items():
        if isinstance(v, dict):
            _assert_close_states(v, b[k])
        elif torch.is_tensor(v) and v.is_floating_point():
            # CUDA kernels with atomic adds in their backward (interpolation, index_add) sum in a
            # varying order, so two runs agree to rounding rather than bit for bit
            torch.testing.assert_close(b[k].cpu(), v.cpu(), atol=1e-5, rtol=1e-4, msg=lambda m: f"{k}: {m}")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("name,make", RECOGNIZER_AND_SRGAN, ids=[r[0] for r in RECOGNIZER_AND_SRGAN])
def test_mixed_precision_trains_and_resumes_on_cuda(name, make, precision, faces, tmp_path):  # noqa: F811
    straight = write_pipeline(tmp_path / "a.toml", _on_cuda(make(faces, tmp_path / "a"), precision))
    run_pipeline(straight, progress=False)
    split = write_pipeline(tmp_path / "b.toml", _on_cuda(make(faces, tmp_path / "b"), precision))
    assert run_pipeline(split, progress=False, stop_after=3)["step"] == 3
    assert run_pipeline(split, progress=False)["step"] == 6
    a, b = (load_checkpoint(tmp_path / x / "checkpoint.pt")["parts"] for x in "ab")
    # weights stay fp32 under autocast; fp16 keeps its dynamic loss scale in the checkpoint
    weights = next(iter(v for k, v in a.items() if k in ("model", "generator")))
    assert all(t.dtype == torch.float32 for t in weights.values() if t.is_floating_point())
    assert ("grad_scaler" in a) == (precision == "fp16")
    _assert_close_states(a, b)
    history = pd.read_csv(tmp_path / "a" / "history.csv")
    losses = [c for c in history.columns if c not in ("step", "lr", "seconds", "images_per_s")]
    assert len(history) == 6 and all(math.isfinite(v) for c in losses for v in history[c] if isinstance(v, float))


def test_a_gpu_checkpoint_resumes_on_the_cpu(faces, tmp_path):  # noqa: F811
    make = dict(RECIPES)["srgan"]
    gpu = _on_cuda(make(faces, tmp_path / "run"), "bf16")
    assert run_pipeline(write_pipeline(tmp_path / "gpu.toml", gpu), progress=False, stop_after=3)["step"] == 3
    cpu = make(faces, tmp_path / "run")
    cpu["run"].update(device="cpu", precision="fp32")  # both are resume-free keys
    assert run_pipeline(write_pipeline(tmp_path / "cpu.toml", cpu), progress=False)["step"] == 6
    parts = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["parts"]
    assert all(t.device.type == "cpu" and torch.isfinite(t).all() for t in parts["generator"].values()
               if t.is_floating_point())


def test_evaluation_on_cuda_matches_the_cpu(tmp_path):
    from lrfr import recognition, sr
    from lrfr.data.synth import SynthFaces
    from lrfr.embedding import clear_cache, extract_features

    root = SynthFaces(n_identities=6, images_per_identity=4, seed=1, identity_offset=700).export(
        tmp_path / "synth", n_folds=2, pairs_per_fold=2, progress=False)
    paths = sorted(root.rglob("*.jpg"))
    assert len(paths) == 24
    torch.manual_seed(0)
    model = recognition.build("mobilefacenet").eval()
    front = sr.build("srresnet", scale=8, channels=8, blocks=2).eval()
    out = {}
    for device, precision in (("cpu", "fp32"), ("cuda", "fp32"), ("cuda", "bf16")):
        clear_cache()
        out[device, precision] = extract_features(paths, front, model, scale=8, flip="concat", device=device,
                                                  progress=False, batch_size=16, precision=precision)
    cpu, gpu, fast = out["cpu", "fp32"], out["cuda", "fp32"], out["cuda", "bf16"]
    # quality is computed where the SR faces are (the GPU): PSNR in float64, SSIM in float32
    np.testing.assert_allclose(gpu.psnr, cpu.psnr, rtol=0, atol=1e-3)
    np.testing.assert_allclose(gpu.ssim, cpu.ssim, rtol=0, atol=1e-4)

    def cosine(a, b):
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    # fp32 on CUDA (evaluate's default; no TF32): the CPU's features to float tolerance
    assert cosine(cpu.features, gpu.features).min() > 0.99999
    np.testing.assert_allclose(gpu.features, cpu.features, rtol=1e-3, atol=1e-3)
    # bf16 (fast) agrees in direction, and says how far it moved its first faces
    assert cosine(cpu.features, fast.features).min() > 0.99
    assert len(fast.check) == len(paths) and fast.check.min() > 0.99 and len(gpu.check) == 0
    assert gpu.seconds["sr"] > 0 and gpu.seconds["embed"] > 0
