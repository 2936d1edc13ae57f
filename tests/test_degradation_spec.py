"""Degradation specs (lrfr.data.degradations): parsing, what each step does, seeded reproducibility,
and the SR recipe training on a spec."""
from __future__ import annotations

import pytest
import torch

from lrfr.data.degradations import (
    DegradationSpecError,
    apply_degradation,
    canonical,
    image_seed,
    motion_kernel,
    parse_degradation,
)
from lrfr.data.resample import downsample
from lrfr.data.degradations import degrade_batch

REALISTIC = "blur:sigma=1.2,down:bicubic,noise:gauss=0.02,jpeg:q=40"


def faces(n=3, h=32, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth images with some detail: a blurred random field, so blur and JPEG have something to act on
    x = torch.rand((n, 3, h, w), generator=g)
    return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)


def seeds(n, base=0):
    return [image_seed(base, f"id/img_{i}.png") for i in range(n)]


@pytest.mark.parametrize("legacy", ["bicubic", "bilinear_steps"])
def test_legacy_names_give_exactly_downsample_bytes(legacy):
    hr = faces(4, 112, 96)
    assert torch.equal(degrade_batch(hr, 8, legacy), downsample(hr, 8, method=legacy))
    assert canonical(legacy) == f"down:{legacy}"


def test_canonical_text_round_trips_and_two_stage_chains_split_the_scale():
    two = "blur:sigma=1,down:bicubic,x=2,noise:gauss=0.01,jpeg:q=60,blur:sigma=0.8,down:bilinear,noise:poisson=200"
    for text in (REALISTIC, "motion:length=9,angle=30,down:area", two, "blur:sigma=0.5~2,down:bicubic,jpeg:q=30~90"):
        assert canonical(canonical(text)) == canonical(text) == text
    spec = parse_degradation(two)
    assert spec.factors(8) == [2, 4]
    out = apply_degradation(faces(2), 8, two, seeds(2))
    assert out.shape == (2, 3, 4, 3)
    assert canonical(" blur:sigma=1.20 , down:bicubic") == "blur:sigma=1.2,down:bicubic"


def test_each_step_does_what_it_says():
    hr = faces(2)
    # blur lowers the high-frequency energy (before the same down-scaling)
    sharp = apply_degradation(hr, 1, "down:bicubic")
    blurred = apply_degradation(hr, 1, "blur:sigma=1.5,down:bicubic")
    assert (blurred.diff(dim=-1).abs().mean() < 0.6 * sharp.diff(dim=-1).abs().mean())
    # a horizontal motion kernel is one row, sums to 1; a vertical one one column
    k = motion_kernel(7, 0)
    assert torch.isclose(k.sum(), torch.tensor(1.0)) and (k.sum(dim=1) > 0).sum() == 1
    assert (motion_kernel(7, 90).sum(dim=0) > 0).sum() == 1
    # Gaussian noise of the asked standard deviation on a mid-grey image; Poisson keeps the mean
    grey = torch.full((1, 3, 64, 64), 0.5)
    noisy = apply_degradation(grey, 1, "down:bicubic,noise:gauss=0.05", seeds(1))
    assert abs(float((noisy - 0.5).std()) - 0.05) < 0.005
    shot = apply_degradation(grey, 1, "down:bicubic,noise:poisson=100", seeds(1))
    assert abs(float(shot.mean()) - 0.5) < 0.01 and float(shot.std()) > 0.03
    # JPEG output is on the 1/255 grid and lossy
    j = apply_degradation(hr, 1, "down:bicubic,jpeg:q=10", seeds(2))
    assert torch.equal(j, (j * 255).round() / 255) and not torch.allclose(j, hr, atol=1 / 255)


