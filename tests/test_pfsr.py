"""PFSR (papers/002): the progressive generator and critic at every step, the fade-in and its
schedule, the minibatch standard deviation, the WGAN drift term, step state in buffers, and a
short progressive run on tiny SynthFaces. (Exact resume across a step boundary: test_train_faults.)"""
from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from lrfr import sr
from lrfr.config import ConfigError, dump_toml
from lrfr.losses.adversarial import GANLoss
from lrfr.recipes import run_pipeline
from lrfr.sr.pfsr import MinibatchStd
from lrfr.recipes.pfsr.recipe import fade_in_schedule

TINY = [4, 4, 4, 4]


def tiny_generator(scale=8, **kw):
    torch.manual_seed(0)
    return sr.build("pfsr", scale=scale, channels=TINY[: {2: 2, 4: 3, 8: 4}[scale]], **kw)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_every_step_doubles_any_lr_size(scale):
    g = tiny_generator(scale)
    steps = {2: 1, 4: 2, 8: 3}[scale]
    d = sr.build_discriminator("pfsr", steps=steps, channels=TINY[: steps + 1], dense=8)
    for lr_size in ((14, 12), (8, 8), (5, 7)):
        x = torch.rand(2, 3, *lr_size)
        for step in range(1, steps + 1):
            for alpha in (0.5, 1.0):
                g.set_progress(step, alpha)
                d.set_progress(step, alpha)
                y = g(x)
                assert y.shape == (2, 3, lr_size[0] * 2**step, lr_size[1] * 2**step)
                assert d(y).shape == (2, 1)
    assert g.progress == (steps, 1.0) and g.current_scale == scale == g.scale


def test_the_paper_size_generator_fulfils_the_sr_contract_at_14x12():
    g = sr.build("pfsr")  # 512 → 64 wide, built at its last step
    assert g.progress == (3, 1.0) and g.scale == 8
    out = g.super_resolve(torch.rand(1, 3, 14, 12))
    assert out.shape == (1, 3, 112, 96) and 0 <= float(out.min()) and float(out.max()) <= 1
    d = sr.build_discriminator("pfsr")
    assert d(torch.rand(2, 3, 112, 96)).shape == (2, 1)


def test_fade_in_mixes_the_nearest_upsampled_previous_step_with_the_new_one():
    g = tiny_generator().eval()
    x = torch.rand(2, 3, 7, 6)
    g.set_progress(1, 1.0)
    previous = F.interpolate(g(x), scale_factor=2, mode="nearest")
    g.set_progress(2, 1.0)
    new = g(x)
    g.set_progress(2, 0.0)
    torch.testing.assert_close(g(x), previous)
    g.set_progress(2, 0.25)
    torch.testing.assert_close(g(x), 0.75 * previous + 0.25 * new)


def test_bicubic_skip_starts_at_bicubic_at_every_step_and_fades_the_residuals():
    g = tiny_generator(bicubic_skip=True).eval()
    x = torch.rand(2, 3, 7, 6)
    for step in (1, 2, 3):
        g.set_progress(step, 0.5)
        bicubic = F.interpolate(x, scale_factor=2**step, mode="bicubic", align_corners=False)
        torch.testing.assert_close(g(x), bicubic)  # zero heads: exactly bicubic before any training
    torch.manual_seed(1)
    for head in g.to_rgb:  # non-zero heads: the fade blends residuals over the new step's bicubic
        torch.nn.init.normal_(head.weight)
    g.set_progress(2, 1.0)
    base = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    new = g(x) - base
    g.set_progress(1, 1.0)
    previous = F.interpolate(g(x) - F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False),
                             scale_factor=2, mode="nearest")
    g.set_progress(2, 0.25)
    torch.testing.assert_close(g(x), base + 0.75 * previous + 0.25 * new)
    assert g.build_kwargs["bicubic_skip"] is True and tiny_generator().build_kwargs["bicubic_skip"] is False


def test_fade_in_schedule_rises_linearly_over_the_first_half_of_each_step():
    lengths = [4, 4, 8]
    got = [fade_in_schedule(i, lengths, 0.5) for i in range(17)]
    assert got[:4] == [(1, 1.0)] * 4  # nothing to fade from in step 1
    assert got[4:8] == [(2, 0.0), (2, 0.5), (2, 1.0), (2, 1.0)]
    assert got[8:13] == [(3, 0.0), (3, 0.25), (3, 0.5), (3, 0.75), (3, 1.0)]
    assert got[13:] == [(3, 1.0)] * 4  # the last step runs on
    # the released code's pace: α = 2·j / 50,000 in a 50k step
    assert fade_in_schedule(50_000 + 12_500, [50_000, 50_000, 100_000]) == (2, 0.5)


