"""Protocols: TOML loading, CelebA pair drawing, LFW on a tiny hand-made folder, BLUFR vs brute force, real files."""
import numpy as np
import pytest

import lrfr.protocols as P
from lrfr.config import ConfigError
from lrfr.data.blufr import BlufrConfig, write_blufr_config
from lrfr.io import write_image
from lrfr.metrics.roc import vr_at_far
from lrfr.protocols.blufr import far_grid
from lrfr.protocols.celeba import draw_pairs


def test_names_and_get():
    assert {"lfw", "blufr", "celeba"} <= set(P.names())
    assert P.get("lfw").flip == "concat"
    assert P.get("lfw", convention="insightface").flip == "sum"
    assert P.get("blufr").config.std_ddof == 1
    with pytest.raises(KeyError, match="unknown protocol"):
        P.get("nope")


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="bogus_key"):
        P.get("lfw", bogus_key=1)
    src = (P.protocol_dir() / "blufr.toml").read_text()
    bad = tmp_path / "my_blufr.toml"
    bad.write_text(src + "\nveri_far_typo = 3\n")
    with pytest.raises(ConfigError, match="veri_far_typo"):
        P.get(bad)
    ok = tmp_path / "ok.toml"
    ok.write_text(src)
    assert P.get(ok).name == "blufr"


def test_blufr_far_grid():
    g = far_grid([-8, -1])
    assert len(g) == 74 and g[0] == 0 and g[-1] == 1 and 0.001 in g and 0.009 in g


# ---------------------------------------------------------------- CelebA pair drawing

def _synthetic_folder_names(n_ids=40, seed=0):
    rng = np.random.default_rng(seed)
    names, labels = [], []
    for i in range(n_ids):
        for k in range(int(rng.integers(1, 12))):
            names.append(f"{1000 + i}/{rng.integers(10**6):06d}_{k}.jpg")
            labels.append(i)
    return names, np.array(labels)


def test_draw_pairs_deterministic_disjoint_and_correct():
    names, labels = _synthetic_folder_names()
    pairs = draw_pairs(names, labels, seed=3, n_folds=4, n_per_fold=25)
    assert pairs == draw_pairs(names, labels, seed=3, n_folds=4, n_per_fold=25)  # deterministic
    assert pairs != draw_pairs(names, labels, seed=4, n_folds=4, n_per_fold=25)
    assert len(pairs) == 4 * 50
    # LFW order: per fold 25 same then 25 different
    for f in range(4):
        block = pairs[f * 50:(f + 1) * 50]
        assert all(p.fold == f for p in block)
        assert [p.same for p in block] == [True] * 25 + [False] * 25
    # tokens → image names through the identity's sorted listing; labels must match the flags
    listing = {}
    for n, l in sorted(zip(names, labels)):
        listing.setdefault(n.split("/")[0], []).append((n, l))
    keys = set()
    ids_per_fold = [set() for _ in range(4)]
    for p in pairs:
        (na, la), (nb, lb) = listing[p.id_a][p.num_a - 1], listing[p.id_b][p.num_b - 1]
        assert na != nb
        assert (la == lb) == p.same
        keys.add(frozenset((na, nb)))
        ids_per_fold[p.fold] |= {p.id_a, p.id_b}
    assert len(keys) == len(pairs)  # no pair repeated
    for a in range(4):
        for b in range(a + 1, 4):
            assert not ids_per_fold[a] & ids_per_fold[b]  # identities disjoint across folds


def test_draw_pairs_not_disjoint_and_too_few():
    names, labels = _synthetic_folder_names(n_ids=8)
    with pytest.raises(ValueError, match="disjoint_identities"):
        draw_pairs(names, labels, n_folds=10, n_per_fold=30)
    with pytest.raises(ValueError, match="genuine"):
        draw_pairs(names, labels, n_folds=10, n_per_fold=300, disjoint_identities=False)
    pairs = draw_pairs(names, labels, n_folds=2, n_per_fold=10, disjoint_identities=False)
    assert len({frozenset(((p.id_a, p.num_a), (p.id_b, p.num_b))) for p in pairs}) == 40


# ---------------------------------------------------------------- LFW on a tiny folder

VEC = {"Alice": (1.0, 0.0), "Bob": (-1.0, 0.0), "Carol": (0.0, 1.0), "Dave": (0.0, -1.0), "Eve": (1.0, 0.0)}
PAIRS = """2\t2
Alice\t1\t2
Bob\t1\t2
Alice\t1\tBob\t1
Carol\t1\tDave\t1
Carol\t1\t2
Dave\t1\t2
Eve\t1\tBob\t2
Eve\t2\tAlice\t2
"""


@pytest.fixture
def tiny_lfw(tmp_path):
    img = np.full((12, 10, 3), 128, np.uint8)
    for name in VEC:
        for k in (1, 2, 3):
            write_image(tmp_path / "images" / name / f"{name}_{k:04d}.jpg", img)
    (tmp_path / "pairs.txt").write_text(PAIRS)
    return tmp_path


