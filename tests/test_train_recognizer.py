"""Recognizer training: small real runs on CPU (a narrow sphere20a, a handful of steps)."""
import numpy as np
import pytest
import torch

from lrfr.config import from_dict
from lrfr.io import write_image
from lrfr.engine.checkpoint import load_checkpoint
from lrfr.engine.loop import NonFiniteLossError
from lrfr.recipes.recognizer.recipe import train_recognizer
from lrfr.recipes.recognizer.config import RecognizerPipeline


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """4 identities × 4 images: each identity a distinct colour pattern plus noise."""
    root = tmp_path_factory.mktemp("ids")
    rng = np.random.default_rng(0)
    for k in range(4):
        base = rng.integers(0, 256, (1, 1, 3))
        for j in range(4):
            img = np.clip(base + rng.normal(0, 20, (112, 96, 3)), 0, 255).astype(np.uint8)
            write_image(root / f"id{k}" / f"{j}.png", img)
    return root


def config(root, out, **optim):
    return from_dict(RecognizerPipeline, {
        "model": {"arch": "sphere20a", "width": 0.125, "embedding_dim": 32},
        "data": {"source": "folder", "root": str(root), "in_memory": True},
        "val": {"source": "none"},
        "optim": {"batch_size": 4, "iterations": 6, "milestones": [4], "lr": 0.01, **optim},
        "augment": {"hflip": True, "crop_pad": 2},
        "run": {"out": str(out), "checkpoint_every": 2, "log_every": 1, "seed": 3},
    })


def _state(result):
    return {**{f"m.{k}": v for k, v in result["model"].state_dict().items()},
            **{f"h.{k}": v for k, v in result["head"].state_dict().items()}}


def test_resume_reaches_the_same_weights(tiny_folder, tmp_path):
    straight = train_recognizer(config(tiny_folder, tmp_path / "a"), progress=False)
    first = train_recognizer(config(tiny_folder, tmp_path / "b"), progress=False, stop_after=3)
    assert first["step"] == 3
    ck = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert ck["step"] == 3 and int(ck["parts"]["head"]["iteration"]) == 3  # λ's counter is in the checkpoint
    resumed = train_recognizer(config(tiny_folder, tmp_path / "b"), progress=False)
    assert resumed["step"] == 6
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    assert resumed["head"].lambda_ == straight["head"].lambda_
    # a fresh run from step 0 would differ: the comparison above is not vacuous
    assert not torch.equal(a["m.fc5.weight"], first["model"].state_dict()["fc5.weight"])


def test_resume_refuses_a_different_recipe(tiny_folder, tmp_path):
    train_recognizer(config(tiny_folder, tmp_path / "c"), progress=False, stop_after=2)
    with pytest.raises(ValueError, match="optim.lr.*--allow-changed optim.lr.*--restart"):
        train_recognizer(config(tiny_folder, tmp_path / "c", lr=0.02), progress=False)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(tiny_folder, tmp_path, monkeypatch):
    import lrfr.recipes.recognizer.recipe as trainer

    train_recognizer(config(tiny_folder, tmp_path / "d"), progress=False, stop_after=2)
    before = (tmp_path / "d" / "checkpoint.pt").read_bytes()
    cfg = config(tiny_folder, tmp_path / "d")
    cfg.optim.iterations = 50
    # poison the pixels: NaN input gives a NaN loss at the first resumed step
    original = trainer.draw_batch

    def poisoned(*a, **k):
        images, labels = original(*a, **k)
        return images * float("nan"), labels

    monkeypatch.setattr(trainer, "draw_batch", poisoned)
    with pytest.raises(NonFiniteLossError, match="loss term .loss. became nan at step 2"):
        train_recognizer(cfg, progress=False, resume=True)
    assert (tmp_path / "d" / "checkpoint.pt").read_bytes() == before
