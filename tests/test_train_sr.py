"""The SR recipe (``kind = "sr"``): small real runs on CPU, the model files they write, and the
shipped SynthFaces generators."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

import lrfr
from lrfr import sr
from lrfr.config import dump_toml
from lrfr.recipes import run_pipeline
from lrfr.weights import packaged_path


def tiny_srgan(out, **loss):
    """4 SynthFaces images (2 identities), one fixed batch: what a few steps can show is that it fits."""
    return {
        "kind": "sr", "name": "tiny-srgan",
        "model": {"arch": "srresnet", "scale": 8, "kwargs": {"channels": 8, "blocks": 1}},
        "discriminator": {"arch": "srgan", "kwargs": {"channels": 4, "dense": 8}},
        "loss": {"pixel": "mse", "adversarial": "vanilla", "adversarial_weight": 1e-3, **loss},
        "data": {"n_identities": 2, "images_per_identity": 2},
        "val": {"source": "none"},
        "optim": {"batch_size": 4, "iterations": 25, "milestones": [1000], "lr": 2e-3, "d_lr": 1e-4},
        "augment": {"hflip": False},
        "run": {"out": str(out), "checkpoint_every": 25, "log_every": 5, "seed": 0},
    }


def run(tmp_path, data, name="p.toml", **kw):
    path = tmp_path / name
    path.write_text(dump_toml(data))
    return run_pipeline(path, progress=False, **kw)


@pytest.mark.slow
def test_a_short_srgan_run_lowers_its_pixel_loss_and_writes_loadable_files(tmp_path):
    out = tmp_path / "run"
    result = run(tmp_path, tiny_srgan(out, perceptual_weight=0.01, identity_weight=0.01))
    history = pd.read_csv(out / "history.csv")
    losses = history.dropna(subset=["pixel"])
    assert {"pixel", "perceptual", "identity", "adversarial_g", "discriminator"} <= set(history.columns)
    assert losses["pixel"].iloc[-1] < 0.5 * losses["pixel"].iloc[0]
    assert (out / "training.png").stat().st_size > 0
    # the model file: family sr, the pipeline's provenance, and the same outputs as the trained network
    g = sr.load(out / "generator.pt")
    assert g.name == "tiny-srgan" and g.scale == 8 and not g.training
    meta = g.weights_meta
    assert meta["steps"] == 25 and meta["pipeline"] == "tiny-srgan" and len(meta["config_sha256"]) == 64
    lr = torch.rand(2, 3, 14, 12)
    trained = result["files"][0]
    assert trained.name == "generator.pt"
    d = sr.load_discriminator(out / "discriminator.pt")
    assert d(torch.rand(2, 3, 112, 96)).shape == (2, 1)
    assert g.super_resolve(lr).shape == (2, 3, 112, 96)
    assert json.loads((out / "final.json").read_text())["pipeline"] == "tiny-srgan"


def test_srresnet_recipe_without_discriminator_trains_on_pixels_only(tmp_path):
    data = tiny_srgan(tmp_path / "r")
    data["discriminator"] = {"arch": ""}
    data["optim"]["iterations"] = 10
    run(tmp_path, data)
    history = pd.read_csv(tmp_path / "r" / "history.csv")
    assert "adversarial_g" not in history and "discriminator" not in history
    assert history["pixel"].iloc[-1] < history["pixel"].iloc[0]


def test_srgan_starts_from_an_srresnet_model_file(tmp_path):
    pre = tiny_srgan(tmp_path / "pre")
    pre["discriminator"] = {"arch": ""}
    pre["optim"]["iterations"] = 2
    run(tmp_path, pre, "pre.toml")
    init = sr.load(tmp_path / "pre" / "generator.pt")
    data = tiny_srgan(tmp_path / "gan")
    data["model"]["init"] = str(tmp_path / "pre" / "generator.pt")
    data["optim"]["iterations"] = 1
    from lrfr.config import from_dict
    from lrfr.recipes.sr.config import SRPipeline
    from lrfr.recipes.sr.recipe import SRRecipe

    recipe = SRRecipe(from_dict(SRPipeline, data), progress=False)
    for k, v in init.state_dict().items():
        assert torch.equal(recipe.G.state_dict()[k], v), k
    wrong = tiny_srgan(tmp_path / "gan2")
    wrong["model"]["init"] = str(tmp_path / "pre" / "generator.pt")
    wrong["model"]["kwargs"]["channels"] = 16
    with pytest.raises(ValueError, match=r"init = .*generator\.pt.* holds srresnet"):
        SRRecipe(from_dict(SRPipeline, wrong), progress=False)


def test_ema_copy_is_what_is_validated_and_exported(tmp_path):
    data = tiny_srgan(tmp_path / "e")
    data["optim"].update(iterations=3, ema_decay=0.5)
    from lrfr.config import from_dict
    from lrfr.recipes.sr.config import SRPipeline
    from lrfr.recipes.sr.recipe import SRRecipe

    recipe = SRRecipe(from_dict(SRPipeline, data), progress=False)
    assert recipe.eval_model() is recipe.ema.model
    before = {k: v.clone() for k, v in recipe.ema.model.state_dict().items()}
    recipe.set_mode(True)
    recipe.train_step(0)
    w = "head.0.weight"
    g_now, e_now = recipe.G.state_dict()[w], recipe.ema.model.state_dict()[w]
    assert torch.allclose(e_now, 0.5 * before[w] + 0.5 * g_now)
    assert "ema" in recipe.parts()


def test_a_learned_name_alone_is_refused_and_a_model_file_is_evaluated(tmp_path):
    from lrfr.data.synth import SynthFaces

    data = SynthFaces(n_identities=6, images_per_identity=4, seed=3, identity_offset=500_000).export(
        tmp_path / "synth", progress=False)
    with pytest.raises(ValueError, match=r"'srresnet' is a learned architecture .* untrained"):
        lrfr.evaluate("srresnet", protocol="lfw", data=data, progress=False)
    path = sr.save(sr.build("srresnet", scale=8, channels=4, blocks=1), tmp_path / "g.pt", meta={"pipeline": "mine"})
    table = lrfr.evaluate(["bicubic", str(path)], protocol="lfw", data=data, progress=False)
    assert list(table["sr"]) == ["bicubic", "mine"]
    assert table["psnr"].notna().all()


def test_the_shipped_generators_load_and_are_8x_float16_files():
    from lrfr.cli.demo import PACKAGED_SR
    from lrfr.modelfile import read_model

    # file → the pipeline that wrote it (the model's name)
    shipped = {"srresnet_synth.pt": "srresnet", "srgan_synth.pt": "srgan", "gafh_ridn_synth.pt": "gafh_ridn_synth",
               "pfsr_synth.pt": "pfsr_synth",
               "prior_attention_synth.pt": "prior_attention_synth",
               "prior_attention_gan_synth.pt": "prior_attention_gan_synth"}
    # every front-end the demo runs is checked here, except C-Face's file: it carries no run validation, and
    # tests/test_demo.py checks it against bicubic and the SRGAN
    assert {f"{n}_synth.pt" for n in PACKAGED_SR} - {"cface_synth.pt"} == set(shipped)
    for file, name in shipped.items():
        path = packaged_path(file)
        info = read_model(path, family="sr")
        assert info["dtype"] == "float16" and path.stat().st_size < 3_000_000
        g = sr.load(path)
        assert g.name == name and g.scale == 8
        assert g.super_resolve(torch.rand(1, 3, 14, 12)).shape == (1, 3, 112, 96)
        val = info["meta"]["validation"]
        # the run's own held-out validation: better than bicubic on PSNR and on verification accuracy
        assert val["psnr"] > val["psnr_bicubic"] and val["acc_sr"] > val["acc_bicubic"]


def test_the_weights_shipped_in_the_package_stay_within_25_mb():
    """The project's rule for the pip package: a few MB per file, 25 MB in all (issue 42 raised it from 20 MB for
    the robust student and the deployment presets' gallery recognizer)."""
    folder = packaged_path("srresnet_synth.pt").parent
    sizes = {p.name: p.stat().st_size for p in folder.glob("*.pt")}
    assert len(sizes) >= 7 and max(sizes.values()) < 5_000_000, sizes
    assert sum(sizes.values()) < 25_000_000, sizes