def test_same_spec_and_seed_same_bytes_whatever_the_batch():
    hr = faces(4, 112, 96)
    s = seeds(4)
    a = apply_degradation(hr, 8, REALISTIC, s)
    b = apply_degradation(hr, 8, REALISTIC, s)
    assert torch.equal(a, b)
    # image 2 alone, or in another batch order, degrades to the same bytes
    c = apply_degradation(hr[[2, 0]], 8, REALISTIC, [s[2], s[0]])
    assert torch.equal(c[0], a[2]) and torch.equal(c[1], a[0])
    other = apply_degradation(hr, 8, REALISTIC, seeds(4, base=1))
    assert not torch.equal(other, a)
    # a range is drawn per image from its own seed
    r1 = apply_degradation(hr, 8, "blur:sigma=0.3~2.5,down:bicubic,jpeg:q=20~90", s)
    r2 = apply_degradation(hr[[1]], 8, "blur:sigma=0.3~2.5,down:bicubic,jpeg:q=20~90", [s[1]])
    assert torch.equal(r1[1], r2[0])
    with pytest.raises(ValueError, match="one seed per image"):
        apply_degradation(hr, 8, REALISTIC)


@pytest.mark.parametrize("spec, match", [
    ("blur:sigma=x,down:bicubic", r"sigma='x' is not a number"),
    ("blur,down:bicubic", r"step 'blur' needs sigma"),
    ("down:lanczos", r"unknown down-scaling kernel 'lanczos'.*bicubic"),
    ("zoom:2,down:bicubic", r"unknown step 'zoom'"),
    ("jpeg:q=40", r"has no down step"),
    ("down:bicubic,jpeg:q=400", r"q=400 is outside \[1, 95\]"),
    ("down:bicubic,noise:gauss=0.2~0.1", r"lo <= hi"),
    ("down:bicubic,,jpeg:q=40", r"empty step"),
    ("down:bicubic,down:bicubic", r"x= to all down steps but one"),
    ("blur:radius=2,down:bicubic", r"no parameter 'radius'.*sigma"),
])
def test_malformed_specs_are_named(spec, match):
    with pytest.raises(DegradationSpecError, match=match):
        parse_degradation(spec)


def test_down_factors_must_make_the_scale():
    with pytest.raises(DegradationSpecError, match="do not make scale 8"):
        apply_degradation(faces(1), 8, "down:bicubic,x=3")


def test_the_sr_recipe_trains_on_a_spec_reproducibly(tmp_path):
    """The SR recipe's [data] degrade takes a spec: batches are seeded by (seed, step, index)."""
    from lrfr.config import from_dict
    from lrfr.recipes.sr.config import SRPipeline
    from lrfr.recipes.sr.recipe import SRRecipe

    cfg = {
        "kind": "sr", "name": "spec",
        "model": {"arch": "srresnet", "scale": 8, "kwargs": {"channels": 4, "blocks": 1}},
        "loss": {"pixel": "mse"},
        "data": {"n_identities": 2, "images_per_identity": 2, "degrade": REALISTIC},
        "val": {"source": "none"},
        "optim": {"batch_size": 4, "iterations": 2},
        "augment": {"hflip": False},
        "run": {"out": str(tmp_path / "run"), "seed": 0},
    }
    recipe = SRRecipe(from_dict(SRPipeline, cfg), progress=False)
    lr0, hr0 = recipe.batch(0)
    again, _ = recipe.batch(0)
    assert torch.equal(lr0, again)  # same (seed, step) → same bytes
    assert not torch.equal(recipe.batch(1)[0], lr0)
    assert not torch.equal(lr0, downsample(hr0, 8))  # the spec, not plain bicubic
    assert torch.equal(lr0, (lr0 * 255).round() / 255)  # its last step is JPEG
    losses = recipe.train_step(0)  # and a step trains on it
    assert losses and all(torch.isfinite(v) for v in losses.values())