def test_minibatch_std_by_hand():
    x = torch.tensor([[[[1.0, 3.0]]], [[[3.0, 7.0]]]])  # (2, 1, 1, 2)
    out = MinibatchStd()(x)
    # per position over the batch (biased): std(1, 3) = 1, std(3, 7) = 2; their mean 1.5
    assert out.shape == (2, 2, 1, 2)
    torch.testing.assert_close(out[:, :1], x)
    torch.testing.assert_close(out[:, 1], torch.full((2, 1, 2), 1.5))
    source = torch.tensor([[[[0.0]]], [[[4.0]]]])  # the statistic of another tensor (PFSR: the input images)
    torch.testing.assert_close(MinibatchStd()(x, source)[:, 1], torch.full((2, 1, 2), 2.0))
    assert float(MinibatchStd()(x[:1])[0, 1, 0, 0]) == pytest.approx(1e-4)  # a batch of one: √ε, not NaN


def test_wgan_drift_term_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5])
    plain = GANLoss("wgan").discriminator(real, fake)
    assert float(plain) == pytest.approx(0.0 - 2.0)
    drift = GANLoss("wgan", drift=1e-3).discriminator(real, fake)
    assert float(drift) == pytest.approx(-2.0 + 1e-3 * (1 + 9) / 2)


def test_step_and_alpha_live_in_buffers_and_model_files(tmp_path):
    g = tiny_generator()
    g.set_progress(2, 0.5)
    assert {"progress_step", "progress_alpha"} <= set(g.state_dict())
    path = sr.save(g, tmp_path / "g.pt", dtype="float16")
    back = sr.load(path)
    assert back.progress == (2, 0.5) and back.current_scale == 4
    with pytest.raises(ValueError, match=r"step must be an int in 1\.\.3"):
        g.set_progress(4, 1.0)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        g.set_progress(2, 1.5)


def tiny_pfsr(out, **over):
    """8×8 LR → 64×64 SynthFaces, 4 channels: what a few steps per stage can show."""
    data = {
        "kind": "pfsr", "name": "tiny-pfsr",
        "model": {"arch": "pfsr", "scale": 8, "kwargs": {"channels": [8, 8, 8, 8]}},
        "discriminator": {"arch": "pfsr", "kwargs": {"steps": 3, "channels": TINY, "dense": 8}},
        "loss": {"perceptual_weights": [0.0, 0.0, 0.0], "adversarial_weights": [0.01, 0.01, 0.001]},
        # α reaches 1 after 2 iterations of step 2 and 4 of step 3: the rest of each step shows learning
        "progressive": {"step_iterations": [10, 10, 16], "fade_fraction": 0.2},
        "data": {"n_identities": 2, "images_per_identity": 2, "hr_size": [64, 64]},
        "val": {"source": "none"},
        "optim": {"batch_size": 4, "iterations": 36, "lr": 1e-2, "d_lr": 1e-3},
        "augment": {"hflip": False},
        "run": {"out": str(out), "checkpoint_every": 36, "log_every": 2, "seed": 0},
    }
    for key, value in over.items():
        data[key] = {**data[key], **value}
    return data


def run(tmp_path, data):
    path = tmp_path / "p.toml"
    path.write_text(dump_toml(data))
    return run_pipeline(path, progress=False)


@pytest.mark.slow
def test_a_short_progressive_run_lowers_its_losses_and_exports_the_final_step(tmp_path):
    out = tmp_path / "run"
    run(tmp_path, tiny_pfsr(out))
    history = pd.read_csv(out / "history.csv").dropna(subset=["pixel"])
    by_step = {s: rows for s, rows in history.groupby("pfsr_step")}
    assert sorted(by_step) == [1, 2, 3]
    assert by_step[1]["attention"].isna().all() and by_step[1]["heatmap"].isna().all()  # eq. 6, step 1
    assert by_step[3][["attention", "heatmap", "gradient_penalty"]].notna().all().all()
    # α as logged after iterations 11, 13 (step 2: 2-iteration fade) and 21, 23, 25 (step 3: 3.2 iterations)
    assert by_step[2]["alpha"].tolist()[:2] == [0.5, 1.0]
    assert by_step[3]["alpha"].tolist()[:3] == [0.3125, 0.9375, 1.0]
    for s, rows in by_step.items():  # a new step's branch starts untrained; once faded in, its loss falls
        faded_in = rows[rows["alpha"] == 1.0]
        assert faded_in["pixel"].iloc[-1] < 0.95 * faded_in["pixel"].iloc[0], f"step {s}: {rows['pixel'].tolist()}"
    assert by_step[2]["attention"].iloc[-1] < by_step[2]["attention"].max()
    g = sr.load(out / "generator.pt")
    assert g.progress == (3, 1.0)
    assert g.super_resolve(torch.rand(1, 3, 8, 8)).shape == (1, 3, 64, 64)
    assert sr.load_discriminator(out / "discriminator.pt").progress == (3, 1.0)


def test_inconsistent_progressive_settings_are_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match=r"step_iterations \[10, 10, 16\] sum to 36, but optim.iterations = 40"):
        run(tmp_path, tiny_pfsr(tmp_path / "a", optim={"iterations": 40}))
    with pytest.raises(ConfigError, match=r"loss.heatmap_weights must hold 3 non-negative weights"):
        run(tmp_path, tiny_pfsr(tmp_path / "b", loss={"heatmap_weights": [0.0, 1.0]}))
