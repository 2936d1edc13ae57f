"""The engine's speed switches: bf16 autocast, channels_last, refused precisions — on tiny real runs."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from lrfr.recipes import run_pipeline
from lrfr.engine.checkpoint import load_checkpoint
from lrfr.engine.precision import Precision, PrecisionError
from test_train_faults import faces, recognizer_pipeline, srgan_pipeline, write_pipeline  # noqa: F401


def test_bf16_trains_the_sr_recipe_with_fp32_weights(faces, tmp_path):  # noqa: F811
    data = srgan_pipeline(faces, tmp_path / "bf16")
    data["optim"]["iterations"] = 3
    data["run"]["precision"] = "bf16"
    run_pipeline(write_pipeline(tmp_path / "p.toml", data), progress=False)
    parts = load_checkpoint(tmp_path / "bf16" / "checkpoint.pt")["parts"]
    assert all(v.dtype == torch.float32 for v in parts["generator"].values() if v.is_floating_point())
    history = pd.read_csv(tmp_path / "bf16" / "history.csv")
    assert len(history) == 3 and all(math.isfinite(v) for v in history["total_g"])


def test_channels_last_changes_memory_format_not_the_result(faces, tmp_path):  # noqa: F811
    outs = {}
    for fmt in (False, True):
        data = recognizer_pipeline(faces, tmp_path / f"cl{int(fmt)}")
        data["optim"]["iterations"] = 3
        data["run"]["channels_last"] = fmt
        run_pipeline(write_pipeline(tmp_path / f"cl{int(fmt)}.toml", data), progress=False)
        outs[fmt] = load_checkpoint(tmp_path / f"cl{int(fmt)}" / "checkpoint.pt")["parts"]["model"]
    for k, v in outs[False].items():
        if v.is_floating_point():
            torch.testing.assert_close(outs[True][k], v, atol=1e-4, rtol=1e-3)


def test_fp16_needs_cuda_and_unknown_precisions_are_named():
    with pytest.raises(PrecisionError, match="'fp16' needs a CUDA device"):
        Precision("fp16", "cpu")
    with pytest.raises(PrecisionError, match="one of fp32, bf16, fp16; got 'fp8'"):
        Precision("fp8", "cpu")