def test_the_packaged_real_face_generators_are_the_committed_table_rows():
    """packaged:srgan_celeba.pt and packaged:cface_celeba.pt are byte for byte the real-face table's seed-0 SRGAN
    and C-Face-v2 (results/weights, hashed in results/real-8x.csv), fp16, 8×, their provenance CelebA."""
    import json

    from lrfr.fingerprint import file_sha256
    from lrfr.modelfile import read_model

    facts = json.loads((Path(__file__).resolve().parents[1] / "results" / "weights" / "training.json").read_text())
    for file, row in (("srgan_celeba.pt", "srgan"), ("cface_celeba.pt", "cface_v2")):
        path = packaged_path(file)
        assert file_sha256(path) == facts[row]["sha256"], file
        info = read_model(path, family="sr")
        assert info["dtype"] == "float16" and info["meta"]["trained_on"] == "folder:runs/celeba-split/train"
        assert sr.load(path).super_resolve(torch.rand(1, 3, 14, 12)).shape == (1, 3, 112, 96)


def test_the_packaged_low_resolution_recognizer_is_the_committed_student():
    """packaged:lr_mobilefacenet_celeba.pt is the real-face table's bicubic + student row's recognizer, byte for byte,
    a MobileFaceNet (112×96 in) that loads as a recognizer and records its teacher and training data."""
    import json

    from lrfr import recognition
    from lrfr.fingerprint import file_sha256
    from lrfr.recognition.weights import read_weights

    facts = json.loads((Path(__file__).resolve().parents[1] / "results" / "weights" / "training.json").read_text())
    path = packaged_path("lr_mobilefacenet_celeba.pt")
    assert file_sha256(path) == facts["bicubic+student"]["sha256"]
    meta = read_weights(path)["meta"]
    assert meta["front_end"] == "bicubic" and meta["also_trained_on"] and meta["teacher"]["arch"] == "mobilefacenet"
    model = recognition.load(weights=path)
    assert model.arch == "mobilefacenet" and model(torch.rand(2, 3, 112, 96)).shape == (2, 128)


