"""SynthFaces: determinism, shapes, annotations, export round trip, argument checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lrfr.data.blufr import blufr_relative_path, read_blufr_config
from lrfr.data.pairs import PairImageResolver, lfw_file_name, read_pairs
from lrfr.data.synth import (
    LANDMARK_NAMES,
    PARSING_CLASSES,
    SynthFaces,
    save_preview,
    template_landmarks,
)

BG, SKIN, BROWS, EYES, NOSE, MOUTH, HAIR = range(7)


def test_item_contract_default_size():
    ds = SynthFaces(n_identities=3, images_per_identity=2)
    assert len(ds) == 6
    img, label, name = ds[3]
    assert isinstance(img, torch.Tensor) and img.dtype == torch.float32 and img.shape == (3, 112, 96)
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    assert label == 1 and isinstance(label, int)
    assert name == "synth_00001/synth_00001_0002.jpg"  # LFW style, 1-based image numbers
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.classes == ["synth_00000", "synth_00001", "synth_00002"]
    assert ds.names[3] == name and ds.classes[label] == name.split("/")[0]
    assert ds[-1][2] == ds.names[5]
    with pytest.raises(IndexError):
        ds[6]


def test_other_size_and_sample_annotations():
    ds = SynthFaces(n_identities=2, images_per_identity=2, size=(64, 64), seed=3)
    s = ds.sample(1)
    assert s["image"].shape == (3, 64, 64) and s["image"].dtype == torch.float32
    assert s["parsing"].shape == (64, 64) and s["parsing"].dtype == torch.int64
    assert s["landmarks"].shape == (5, 2) and s["landmarks"].dtype == torch.float32
    assert s["label"] == 0 and s["name"] == ds.names[1]
    assert torch.equal(s["image"], ds[1][0])
    neutral = ds.sample(0, neutral=True)["landmarks"].numpy()
    assert np.abs(neutral - template_landmarks((64, 64))).max() < 3.0


def test_same_seed_same_bytes_in_any_order_and_process_state():
    a = SynthFaces(4, 3, seed=7)
    b = SynthFaces(4, 3, seed=7)
    forward = [a[i][0].numpy().tobytes() for i in range(len(a))]
    backward = [b[i][0].numpy().tobytes() for i in reversed(range(len(b)))][::-1]
    assert forward == backward
    np.random.seed(123)  # the global RNGs must not matter
    torch.manual_seed(123)
    assert SynthFaces(4, 3, seed=7)[5][0].numpy().tobytes() == forward[5]
    other = SynthFaces(4, 3, seed=8)
    assert all(other[i][0].numpy().tobytes() != forward[i] for i in range(len(other)))


def test_identity_offset_addresses_the_same_identities():
    whole = SynthFaces(8, 2, seed=1)
    tail = SynthFaces(3, 2, seed=1, identity_offset=5)
    assert tail.classes == ["synth_00005", "synth_00006", "synth_00007"]
    assert tail.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(tail[0][0], whole[10][0]) and tail.names[0] == whole.names[10]


def test_parsing_map_and_landmarks_in_a_neutral_pose():
    ds = SynthFaces(12, 1, seed=0)
    template = template_landmarks()
    all_lm = []
    for i in range(len(ds)):
        rgb, parsing, lm = ds.render(i, neutral=True)
        assert parsing.dtype == np.uint8 and parsing.shape == (112, 96)
        present = set(np.unique(parsing).tolist())
        assert present <= set(range(len(PARSING_CLASSES)))
        assert {BG, SKIN, BROWS, EYES, NOSE, MOUTH} <= present
        # each landmark lies on (or right next to) its part
        x, y = np.round(lm).astype(int).T
        assert parsing[y[0], x[0]] == EYES and parsing[y[1], x[1]] == EYES
        assert parsing[y[2], x[2]] == NOSE
        for k in (3, 4):
            window = parsing[y[k] - 2 : y[k] + 3, x[k] - 2 : x[k] + 3]
            assert (window == MOUTH).any()
        all_lm.append(lm)
    all_lm = np.stack(all_lm)
    assert all_lm.shape == (12, 5, 2) and len(LANDMARK_NAMES) == 5
    assert np.abs(all_lm.mean(0) - template).max() < 2.0  # identities scatter around the template
    assert np.abs(all_lm - template).max() < 4.0


def test_pose_and_expression_move_the_landmarks():
    ds = SynthFaces(1, 6, seed=2)
    lms = np.stack([ds.render(i)[2] for i in range(6)])
    assert lms.std(0).mean() > 0.3
    assert np.abs(lms - template_landmarks()).max() < 12


def test_identities_differ_and_images_of_one_identity_vary():
    ds = SynthFaces(3, 3, seed=0)
    neutral = [ds.render(i * 3, neutral=True)[0] for i in range(3)]
    parsing = [ds.render(i * 3, neutral=True)[1] for i in range(3)]
    face = (parsing[0] != BG) & (parsing[1] != BG)
    assert np.abs(neutral[0] - neutral[1])[:, face].mean() > 0.03
    imgs = [ds[i][0] for i in range(3)]
    assert float((imgs[0] - imgs[1]).abs().mean()) > 0.02
    assert float((imgs[1] - imgs[2]).abs().mean()) > 0.02


def test_export_round_trip(tmp_path):
    ds = SynthFaces(12, 4, seed=5, identity_offset=100)
    root = ds.export(tmp_path / "synth", n_folds=3, pairs_per_fold=5, n_trials=2, progress=False)
    assert root == tmp_path / "synth"
    images = root / "images"
    assert sorted(p.relative_to(images).as_posix() for p in images.rglob("*.jpg")) == sorted(ds.names)
    assert "synth_00100/synth_00100_0001.jpg" in ds.names  # LFW numbering starts at 1

    # pairs.txt: LFW format, every token resolves to an exported file, folds use disjoint people
    pf = read_pairs(root / "pairs.txt")
    assert (pf.n_folds, pf.n_per_fold, len(pf.pairs)) == (3, 5, 30)
    resolve = PairImageResolver(images)
    fold_ids = [set() for _ in range(3)]
    for p in pf.pairs:
        for ident, num in ((p.id_a, p.num_a), (p.id_b, p.num_b)):
            assert 1 <= num <= 4
            assert resolve(ident, num) == lfw_file_name(ident, num)
            fold_ids[p.fold].add(ident)
        assert (p.id_a == p.id_b) == p.same and (p.num_a, p.id_a) != (p.num_b, p.id_b)
    assert not (fold_ids[0] & fold_ids[1]) and not (fold_ids[1] & fold_ids[2]) and not (fold_ids[0] & fold_ids[2])

    # BLUFR config: official fields, 1-based on disk (read back 0-based), gallery ∪ probe = test (checked by reader)
    cfg = read_blufr_config(root / "blufr_config.mat")
    assert cfg.n_trials == 2
    assert [blufr_relative_path(n) for n in cfg.image_list] == ds.names
    assert cfg.labels.tolist() == (ds.labels + 1).tolist()
    for t in range(2):
        train_ids = set(cfg.labels[cfg.train_index[t]])
        test_ids = set(cfg.labels[cfg.test_index[t]])
        gal_labels = cfg.labels[cfg.gal_index[t]]
        assert train_ids and test_ids and not (train_ids & test_ids)
        assert len(train_ids | test_ids) == 12
        assert len(gal_labels) == len(set(gal_labels))  # one gallery image per identity
        probe_ids = set(cfg.labels[cfg.prob_index[t]])
        assert probe_ids - set(gal_labels)  # open set: some probes have no gallery mate
        assert probe_ids & set(gal_labels)  # and some have one
    assert len(cfg.dev_train_index) and len(cfg.dev_test_index)
    assert not set(cfg.labels[cfg.dev_train_index]) & set(cfg.labels[cfg.dev_test_index])

    # landmarks.txt and the images themselves
    lines = (root / "landmarks.txt").read_text().splitlines()
    assert len(lines) == len(ds)
    fields = lines[7].split()
    assert fields[0] == ds.names[7] and len(fields) == 11
    np.testing.assert_allclose(np.array(fields[1:], float).reshape(5, 2), ds.render(7)[2], atol=0.006)
    from lrfr.io import read_image, to_tensor01

    jpeg = to_tensor01(read_image(images / ds.names[7]))
    assert float((jpeg - ds[7][0]).abs().mean()) < 0.03
    readme = (root / "README.txt").read_text()
    assert "seed=5" in readme and "identity_offset=100" in readme


def test_default_pairs_count_follows_the_data_size():
    pairs, n_folds, k = SynthFaces(20, 3, seed=0).make_pairs(n_folds=10)
    # 2 identities × 3 images per fold: 2·3 = 6 same pairs at most
    assert (n_folds, k) == (10, 6) and len(pairs) == 120
    assert SynthFaces(100, 20).make_pairs()[2] == 300  # LFW's 300 when the data allows


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_identities=0), "n_identities"),
        (dict(images_per_identity=0), "images_per_identity"),
        (dict(n_identities=2.5), "n_identities"),
        (dict(size=(8, 96)), "too small"),
        (dict(size=(112,)), "size"),
        (dict(size="big"), "size"),
        (dict(seed=-1), "seed"),
        (dict(identity_offset=-3), "identity_offset"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynthFaces(**kwargs)


def test_export_rejects_impossible_protocols(tmp_path):
    with pytest.raises(ValueError, match=">= 2 images"):
        SynthFaces(5, 1).export(tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="pairs_per_fold"):
        SynthFaces(4, 2).export(tmp_path / "b", n_folds=2, pairs_per_fold=50, progress=False)
    with pytest.raises(ValueError, match="identities"):
        SynthFaces(2, 3).make_blufr()
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # failed before writing


def test_save_preview(tmp_path):
    from PIL import Image

    path = save_preview(tmp_path / "p.png", n_identities=2, n_images=2)
    with Image.open(path) as im:
        assert im.size[0] > 4 * 96 and im.size[1] >= 2 * 112
