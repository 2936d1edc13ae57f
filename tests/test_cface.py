"""C-Face (papers/004): the loss against hand-computed values, eq. 7's weights, the triplet sampler, the
four stages of Algorithm 1 on a tiny SynthFaces run (files, resume, re-entry) and the ablation switches.

The multi-stage run is not the single-stage shape of tests/test_train_faults.py's RECIPES, so its
bit-identical resume test lives here.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lrfr import recognition
from lrfr.config import ConfigError, dump_toml, from_dict
from lrfr.losses import build_loss
from lrfr.losses.cface import CFaceLoss, cface_terms
from lrfr.recognition.weights import save_recognizer
from lrfr.recipes.cface.algorithm import CFaceTrainer, train_cface
from lrfr.recipes.cface.config import CFacePipeline, stage_schedule
from lrfr.engine.checkpoint import load_checkpoint
from lrfr.engine.loop import RecipeMismatchError
from state_compare import assert_same_state


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks gain nothing from threads, and lose a lot when the CPU is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cnn_r_file(tmp_path_factory):
    """A tiny CNN^R (sphere20a, width 0.125, 32-d), saved as an lrfr recognizer file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cnnr") / "sphere_tiny.pt"
    return save_recognizer(recognition.build("sphere20a", width=0.125, embedding_dim=32), path)


def tiny(out, cnn_r, **over):
    """4 SynthFaces identities × 4 images, a handful of steps per stage (3 + 3 + 4 = 10 in all)."""
    data = {
        "kind": "cface", "name": "tiny-cface", "ablation": "v2",
        "model": {"arch": "srresnet", "scale": 8, "kwargs": {"channels": 4, "blocks": 1}},
        "discriminator": {"arch": "srgan", "kwargs": {"channels": 4, "dense": 8}},
        "recognizer": {"weights": str(cnn_r)},
        "data": {"source": "synth", "n_identities": 4, "images_per_identity": 4},
        "compare": {"k": 2},
        "stage1": {"batch_size": 4, "iterations": 3, "lr": 1e-3, "d_lr": 1e-3},
        "stage2": {"batch_size": 8},
        "stage3": {"batch_size": 4, "iterations": 3, "lr": 0.01},
        "stage4": {"batch_size": 4, "iterations": 4, "lr": 1e-4, "d_lr": 1e-4},
        "val": {"source": "none"},
        "eval": {"protocols": []},
        "run": {"out": str(out), "checkpoint_every": 2, "log_every": 1, "seed": 3},
    }
    for key, value in over.items():
        section, _, name = key.partition("__")
        if name:
            data.setdefault(section, {})[name] = value
        else:
            data[section] = value
    return from_dict(CFacePipeline, data)


def same_weights(m1, m2) -> bool:
    s1, s2 = m1.state_dict(), m2.state_dict()
    return s1.keys() == s2.keys() and all(torch.equal(s1[k].cpu(), s2[k].cpu()) for k in s1)


# ---------------------------------------------------------------------------------------------
# the loss (eqs. 5, 6)

R2 = math.sqrt(2.0)
D45 = 2.0 - R2  # normalized Euclidean distance² of two unit vectors 45° apart: 2 − 2·cos 45°


def test_cface_loss_hand_computed_with_the_hinge_active_and_inactive():
    # triplet 0: SR ⟂ HR, the compare face = HR (scaled): d(SR,HR) = 2, d(SR,C) = 2, d(HR,C) = 0 → hinge active (2)
    # triplet 1: SR at 45° between HR and C, HR ⟂ C: d(SR,HR) = d(SR,C) = 2 − √2, d(HR,C) = 2
    #            → hinge inactive (0)
    sr = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    hr = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    c = torch.tensor([[3.0, 0.0], [5.0, 0.0]])
    g1, g2 = 0.05, 0.1
    t = cface_terms(sr, hr, c, gamma1=g1, gamma2=g2)
    eq6 = g1 * (2.0 + D45) / 2 + g2 * (2.0 + 0.0) / 2
    assert float(t["cface"]) == pytest.approx(eq6, rel=1e-6)
    assert float(t["hinge_active"]) == 0.5
    assert float(t["si_sr_hr"]) == pytest.approx((2.0 + D45) / 2)
    assert float(t["si_hr_compare"]) == pytest.approx(1.0)
    # one triplet at a time: active, then inactive
    active = cface_terms(sr[:1], hr[:1], c[:1], gamma1=g1, gamma2=g2)["cface"]
    inactive = cface_terms(sr[1:], hr[1:], c[1:], gamma1=g1, gamma2=g2)["cface"]
    assert float(active) == pytest.approx(g1 * 2 + g2 * (2 - 0))
    assert float(inactive) == pytest.approx(g1 * D45)  # the second term is clipped at 0
    # eq. (5): no lower bound, the second term is L_SI(SR, C) itself
    eq5 = cface_terms(sr, hr, c, gamma1=g1, gamma2=g2, hinge=False)["cface"]
    assert float(eq5) == pytest.approx(g1 * (2.0 + D45) / 2 + g2 * (2.0 + D45) / 2, rel=1e-6)


