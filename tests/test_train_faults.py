"""Fault tolerance of every recipe on the engine: exact resume, kill during a checkpoint write,
corrupted checkpoints, exploded weights, and resuming with a changed learning rate.

Each recipe joins by adding one line to RECIPES: a function returning a tiny pipeline mapping
(the same TOML a user writes) for a run folder.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from lrfr.config import dump_toml
from lrfr.io import write_image
from lrfr.recipes import run_pipeline
from lrfr.engine.checkpoint import load_checkpoint
from lrfr.engine.loop import NonFiniteLossError, RecipeMismatchError
from state_compare import assert_same_state


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """4 identities × 4 images, 112×96: each identity a distinct colour pattern plus noise."""
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for k in range(4):
        base = rng.integers(0, 256, (1, 1, 3))
        for j in range(4):
            img = np.clip(base + rng.normal(0, 20, (112, 96, 3)), 0, 255).astype(np.uint8)
            write_image(root / f"id{k}" / f"{j}.png", img)
    return root


def recognizer_pipeline(root, out):
    return {
        "kind": "recognizer", "name": "tiny-sphere",
        "model": {"arch": "sphere20a", "width": 0.125, "embedding_dim": 32},
        "data": {"source": "folder", "root": str(root)},
        "val": {"source": "none"},
        "optim": {"batch_size": 4, "iterations": 6, "milestones": [4], "lr": 0.01},
        "augment": {"hflip": True, "crop_pad": 2},
        "run": {"out": str(out), "checkpoint_every": 2, "log_every": 1, "seed": 3},
    }


def srgan_pipeline(root, out):
    return {
        "kind": "sr", "name": "tiny-srgan",
        "model": {"arch": "srresnet", "scale": 8, "kwargs": {"channels": 4, "blocks": 1}},
        "discriminator": {"arch": "srgan", "kwargs": {"channels": 4, "dense": 8}},
        "loss": {"pixel": "l1", "adversarial": "ragan", "adversarial_weight": 0.01},
        "data": {"source": "folder", "root": str(root)},
        "val": {"source": "none"},
        "optim": {"batch_size": 4, "iterations": 6, "milestones": [4], "lr": 1e-3, "ema_decay": 0.9},
        "augment": {"hflip": True},
        "run": {"out": str(out), "checkpoint_every": 2, "log_every": 1, "seed": 3},
    }


#: one line per recipe: (name, tiny pipeline factory)
RECIPES = [
    ("recognizer", recognizer_pipeline),
    ("srgan", srgan_pipeline),
    ("prior_attention_gan", lambda root, out: {**srgan_pipeline(root, out), "name": "tiny-prior-attention", "model": {"arch": "prior_attention", "scale": 8, "kwargs": {"channels": 4, "blocks": 1, "prior_channels": 4, "prior_blocks": 0, "hourglass_depth": 1}}, "loss": {"pixel": "mse", "coarse_weight": 1.0, "prior_weight": 1.0, "parsing": "landmarks", "adversarial_weight": 0.01}}),
    ("distill", lambda root, out: {"kind": "distill", "name": "tiny-distill", "data": {"source": "folder", "root": str(root), "scales": [8, 4]}, "val": {"source": "none"}, "loss": {"softmax_weight": 0.1, "hr_fraction": 0.25}, "optim": {"batch_size": 4, "iterations": 6, "milestones": [4]}, "run": {"out": str(out), "checkpoint_every": 2, "log_every": 1, "seed": 3}}),
    ("distill_robust", lambda root, out: {"kind": "distill", "name": "tiny-robust", "data": {"source": "folder", "root": str(root), "lr_long_side": [7, 28], "mix": {"down:bicubic_noaa": 0.3, "blur:sigma=0.5~3,down:area,noise:gauss=0~0.03,jpeg:q=30~95": 0.4}}, "val": {"source": "none"}, "loss": {"softmax_weight": 0.1, "hr_fraction": 0.25, "head_init": "teacher", "margin": {"type": "combined", "s": 16.0, "m2": 0.3}}, "optim": {"batch_size": 4, "iterations": 6, "milestones": [4]}, "run": {"out": str(out), "checkpoint_every": 2, "log_every": 1, "seed": 3}}),
    ("pfsr", lambda root, out: {**srgan_pipeline(root, out), "kind": "pfsr", "name": "tiny-pfsr", "model": {"arch": "pfsr", "scale": 8, "kwargs": {"channels": [4, 4, 4, 4]}}, "discriminator": {"arch": "pfsr", "kwargs": {"channels": [4, 4, 4, 4], "dense": 8}}, "loss": {"perceptual_weights": [0.0, 0.0, 0.0]}, "progressive": {"step_iterations": [2, 2, 2]}, "optim": {"batch_size": 4, "iterations": 6, "lr": 1e-3, "ema_decay": 0.9}}),  # stopped at 3, resumed across the step-3 boundary at 4
]


def write_pipeline(path, data):
    path.write_text(dump_toml(data))
    return path


def parts_of(out):
    return load_checkpoint(out / "checkpoint.pt")["parts"]


@pytest.mark.parametrize("name,make", RECIPES, ids=[r[0] for r in RECIPES])
def test_stopped_and_resumed_run_is_bit_identical(name, make, faces, tmp_path):
    straight = write_pipeline(tmp_path / "a.toml", make(faces, tmp_path / "a"))
    run_pipeline(straight, progress=False)
    split = write_pipeline(tmp_path / "b.toml", make(faces, tmp_path / "b"))
    assert run_pipeline(split, progress=False, stop_after=3)["step"] == 3
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 3
    result = run_pipeline(split, progress=False)
    assert result["step"] == 6
    assert_same_state(parts_of(tmp_path / "a"), parts_of(tmp_path / "b"))


@pytest.mark.parametrize("name,make", RECIPES, ids=[r[0] for r in RECIPES])
def test_corrupted_checkpoint_falls_back_to_the_previous_one(name, make, faces, tmp_path, capsys):
    straight = write_pipeline(tmp_path / "a.toml", make(faces, tmp_path / "a"))
    run_pipeline(straight, progress=False)
    split = write_pipeline(tmp_path / "b.toml", make(faces, tmp_path / "b"))
    run_pipeline(split, progress=False, stop_after=4)  # checkpoints at 2 (kept as .prev) and 4
    latest = tmp_path / "b" / "checkpoint.pt"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])  # truncated
    run_pipeline(split, progress=True)
    assert "resuming from the previous checkpoint" in capsys.readouterr().out
    assert_same_state(parts_of(tmp_path / "a"), parts_of(tmp_path / "b"))


KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(int(sys.argv[2]))  # the parent's: another thread count changes float sums
    import lrfr.io as io
    real = io.atomic_torch_save
    calls = {"n": 0}
    def dying_save(obj, path):
        calls["n"] += 1
        if calls["n"] == 2 and str(path).endswith("checkpoint.next.pt"):
            def half_then_die(tmp):
                import torch
                torch.save(obj, tmp)
                with open(tmp, "r+b") as fh:
                    fh.truncate(os.path.getsize(tmp) // 2)
                os.kill(os.getpid(), signal.SIGKILL)
            return io.atomic_write(path, half_then_die)
        return real(obj, path)
    io.atomic_torch_save = dying_save
    import lrfr.engine.checkpoint as ck
    ck.atomic_torch_save = dying_save
    from lrfr.recipes import run_pipeline
    run_pipeline(sys.argv[1], progress=False)
""")