def _features(data):
    return np.array([VEC[p.parent.name] for p in data.image_paths])


def test_lfw_protocol_tiny_sphereface(tiny_lfw):
    proto = P.get("lfw")
    data = proto.prepare(tiny_lfw)
    assert len(data.image_paths) == 10 and len(set(data.image_paths)) == 10  # 5 identities × images 1, 2
    assert all(p.is_absolute() for p in data.image_paths)
    assert data.folds.tolist() == [0] * 4 + [1] * 4
    res = proto.run(data, _features(data))
    # Fold 0 tested, mean of fold 1's images (C, C, D, D, E, B, E, A) = (2, 0)/8 = (0.25, 0):
    #   training scores: (C,C) 1, (D,D) 1, (E,B) −1, (E,A) 1 (different!) → best 0.75 for every t in (−1, 1)
    #   → mean threshold 0. Test fold 0 (after −μ): (A,A) 1, (B,B) 1 right; (A,B) −1, (C,D) −0.88 right → 1.0
    # Fold 1 tested, mean of fold 0's images (A, A, B, B, A, B, C, D) = 0:
    #   training (A,A) 1, (B,B) 1, (A,B) −1, (C,D) −1 → threshold 0 (mean of (−1, 1));
    #   test: (C,C), (D,D) 1 right; (E,B) −1 right; (E,A) = 1 > 0 → predicted same, wrong → 0.75
    np.testing.assert_allclose(res.per_fold["accuracy"], [1.0, 0.75])
    np.testing.assert_allclose(res.per_fold["threshold"], [0.0, 0.0], atol=1e-12)
    assert res.summary["accuracy_mean"] == pytest.approx(0.875)
    assert res.summary["accuracy_std"] == pytest.approx(0.125)  # ddof 0
    # VR: 4 impostors (cos −1, 0, −1, 1) → FAR 0.1% → k = 0 → accept only > 1: no genuine (all 1) → 0
    assert res.summary["vr@far=0.1%"] == 0.0
    far, tar = res.curves["roc"]
    assert far[-1] == 1 and tar[-1] == 1
    assert res.conventions["convention"] == "sphereface" and res.conventions["tie_at_threshold"] == "wrong"
    with pytest.raises(ValueError, match="features must be"):
        proto.run(data, np.zeros((3, 2)))


def test_lfw_protocol_tiny_insightface(tiny_lfw):
    proto = P.get("lfw", convention="insightface")
    data = proto.prepare(tiny_lfw)
    res = proto.run(data, _features(data))
    # squared distances: same pairs 0; fold 0 diffs (A,B) 4, (C,D) 4; fold 1 diffs (E,B) 4, (E,A) 0
    # fold 0 tested: training (fold 1) same 0, 0; diff 4, 0 → best 0.75 for t in (0, 4) → first 0.01
    #   test: same 0 < 0.01 right ×2, diffs 4 right ×2 → 1.0
    # fold 1 tested: training same 0, 0, diff 4, 4 → first 0.01; test: (E,A) 0 < 0.01 → wrong → 0.75
    np.testing.assert_allclose(res.per_fold["threshold"], [0.01, 0.01])
    np.testing.assert_allclose(res.per_fold["accuracy"], [1.0, 0.75])


def test_lfw_prepare_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder"):
        P.get("lfw").prepare(tmp_path)


def test_celeba_protocol_tiny(tmp_path):
    rng = np.random.default_rng(0)
    img = np.full((12, 10, 3), 100, np.uint8)
    for i in range(12):
        for k in range(5):
            write_image(tmp_path / "data" / f"{7000 + i}" / f"{rng.integers(10**6):06d}.jpg", img)
    proto = P.get("celeba", n_folds=3, n_per_fold=6, seed=1)
    data = proto.prepare(tmp_path / "data", workdir=tmp_path / "work")
    assert data.pairs_file.parent == tmp_path / "work" and data.pairs_file.name == "celeba_pairs_seed1.txt"
    assert len(data.same) == 36 and data.same.sum() == 18
    labels = np.array([int(p.parent.name) for p in data.image_paths])
    feats = np.eye(12)[labels - 7000] + 0.01 * rng.normal(size=(len(labels), 12))
    res = proto.run(data, feats)
    assert res.summary["accuracy_mean"] == 1.0
    again = proto.prepare(tmp_path / "data", workdir=tmp_path / "work2")
    assert again.pairs_file.read_text() == data.pairs_file.read_text()


# ---------------------------------------------------------------- BLUFR vs brute force

def _tiny_blufr(tmp_path, n=120, n_ids=30, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.arange(n_ids), rng.integers(0, n_ids, n - n_ids)]
    names = [f"P{l:03d}_{k:04d}.jpg" for k, l in enumerate(labels)]
    tests, gals, probs, trains = [], [], [], []
    for _ in range(3):
        test_ids = rng.choice(n_ids, 22, replace=False)
        test = np.flatnonzero(np.isin(labels, test_ids))
        gal_ids = test_ids[:12]
        gal = np.array([test[labels[test] == i][0] for i in gal_ids])
        tests.append(test), gals.append(np.sort(gal)), probs.append(np.setdiff1d(test, gal))
        trains.append(np.setdiff1d(np.arange(n), test))
    write_blufr_config(tmp_path / "blufr_lfw_config.mat", BlufrConfig(names, labels, trains, tests, gals, probs))
    (tmp_path / "images").mkdir()
    feats = (rng.normal(size=(n, 16)) + 1.2 * rng.normal(size=(n_ids, 16))[labels]).astype(np.float32)
    return feats, labels, tests, gals, probs