def test_cface_loss_module_is_registered_and_trains_the_sr_image_only():
    torch.manual_seed(0)
    net = recognition.build("sphere20a", width=0.125, embedding_dim=16, input_size=(32, 32))
    loss = build_loss("cface", recognizer=net, gamma1=0.05, gamma2=0.1)
    assert isinstance(loss, CFaceLoss) and loss.hinge and not any(p.requires_grad for p in net.parameters())
    hr, comp = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    sr = torch.rand(3, 3, 32, 32, requires_grad=True)
    value = loss(sr, hr, comp)
    f = net.forward_trusted
    expected = cface_terms(f(sr), f(hr), f(comp), gamma1=0.05, gamma2=0.1)["cface"]
    assert torch.allclose(value, expected)
    # precomputed HR-side features give the same value (stage 1's cache)
    cached = loss(sr, hr_features=loss.target_features(hr), compare_features=loss.target_features(comp))
    assert torch.allclose(value, cached)
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(ValueError, match="exactly one of hr"):
        loss(sr, hr, comp, hr_features=loss.target_features(hr))
    with pytest.raises(TypeError, match="unknown argument"):
        build_loss("cface", recognizer=net, gama1=0.1)


# ---------------------------------------------------------------------------------------------
# triplets


def test_sampler_draws_only_from_the_top_k_of_the_same_identity():
    from lrfr.index.miner import CompareFaceMiner
    from lrfr.recipes.cface.triplets import TripletSampler

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 6)
    features = rng.normal(size=(len(labels), 8)).astype(np.float32)
    miner = CompareFaceMiner(features, labels, k=3)
    sampler = TripletSampler(miner, batch_size=6, seed=7, hflip=True)
    seen = {i: set() for i in range(len(labels))}
    for step in range(60):
        t = sampler.draw(step)
        again = sampler.draw(step)  # a pure function of (seed, step)
        assert torch.equal(t.index, again.index) and torch.equal(t.compare, again.compare)
        assert torch.equal(t.flip, again.flip)
        for i, c in zip(t.index.tolist(), t.compare.tolist()):
            assert c in set(miner.candidates(i).tolist())  # one of the k nearest ...
            assert labels[c] == labels[i] and c != i  # ... of the same identity, never the image itself
            seen[i].add(c)
    assert all(len(s) == 3 for s in seen.values())  # uniform over the k: every one gets drawn
    # the top k really are the k nearest within the identity (normalized Euclidean distance)
    x = features / np.linalg.norm(features, axis=1, keepdims=True)
    for i in (0, 13, 29):
        same = [j for j in np.flatnonzero(labels == labels[i]) if j != i]
        nearest = sorted(same, key=lambda j: np.sum((x[i] - x[j]) ** 2))[:3]
        assert set(miner.candidates(i).tolist()) == set(nearest)
    # Table 6's "random": any other image of the identity
    rand = TripletSampler(CompareFaceMiner(features, labels, mode="random"), batch_size=6, seed=7)
    t = rand.draw(0)
    assert all(labels[c] == labels[i] and c != i for i, c in zip(t.index.tolist(), t.compare.tolist()))