@pytest.mark.slow
@pytest.mark.parametrize("name,make", RECIPES, ids=[r[0] for r in RECIPES])
def test_sigkill_during_a_checkpoint_write_loses_nothing(name, make, faces, tmp_path):
    straight = write_pipeline(tmp_path / "a.toml", make(faces, tmp_path / "a"))
    run_pipeline(straight, progress=False)
    victim = write_pipeline(tmp_path / "b.toml", make(faces, tmp_path / "b"))
    proc = subprocess.run([sys.executable, "-c", KILLER, str(victim), str(torch.get_num_threads())],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    out = tmp_path / "b"
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2  # the first checkpoint, intact
    assert [p for p in os.listdir(out) if p.endswith(".tmp")]  # the half-written temporary file of the kill
    run_pipeline(victim, progress=False)
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]  # removed on resume
    assert_same_state(parts_of(tmp_path / "a"), parts_of(out))


def test_exploded_weights_are_never_checkpointed(faces, tmp_path, monkeypatch):
    import lrfr.recipes.recognizer.recipe as recognizer

    path = write_pipeline(tmp_path / "r.toml", recognizer_pipeline(faces, tmp_path / "r"))
    run_pipeline(path, progress=False, stop_after=2)
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    real_step = recognizer.RecognizerRecipe.train_step

    def exploding_step(self, step):
        losses = real_step(self, step)
        with torch.no_grad():
            self.model.fc5.weight.mul_(1e9)  # finite, huge: what precedes a NaN
        return losses

    monkeypatch.setattr(recognizer.RecognizerRecipe, "train_step", exploding_step)
    with pytest.raises(NonFiniteLossError, match=r"weights exploded by step 4 \(model\.\S+ has max \|w\| = "):
        run_pipeline(path, progress=False)
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before  # the healthy step-2 state is kept


def test_resume_with_a_changed_learning_rate_when_allowed(faces, tmp_path):
    data = recognizer_pipeline(faces, tmp_path / "r")
    path = write_pipeline(tmp_path / "r.toml", data)
    run_pipeline(path, progress=False, stop_after=2)
    with pytest.raises(RecipeMismatchError, match=r"optim\.lr \(0\.01 → 0\.005\).*--allow-changed optim\.lr.*--restart"):
        run_pipeline(path, ["optim.lr=0.005"], progress=False)
    run_pipeline(path, ["optim.lr=0.005"], progress=False, allow_changed=("optim.lr",))
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert ckpt["step"] == 6
    # milestone 4 passed: 0.005 × 0.1 is in force, not the old 0.01 × 0.1
    assert ckpt["parts"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0005)


def test_nan_names_the_loss_term_and_step(faces, tmp_path, monkeypatch):
    import lrfr.recipes.sr.recipe as sr_gan

    path = write_pipeline(tmp_path / "s.toml", srgan_pipeline(faces, tmp_path / "s"))
    real_batch = sr_gan.SRRecipe.batch

    def poisoned(self, step):
        lr, hr = real_batch(self, step)
        return lr, hr * float("nan") if step == 3 else hr

    monkeypatch.setattr(sr_gan.SRRecipe, "batch", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"loss term 'pixel' became nan at step 3"):
        run_pipeline(path, progress=False)
    assert load_checkpoint(tmp_path / "s" / "checkpoint.pt")["step"] == 2
