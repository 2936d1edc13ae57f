"""Every recipe file in pipelines/ parses into its kind's config (strict: unknown keys and wrong types fail)."""
from pathlib import Path

import pytest

from lrfr.config import load_toml
from lrfr.recipes import parse_pipeline

PIPELINES = sorted((Path(__file__).resolve().parents[1] / "pipelines").glob("*.toml"))


def test_there_are_pipelines():
    assert len(PIPELINES) >= 10


@pytest.mark.parametrize("path", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_pipeline_parses(path):
    data = load_toml(path)
    cfg = parse_pipeline(data, str(path))
    cfg = cfg[0] if isinstance(cfg, tuple) else cfg
    assert cfg.kind == data["kind"] and cfg.name == data["name"]


@pytest.mark.parametrize("path", [p for p in PIPELINES if p.stem.endswith("_celeba")], ids=lambda p: p.stem)
def test_real_data_recipes_never_train_on_lfw_or_held_out_faces(path):
    """Issue 16: the CelebA recipes train on the split's training half only; LFW is never trained on."""
    data = load_toml(path)["data"]
    # the training half that `lrfr results split results/real-8x.toml` lays out from results/celeba_split.txt
    assert data["source"] == "folder" and data["root"] == "runs/celeba-split/train"
    for extra in data.get("also", []):  # more training faces (distillation): never LFW or the held-out half
        assert "lfw" not in extra.lower() and "heldout" not in extra and "faces-extra" in extra