def test_feature_cache_holds_cnn_r_features_of_both_flips():
    from lrfr.engine.frozen import FrozenFeatures

    torch.manual_seed(0)
    net = recognition.build("sphere20a", width=0.125, embedding_dim=16, input_size=(32, 32)).eval()
    images = torch.rand(5, 3, 32, 32)
    faces = torch.utils.data.TensorDataset(images, torch.zeros(5, dtype=torch.long))
    cache = FrozenFeatures.compute(net, faces, hflip=True, batch_size=2, progress=False)
    flip = torch.tensor([True, False, True])
    idx = torch.tensor([4, 0, 1])
    with torch.no_grad():
        want = net(torch.where(flip[:, None, None, None], images[idx].flip(-1), images[idx]))
    assert torch.allclose(cache.lookup(idx, flip), want, atol=1e-5)
    plain = FrozenFeatures.compute(net, faces, hflip=False, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="mirrored"):
        plain.lookup(idx, flip)



def test_feature_cache_on_disk_is_read_back_and_keyed_by_pixels_recognizer_and_flips(tmp_path, monkeypatch, caplog):
    from lrfr.data.decoded import DecodedFaces
    from lrfr.engine.frozen import FrozenFeatures

    torch.manual_seed(0)
    net = recognition.build("sphere20a", width=0.125, embedding_dim=16, input_size=(32, 32)).eval()
    faces = DecodedFaces(torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8), torch.zeros(5, dtype=torch.long))
    first = FrozenFeatures.compute(net, faces, hflip=True, batch_size=2, progress=False, cache_dir=tmp_path)
    files = list(tmp_path.glob("frozen-features-*.pt"))
    assert len(files) == 1

    calls = []
    real_forward = type(net).forward_trusted
    monkeypatch.setattr(type(net), "forward_trusted", lambda self, x: calls.append(len(x)) or real_forward(self, x))
    again = FrozenFeatures.compute(net, faces, hflip=True, batch_size=2, progress=False, cache_dir=tmp_path)
    assert calls == [] and torch.equal(again.plain, first.plain) and torch.equal(again.mirrored, first.mirrored)
    # a damaged file is ignored with a warning, embedded again and rewritten
    files[0].write_bytes(b"not a torch file")
    with caplog.at_level("WARNING", logger="lrfr.engine.frozen"):
        rebuilt = FrozenFeatures.compute(net, faces, hflip=True, batch_size=2, progress=False, cache_dir=tmp_path)
    assert "computing the features again" in caplog.text and len(calls) == 3 * 2  # 3 batches, plain + mirrored
    assert torch.equal(rebuilt.plain, first.plain)
    FrozenFeatures.compute(net, faces, hflip=True, batch_size=2, progress=False, cache_dir=tmp_path)
    assert len(calls) == 6  # read back
    # another flip setting, other pixels, another recognizer: each embeds afresh, into its own file
    FrozenFeatures.compute(net, faces, hflip=False, batch_size=2, progress=False, cache_dir=tmp_path)
    assert len(calls) == 6 + 3
    other = DecodedFaces(faces.images.clone(), faces.labels)
    other.images[3, 0, 0, 0] ^= 1
    FrozenFeatures.compute(net, other, hflip=True, batch_size=2, progress=False, cache_dir=tmp_path)
    assert len(calls) == 9 + 6
    with torch.no_grad():
        next(net.parameters()).mul_(1.01)
    FrozenFeatures.compute(net, faces, hflip=True, batch_size=2, progress=False, cache_dir=tmp_path)
    assert len(calls) == 15 + 6 and len(list(tmp_path.glob("frozen-features-*.pt"))) == 4


# ---------------------------------------------------------------------------------------------
# config


def test_config_values_are_checked_and_epochs_become_steps(tmp_path, cnn_r_file):
    for bad, match in (({"ablation": "v3"}, "ablation"), ({"compare__k": 0}, "compare.k"),
                       ({"compare__k": "best"}, "compare.k"), ({"from_stage": 5}, "from_stage"),
                       ({"stage4__fr_images": "lr"}, "fr_images")):
        with pytest.raises(ConfigError, match=match):
            CFaceTrainer(tiny(tmp_path, cnn_r_file, **bad), progress=False)
    paper = CFacePipeline()  # the paper's defaults
    assert (paper.loss.alpha, paper.loss.beta, paper.compare.k) == (0.1, 1.0, 3)
    gammas = (paper.stage1.gamma1, paper.stage1.gamma2, paper.stage4.gamma1, paper.stage4.gamma2)
    assert gammas == (0.05, 0.1, 0.05, 0.05)
    assert (paper.stage1.lr, paper.stage3.lr, paper.stage4.lr) == (2e-4, 0.1, 1e-5)
    # 10 epochs of 640 images at batch 64, ×0.99 after each epoch
    assert stage_schedule(paper.stage1, 640) == (100, list(range(10, 100, 10)))
    assert stage_schedule(tiny(tmp_path, cnn_r_file).stage1, 16) == (3, [])  # iterations replace epochs