def test_sr_recipe_trains_and_validates_on_a_spec(tmp_path):
    """`[data] degrade` takes a spec: the training batches, the validator and the grid all degrade through it."""
    from lrfr.config import dump_toml
    from lrfr.recipes import run_pipeline

    out = tmp_path / "run"
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(dump_toml({
        "kind": "sr", "model": {"kwargs": {"channels": 4, "blocks": 1}},
        "data": {"n_identities": 4, "images_per_identity": 2, "degrade": "blur:sigma=1.0,down:bicubic,noise:gauss=0.01"},
        "val": {"n_identities": 4, "images_per_identity": 4, "every": 2, "pairs_per_fold": 2, "n_folds": 2},
        "optim": {"batch_size": 2, "iterations": 2}, "run": {"out": str(out)},
    }))
    result = run_pipeline(pipeline, progress=False)
    assert result["step"] == 2 and (out / "grid.png").is_file() and (out / "generator.pt").is_file()
    assert 0 < result["final"]["psnr_bicubic"] < 40


# -- sizes per face and degradation families (issue 42) ------------------------------------------------------

def test_a_spec_goes_to_a_size_with_its_one_down_step():
    from lrfr.data.degradations import DegradationSpecError, apply_degradation

    hr = faces(2, 112, 96)
    lr = apply_degradation(hr, None, "blur:sigma=1,down:bicubic_noaa,noise:gauss=0.01", seeds=[1, 2], size=(17, 15))
    assert lr.shape == (2, 3, 17, 15)
    again = apply_degradation(hr[1:], None, "blur:sigma=1,down:bicubic_noaa,noise:gauss=0.01", seeds=[2], size=(17, 15))
    assert torch.equal(lr[1:], again)
    assert torch.equal(apply_degradation(hr, None, "down:bicubic", size=(14, 12)), downsample(hr, 8))
    with pytest.raises(DegradationSpecError, match="one down step without x="):
        apply_degradation(hr, None, "down:bicubic,x=2,down:area", size=(14, 12))


def test_a_mix_states_every_share_and_draws_families_in_proportion():
    from lrfr.data.degradations import DegradationSpecError, parse_mix

    mix = parse_mix({"down:bicubic_noaa": 0.25, "down:area,jpeg:q=30~95": 0.25}, "bicubic")
    assert [str(s) for s in mix.specs] == ["down:bicubic_noaa", "down:area,jpeg:q=30~95", "down:bicubic"]
    assert mix.shares == (0.25, 0.25, 0.5) and mix.random
    drawn = mix.draw(20_000, torch.Generator().manual_seed(0))
    share = torch.bincount(drawn, minlength=3).double() / len(drawn)
    assert torch.allclose(share, torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64), atol=0.015)
    whole = parse_mix({"down:area": 1.0}, "bicubic")
    assert [str(s) for s in whole.specs] == ["down:area"]  # nothing left for the rest
    assert not parse_mix({}, "bicubic").random and torch.equal(parse_mix({}, "bicubic").draw(4, None), torch.zeros(4, dtype=torch.long))
    for bad, match in [({"down:area": 0.6, "down:nearest": 0.6}, "sum to 1.2, past 1"),
                       ({"down:area": -0.1}, r"must be a number in \[0, 1\]"),
                       ({"down:bicubic": 0.3}, "named twice")]:
        with pytest.raises(DegradationSpecError, match=match):
            parse_mix(bad, "bicubic")


def test_lr_sizes_are_log_uniform_in_the_face_proportions():
    from lrfr.data.degradations import draw_lr_sizes, lr_size

    assert lr_size(14, (112, 96)) == (14, 12) and lr_size(7, (112, 96)) == (7, 6) and lr_size(28, (112, 96)) == (28, 24)
    sizes = draw_lr_sizes(20_000, (7, 28), (112, 96), torch.Generator().manual_seed(0))
    longs = torch.tensor([h for h, _ in sizes], dtype=torch.float64)
    assert int(longs.min()) == 7 and int(longs.max()) == 28
    low, high = float((longs <= 13).double().mean()), float((longs >= 15).double().mean())
    assert abs(low - high) < 0.05  # one octave each side of 14 px, about as often