def test_blufr_protocol_equals_brute_force(tmp_path):
    feats, labels, tests, gals, probs = _tiny_blufr(tmp_path)
    proto = P.get("blufr", check_files=False, progress=False, chunk=17)
    data = proto.prepare(tmp_path)
    assert len(data.image_paths) == 120 and data.image_paths[0].name == "P000_0000.jpg"
    assert data.image_paths[0].parent.name == "P000"
    res = proto.run(data, feats)
    xn = feats.astype(np.float64) / np.linalg.norm(feats, axis=1, keepdims=True)
    vrs, dirs = [], []
    for t in range(3):
        x, lab = xn[tests[t]], labels[tests[t]]
        s = x @ x.T
        iu = np.triu_indices(len(lab), 1)
        same = lab[iu[0]] == lab[iu[1]]
        vrs.append(vr_at_far(s[iu][same], s[iu][~same], [0.001]).vr[0])
        # open set, brute force: gallery has one image per identity
        g, p = gals[t], probs[t]
        sp = xn[p] @ xn[g].T
        genuine = np.isin(labels[p], labels[g])
        imp_max = np.sort(sp[~genuine].max(axis=1))[::-1]
        k = int(np.floor(0.01 * len(imp_max) + 0.5))
        thr = np.nextafter(imp_max[0], 2) if k == 0 else imp_max[k - 1]
        hits = 0
        for row, pl in zip(sp[genuine], labels[p][genuine]):
            mate = row[labels[g] == pl][0]
            hits += (mate >= thr) and (row[labels[g] != pl] < mate).all()
        dirs.append(hits / genuine.sum())
    np.testing.assert_allclose(res.per_fold["vr@far=0.1%"], vrs)
    np.testing.assert_allclose(res.per_fold["dir@rank=1,far=1%"], dirs)
    m, s = np.mean(vrs), np.std(vrs, ddof=1)
    assert res.summary["vr@far=0.1%_mean"] == pytest.approx(m)
    assert res.summary["vr@far=0.1%_std"] == pytest.approx(s)
    assert res.summary["vr@far=0.1%_mean_minus_std"] == pytest.approx(m - s)
    assert res.headline == ["vr@far=0.1%_mean_minus_std", "dir@rank=1,far=1%_mean_minus_std"]
    assert len(res.curves["roc"][0]) == 74 and "cmc" in res.curves
    fast = P.get("blufr", check_files=False, progress=False, full_grid=False, trials=[2])
    r2 = fast.run(data, feats)
    assert len(r2.per_fold) == 1 and r2.per_fold["vr@far=0.1%"][0] == pytest.approx(vrs[1])
    with pytest.raises(ValueError, match="out of range"):
        P.get("blufr", check_files=False, trials=[9]).prepare(tmp_path)


def test_blufr_missing_images_reported(tmp_path):
    _tiny_blufr(tmp_path)
    with pytest.raises(FileNotFoundError, match="are not in"):
        P.get("blufr").prepare(tmp_path)


# ---------------------------------------------------------------- real files (no model)

@pytest.mark.realdata
def test_real_lfw_and_blufr_prepare(lfw_root):
    lfw = P.get("lfw").prepare(lfw_root)
    assert len(lfw.same) == 6000 and lfw.same.sum() == 3000
    assert len(lfw.image_paths) == 7701 and len(set(lfw.image_paths)) == 7701
    assert np.bincount(lfw.folds).tolist() == [600] * 10
    blufr = P.get("blufr").prepare(lfw_root)
    assert len(blufr.image_paths) == 13233 and len(blufr.trials) == 10
    assert all(p.is_file() for p in blufr.image_paths[:50])


def test_blufr_cache_and_chunked_paths_agree(tmp_path):
    feats, *_ = _tiny_blufr(tmp_path, seed=5)
    cached = P.get("blufr", check_files=False, progress=False).run(P.get("blufr", check_files=False).prepare(tmp_path), feats)
    plain_proto = P.get("blufr", check_files=False, progress=False, similarity_cache_mb=0, chunk=11)
    plain = plain_proto.run(plain_proto.prepare(tmp_path), feats)
    cols = [c for c in cached.per_fold.columns if not c.endswith("_threshold")]
    np.testing.assert_allclose(cached.per_fold[cols].to_numpy(float), plain.per_fold[cols].to_numpy(float))
    np.testing.assert_allclose(cached.curves["roc"][1], plain.curves["roc"][1])
    np.testing.assert_allclose(cached.curves["cmc"][1], plain.curves["cmc"][1])