# ---------------------------------------------------------------------------------------------
# eq. (7)


def test_eq7_weights_are_applied_as_configured(tmp_path, cnn_r_file):
    def terms(**over):
        trainer = CFaceTrainer(tiny(tmp_path / "w", cnn_r_file, **over), progress=False)
        recipe = trainer.stage1_recipe()
        lr, hr, f_hr, f_c, _ = recipe.triplet_batch(0)
        recipe._targets = (f_hr, f_c)
        with torch.no_grad():
            sr = recipe.G(lr)
            out = recipe.generator_losses(sr, hr)
            f_sr = recipe.cface.recognizer.forward_trusted(sr.clamp(0, 1))
            raw = cface_terms(f_sr, f_hr, f_c, gamma1=1.0, gamma2=0.0)
        return recipe, out, raw

    base, t1, raw = terms()
    assert set(t1) == {"adversarial_g", "perceptual", "cface"}  # eq. (7): α·L_GAN + β·L_P + L_CF
    assert (base.gan.weight, base.perceptual.weight) == (0.1, 1.0)
    assert (base.cface.gamma1, base.cface.gamma2, base.cface.hinge) == (0.05, 0.1, True)
    scaled, t2, _ = terms(loss={"alpha": 0.4, "beta": 0.25}, stage1={"batch_size": 4, "iterations": 3,
                                                                         "gamma1": 0.5, "gamma2": 0.0})
    assert float(t2["adversarial_g"]) == pytest.approx(4 * float(t1["adversarial_g"]), rel=1e-5)
    assert float(t2["perceptual"]) == pytest.approx(0.25 * float(t1["perceptual"]), rel=1e-5)
    assert float(t2["cface"]) == pytest.approx(0.5 * float(raw["si_sr_hr"]), rel=1e-5)  # γ1·L_SI(SR, HR) alone
    # the total G descends is the sum of the three terms
    loss = base.train_step(0)
    assert float(loss["total_g"]) == pytest.approx(
        float(loss["adversarial_g"]) + float(loss["perceptual"]) + float(loss["cface"]), rel=1e-5)
    assert {"hinge_active", "si_sr_hr", "si_sr_compare", "si_hr_compare", "discriminator"} <= set(loss)


# ---------------------------------------------------------------------------------------------
# the four stages


@pytest.mark.slow
def test_a_tiny_four_stage_run_completes_and_every_file_reloads(tmp_path, cnn_r_file):
    from lrfr import sr
    from lrfr.index.miner import CompareFaceMiner

    cfg = tiny(tmp_path / "run", cnn_r_file)
    result = train_cface(cfg, progress=False)
    assert result["complete"] and result["step"] == 3 + 3 + 4
    out = tmp_path / "run"
    for stage, steps in ((1, 3), (3, 3), (4, 4)):
        ckpt = load_checkpoint(out / f"stage{stage}" / "checkpoint.pt")
        assert (ckpt["step"], ckpt["stage"]) == (steps, f"cface-stage{stage}")
        assert json.loads((out / f"stage{stage}" / "done.json").read_text())["steps"] == steps
    for stage in (1, 4):
        g = sr.load(out / f"stage{stage}" / "generator.pt")
        assert g.scale == 8 and g(torch.rand(1, 3, 14, 12)).shape == (1, 3, 112, 96)
        sr.load_discriminator(out / f"stage{stage}" / "discriminator.pt")
    assert sr.load(out / "stage4" / "generator.pt").name == "cface-v2"
    for stage in (3, 4):
        net = recognition.load(weights=out / f"stage{stage}" / "recognizer.pt")
        assert net.embedding_dim == 32
    assert json.loads((out / "stage2" / "summary.json").read_text())["images"] == 16
    miner = CompareFaceMiner.load(out / "compare_faces.npz")
    assert miner.k == 2 and len(miner) == 16
    # CNN^R was trained by stages 3 and 4, and only there
    original = recognition.load(weights=cnn_r_file)
    s3 = recognition.load(weights=out / "stage3" / "recognizer.pt")
    s4 = recognition.load(weights=out / "stage4" / "recognizer.pt")
    assert not same_weights(original, s3) and not same_weights(s3, s4)
    # histories log the C-Face terms and the hinge's active fraction; stage 4 its L_FR
    h4 = result["histories"][4]
    assert {"cface", "hinge_active", "fr", "adversarial_g", "perceptual"} <= set(h4.columns)
    # a finished run is not trained again
    before = (out / "stage4" / "checkpoint.pt").stat().st_mtime_ns
    again = train_cface(cfg, progress=False)
    assert again["complete"] and again["step"] == 10
    assert (out / "stage4" / "checkpoint.pt").stat().st_mtime_ns == before


