"""The decoded-once uint8 cache: same pixels as decoding in RAM, reused while the source is unchanged,
decoded anew when a file changes, and a truncated cache file is an error naming it."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from lrfr.data.decoded import DecodedCacheError, decoded
from lrfr.data.folders import open_faces
from lrfr.data.synth import SynthFaces
from lrfr.io import write_image


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(2):
        for j in range(3):
            write_image(tmp_path / "faces" / f"id{k}" / f"{j}.png", rng.integers(0, 256, (16, 12, 3), dtype=np.uint8))
    return tmp_path / "faces"


def test_memory_mapped_cache_holds_the_decoded_pixels_and_is_reused(folder, tmp_path):
    ds = open_faces(folder, size=(16, 12))
    in_ram = decoded(ds, (16, 12), None, progress=False)
    cached = decoded(ds, (16, 12), tmp_path / "cache", progress=False)
    assert cached.path is not None and cached.path.stat().st_size == 6 * 3 * 16 * 12
    assert torch.equal(cached.images, in_ram.images) and torch.equal(cached.labels, in_ram.labels)
    assert cached.classes == in_ram.classes
    first = cached.path.stat().st_mtime_ns
    again = decoded(ds, (16, 12), tmp_path / "cache", progress=False)
    assert again.path == cached.path and again.path.stat().st_mtime_ns == first  # mapped, not decoded again
    images, labels = again.batch(torch.tensor([4, 0]))
    assert images.dtype == torch.float32 and torch.equal(labels, in_ram.labels[[4, 0]])


def test_a_changed_source_file_is_decoded_anew(folder, tmp_path):
    cache = tmp_path / "cache"
    before = decoded(open_faces(folder, size=(16, 12)), (16, 12), cache, progress=False)
    path = folder / "id1" / "2.png"
    write_image(path, np.zeros((16, 12, 3), np.uint8))
    os.utime(path, ns=(before.path.stat().st_mtime_ns + 10**9,) * 2)
    after = decoded(open_faces(folder, size=(16, 12)), (16, 12), cache, progress=False)
    assert after.path != before.path and int(after.images[5].max()) == 0


def test_synthfaces_cache_and_truncated_file_error(tmp_path):
    ds = SynthFaces(n_identities=2, images_per_identity=2, size=(112, 96), seed=5)
    cached = decoded(ds, (112, 96), tmp_path, name="synth", progress=False)
    assert torch.equal(cached.images[3], ds[3][0].mul(255).round().to(torch.uint8))
    with open(cached.path, "r+b") as f:
        f.truncate(100)
    with pytest.raises(DecodedCacheError, match="truncated; delete it"):
        decoded(ds, (112, 96), tmp_path, name="synth", progress=False)


def test_data_also_mixes_synthfaces_into_a_folder_with_identities_kept_apart(tmp_path):
    from lrfr.config import ConfigError
    from lrfr.engine.sections import DataConfig
    from lrfr.engine.training_set import build_training_set

    rng = np.random.default_rng(1)
    for k in range(2):
        for j in range(3):
            write_image(tmp_path / "faces" / f"id{k}" / f"{j}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    d = DataConfig(source="folder", root=str(tmp_path / "faces"), also=["synth"], n_identities=3, images_per_identity=2, seed=5)
    mixed = build_training_set(d, (16, 16), progress=False)
    real = decoded(open_faces(tmp_path / "faces", size=(16, 16)), (16, 16), None, progress=False)
    synth = SynthFaces(n_identities=3, images_per_identity=2, size=(16, 16), seed=5)
    assert len(mixed) == 6 + 6 and len(mixed.classes) == 2 + 3
    assert torch.equal(mixed.images[:6], real.images)  # the folder first, unchanged
    assert torch.equal(mixed.images[6 + 5], synth[5][0].mul(255).round().to(torch.uint8))
    assert mixed.labels[:6].max() == 1 and mixed.labels[6:].min() == 2  # no synthetic face joins a real identity
    assert mixed.classes[0] == "faces/id0" and mixed.classes[2].startswith("synth/")
    with pytest.raises(ConfigError, match="in_memory"):
        build_training_set(DataConfig(source="folder", root=str(tmp_path / "faces"), also=["synth"], in_memory=False), (16, 16))
    with pytest.raises(ConfigError, match="SynthFaces already"):
        build_training_set(DataConfig(source="synth", also=["synth"]), (16, 16))