def test_the_packaged_robust_recognizer_is_the_committed_robust_student():
    """packaged:lr_mobilefacenet_robust.pt is results/weights/distill_robust.pt byte for byte (hashed in training.json),
    a MobileFaceNet that records its teacher, its sizes and degradation families and every source it saw."""
    import json

    from lrfr import recognition
    from lrfr.fingerprint import file_sha256
    from lrfr.recognition.weights import read_weights

    results = Path(__file__).resolve().parents[1] / "results"
    facts = json.loads((results / "weights" / "training.json").read_text())["bicubic+robust student"]
    path = packaged_path("lr_mobilefacenet_robust.pt")
    assert file_sha256(path) == facts["sha256"] == file_sha256(results / "weights" / "distill_robust.pt")
    meta = read_weights(path)["meta"]
    assert meta["lr_long_side"] == [7, 28] and len(meta["degradation_mix"]) == 8
    assert any(s.startswith("unlabelled:") and "faces-utk" in s for s in meta["also_trained_on"])
    assert meta["teacher"]["sha256"] == read_weights(packaged_path("mobilefacenet_casia.pt"))["meta"]["source_sha256"]
    assert facts["recognizer_steps"] == 5500 and facts["recognizer_images"] == 352_000
    model = recognition.load(weights=path)
    assert model.arch == "mobilefacenet" and model(torch.rand(2, 3, 112, 96)).shape == (2, 128)


@pytest.mark.realdata
def test_the_robust_student_reproduces_its_lfw_subset_accuracy(lfw_root, mobilefacenet_weights, tmp_path):
    """The committed robust student, behind bicubic, scores on the fixed 600-pair LFW subset the accuracy that
    ``lrfr results evaluate results/real-8x.toml`` recorded for it (its row's file is pinned by sha256 in
    tests/test_realdata_results.py)."""
    import pandas as pd

    import lrfr
    from lrfr.results.scoring import subset_pairs

    results = Path(__file__).resolve().parents[1] / "results"
    committed = pd.read_csv(results / "real-8x.csv")
    pinned = committed[(committed["front_end"] == "bicubic+robust student") & (committed["seed"] == 0)
                       & (committed["protocol"] == "lfw_subset600")]["accuracy_mean"].item()
    root = subset_pairs(lfw_root, tmp_path / "lfw600", per_fold=30)
    table = lrfr.evaluate("bicubic", protocol="lfw", data=root, recognizer="mobilefacenet", weights=mobilefacenet_weights,
                          probe_weights=results / "weights" / "distill_robust.pt", scale=8, progress=False)
    assert table.iloc[0]["accuracy_mean"] == pytest.approx(pinned, abs=1e-9)