@pytest.mark.slow
def test_a_run_stopped_mid_stage_4_resumes_bit_identical(tmp_path, cnn_r_file):
    straight = train_cface(tiny(tmp_path / "a", cnn_r_file), progress=False)
    assert straight["complete"]
    split = train_cface(tiny(tmp_path / "b", cnn_r_file), progress=False, stop_after=3 + 3 + 2)
    assert not split["complete"] and split["step"] == 8
    assert load_checkpoint(tmp_path / "b" / "stage4" / "checkpoint.pt")["step"] == 2
    assert not (tmp_path / "b" / "stage4" / "generator.pt").exists()
    resumed = train_cface(tiny(tmp_path / "b", cnn_r_file), progress=False)  # a new process would do the same
    assert resumed["complete"] and resumed["step"] == 10
    for stage in (1, 3, 4):
        a = load_checkpoint(tmp_path / "a" / f"stage{stage}" / "checkpoint.pt")["parts"]
        b = load_checkpoint(tmp_path / "b" / f"stage{stage}" / "checkpoint.pt")["parts"]
        assert_same_state(a, b, f"stage{stage}")


@pytest.mark.slow
def test_changed_config_of_a_finished_stage_is_refused_and_from_stage_re_enters(tmp_path, cnn_r_file):
    out = tmp_path / "run"
    train_cface(tiny(out, cnn_r_file), progress=False)
    stamp = {s: (out / f"stage{s}" / "checkpoint.pt").stat().st_mtime_ns for s in (1, 3, 4)}
    with pytest.raises(RecipeMismatchError, match=r"stage 1 is complete.*stage1\.lr.*from_stage = 1"):
        train_cface(tiny(out, cnn_r_file, stage1={"batch_size": 4, "iterations": 3, "lr": 5e-4}), progress=False)
    # re-entering at stage 4 with a new stage-4 learning rate retrains stage 4 only
    cfg = tiny(out, cnn_r_file, stage4={"batch_size": 4, "iterations": 4, "lr": 3e-4}, from_stage=4)
    result = train_cface(cfg, progress=False)
    assert result["complete"]
    assert all((out / f"stage{s}" / "checkpoint.pt").stat().st_mtime_ns == stamp[s] for s in (1, 3))
    assert (out / "stage4" / "checkpoint.pt").stat().st_mtime_ns != stamp[4]
    assert load_checkpoint(out / "stage4" / "checkpoint.pt")["parts"]["optimizer_g"]["param_groups"][0]["lr"] == 3e-4
    with pytest.raises(RuntimeError, match="not complete"):  # re-entry needs the earlier stages done
        train_cface(tiny(tmp_path / "fresh", cnn_r_file, from_stage=3), progress=False)


# ---------------------------------------------------------------------------------------------
# ablations (Table 7) and k (Table 6)


@pytest.fixture(scope="module")
def v1_run(tmp_path_factory, cnn_r_file):
    """A finished v1 run: stage 1 only (which every ablation shares: stage 1 does not depend on it)."""
    before = torch.get_num_threads()  # module-scoped: set up before (and outside) the autouse one-thread fixture
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("ablations") / "run"
        result = train_cface(tiny(out, cnn_r_file, ablation="v1"), progress=False)
    finally:
        torch.set_num_threads(before)
    assert result["complete"] and list(result["generators"]) == ["cface-v1"]
    return out


@pytest.fixture
def stage1_done(v1_run, tmp_path):
    """A copy of the v1 run folder to build the later stages of an ablation in."""
    import shutil

    return Path(shutil.copytree(v1_run, tmp_path / "run"))


def test_v1_runs_stage_1_only(v1_run):
    assert (v1_run / "stage1" / "done.json").is_file()
    assert not any((v1_run / f"stage{s}").exists() for s in (2, 3, 4))


@pytest.mark.parametrize("ablation,size,from_original", [("v2", 32, True), ("v2-1", 16, True), ("v2-2", 16, False)])
def test_stage_3_trains_what_the_ablation_says(stage1_done, cnn_r_file, ablation, size, from_original):
    trainer = CFaceTrainer(tiny(stage1_done, cnn_r_file, ablation=ablation), progress=False)
    assert trainer.plan == (1, 2, 3, 4) and trainer.completed(1)
    recipe = trainer.stage3_recipe()
    assert len(recipe.data) == size  # D^HR ∪ D^SR, or D^SR alone
    assert int(recipe.data.labels.max()) + 1 == recipe.head.out_features == 4
    original = recognition.load(weights=cnn_r_file)
    assert same_weights(recipe.model, original) == from_original  # fine-tuned, or a new CNN^R from scratch
    sr_part, _ = recipe.data.batch(torch.arange(size - 16, size))
    assert sr_part.shape == (16, 3, 112, 96)


def test_v2_3_skips_stage_3_and_starts_stage_4_from_the_original_cnn_r(stage1_done, cnn_r_file):
    out = stage1_done
    trainer = CFaceTrainer(tiny(out, cnn_r_file, ablation="v2-3"), progress=False)
    assert trainer.plan == (1, 4)
    recipe = trainer.stage4_recipe()
    assert same_weights(recipe.fr.model, recognition.load(weights=cnn_r_file))  # untouched before stage 4
    assert recipe.fr.head.out_features == 4 and int(recipe.fr.head.iteration) == 0  # a new head
    result = trainer.run()
    assert result["complete"] and result["step"] == 3 + 4
    assert not (out / "stage2").exists() and not (out / "stage3").exists()
    assert list(result["generators"]) == ["cface-v1", "cface-v2-3"]
    assert not same_weights(recognition.load(weights=out / "stage4" / "recognizer.pt"),
                            recognition.load(weights=cnn_r_file))  # stage 4 updates it with L_FR


@pytest.mark.parametrize("k,mode,width", [(1, "topk", 1), (3, "topk", 3), ("random", "random", 0)])
def test_k_of_table_6_picks_the_miner(tmp_path, cnn_r_file, k, mode, width):
    trainer = CFaceTrainer(tiny(tmp_path / f"k{k}", cnn_r_file, compare={"k": k}), progress=False)
    rng = np.random.default_rng(1)
    miner = trainer.compare_faces(rng.normal(size=(16, 32)).astype(np.float32))
    assert (miner.mode, miner.neighbors.shape[1]) == (mode, width)
    assert (tmp_path / f"k{k}" / "compare_faces.npz").is_file()  # saved beside the run
    assert trainer.compare_faces().neighbors.shape == miner.neighbors.shape  # and read back from there


# ---------------------------------------------------------------------------------------------
# the recipe: lrfr run


@pytest.mark.slow
def test_lrfr_run_writes_the_results_table_figures_and_shipped_size_generators(tmp_path, cnn_r_file):
    import pandas as pd

    from lrfr import sr
    from lrfr.recipes import run_pipeline

    cfg = tiny(tmp_path / "out", cnn_r_file)
    data = dataclasses.asdict(cfg)
    data["val"] = {"source": "synth", "n_identities": 6, "images_per_identity": 3, "n_folds": 2, "pairs_per_fold": 6,
                   "every": 2, "grid_images": 3}
    from lrfr.data.synth import SynthFaces

    held_out = SynthFaces(n_identities=8, images_per_identity=4, seed=5, identity_offset=1_000_000)
    data["eval"] = {"protocols": ["lfw", "blufr"], "data": str(held_out.export(tmp_path / "test", progress=False)),
                    "baselines": ["bicubic"]}
    data["run"]["weights_dtype"] = "float16"
    path = tmp_path / "cface.toml"
    path.write_text(dump_toml(data))
    result = run_pipeline(path, progress=False)
    out = tmp_path / "out"
    names = {p.name for p in result["files"]}
    assert {"cface_v1.pt", "cface_v2.pt", "results.csv", "results.md", "losses.png", "grid.png", "final.json"} <= names
    table = pd.read_csv(out / "results.csv")
    assert list(table["sr"]) == ["bicubic", "cface-v1", "cface-v2"] * 2 and set(table["protocol"]) == {"lfw", "blufr"}
    sha = json.loads((out / "final.json").read_text())["evaluation_recognizer"]["sha256"]
    assert set(table["evaluation_recognizer_sha256"]) == {sha}  # scored by the original CNN^R, named
    assert "the original CNN^R" in (out / "results.md").read_text()
    shipped = torch.load(out / "cface_v2.pt", weights_only=True)
    assert shipped["dtype"] == "float16" and sr.load(out / "cface_v2.pt").name == "cface-v2"
    assert {"cface-v1 acc_sr", "cface-v2 acc_sr", "acc_hr"} <= set(result["final"])
    assert (out / "stage1" / "grid.png").is_file() and (out / "stage4" / "training.png").is_file()
    # the deployment pair: the CNN^R stage 4 left, a recognizer file beside the generator, scoring its probes
    from lrfr import recognition

    assert "cface_v2_cnn_r.pt" in names
    cnn_r = recognition.load(weights=out / "cface_v2_cnn_r.pt")
    stage4 = recognition.load(weights=out / "stage4" / "recognizer.pt")
    for a, b in zip(cnn_r.state_dict().values(), stage4.state_dict().values()):
        assert torch.allclose(a, b.half().float())  # stored at run.weights_dtype
    from lrfr.evaluation import evaluate

    pair = evaluate([str(out / "cface_v2.pt")], protocol="lfw", data=data["eval"]["data"], scale=8,
                    weights=cnn_r_file, probe_weights=out / "cface_v2_cnn_r.pt", progress=False,
                    workdir=tmp_path / "w").iloc[0]
    assert pair["probe_recognizer_sha256"] != pair["recognizer_sha256"]


@pytest.mark.parametrize("name", ["cface.toml", "cface_synth.toml"])
def test_shipped_pipelines_parse_and_pass_the_checks(name):
    from lrfr.config import load_toml
    from lrfr.recipes import parse_pipeline
    from lrfr.recipes.cface.config import check_config
    path = Path(__file__).resolve().parents[1] / "pipelines" / name
    cfg = parse_pipeline(load_toml(path), name)
    check_config(cfg)
    assert cfg.kind == "cface" and cfg.ablation == "v2" and cfg.compare.k == 3 and cfg.loss.hinge
    assert (cfg.stage1.gamma1, cfg.stage1.gamma2, cfg.stage4.gamma1, cfg.stage4.gamma2) == (0.05, 0.1, 0.05, 0.05)


def test_a_stage_checkpoint_written_before_the_shared_optimizer_section_still_resumes():
    """C-Face's stage sections gained the shared [optim] keys (type, momentum, milestones); a stage config
    written without them (lrfr 0.1) matches a config that keeps the values the old code used, and only that."""
    from lrfr.config import tomllib
    from lrfr.engine.loop import RecipeMismatchError, check_same_recipe
    from lrfr.recipes.cface.config import ADDED_KEYS, CFacePipeline, stage_config_text

    cfg = CFacePipeline()
    saved = tomllib.loads(stage_config_text(cfg, 4))
    for key in ADDED_KEYS:  # stage1.type, stage3.margin.type, ...: removed wherever they sit
        *sections, name = key.split(".")
        table = saved
        for s in sections:
            table = table.get(s, {})
        table.pop(name, None)
    from lrfr.config import dump_toml

    old_text = dump_toml(saved)
    assert "milestones" not in old_text
    assert check_same_recipe(old_text, stage_config_text(cfg, 4), Path("stage4"), (), (), ADDED_KEYS) == []
    cfg.stage1.type = "sgd"
    with pytest.raises(RecipeMismatchError, match=r"stage1\.type \('adam' → 'sgd'\)"):
        check_same_recipe(old_text, stage_config_text(cfg, 4), Path("stage4"), (), (), ADDED_KEYS)
