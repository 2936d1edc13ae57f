"""CompareFaceMiner: C-Face §3.3 compare-face selection against a brute-force numpy reference."""
from __future__ import annotations

import numpy as np
import pytest

from lrfr.index.miner import STRATEGIES, CompareFaceMiner

SIZES = [1, 2, 3, 4, 6, 9, 25, 1, 12]  # two single-image identities, several with < k+1 images


def _data(seed=0, dim=16, sizes=SIZES):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(s, 10 + 3 * c) for c, s in enumerate(sizes)])  # non-contiguous label values
    rng.shuffle(labels)
    # continuous random features with random norms: no ties, and normalization matters
    x = rng.standard_normal((len(labels), dim)).astype(np.float32)
    x *= rng.uniform(0.2, 5.0, (len(labels), 1)).astype(np.float32)
    return x, labels


def _brute(x, labels, k):
    """Normalized Euclidean distance, same identity, self excluded, k nearest; -1 padded."""
    xn = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    nb = np.full((len(x), k), -1, dtype=np.int64)
    dist = np.full((len(x), k), np.inf)
    for i in range(len(x)):
        others = np.flatnonzero((labels == labels[i]) & (np.arange(len(x)) != i))
        d = np.linalg.norm(xn[others] - xn[i], axis=1)
        o = np.argsort(d)[:k]
        nb[i, : len(o)] = others[o]
        dist[i, : len(o)] = d[o]
    return nb, dist


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_topk_equals_brute_force(k, strategy):
    x, labels = _data()
    ref, ref_d = _brute(x, labels, k)
    m = CompareFaceMiner(x, labels, k=k, strategy=strategy, singleton="exclude")
    assert m.neighbors.shape == (len(x), k) and m.neighbors.dtype == np.int64
    np.testing.assert_array_equal(m.neighbors, ref)
    finite = np.isfinite(ref_d)
    np.testing.assert_allclose(m.distances[finite], ref_d[finite], atol=1e-5)
    assert np.all(np.isinf(m.distances[~finite]))
    # fewer than k+1 images: all the others are kept, the rest padded with -1
    counts = {c: int((labels == c).sum()) for c in np.unique(labels)}
    expected_valid = np.array([min(k, counts[c] - 1) for c in labels])
    np.testing.assert_array_equal(m.num_candidates, expected_valid)


def test_default_is_paper_k3_and_features_untouched():
    x, labels = _data()
    x0 = x.copy()
    m = CompareFaceMiner(x, labels)
    assert m.k == 3 and m.mode == "topk"
    np.testing.assert_array_equal(x, x0)


def test_torch_inputs_accepted():
    torch = pytest.importorskip("torch")
    x, labels = _data()
    a = CompareFaceMiner(torch.from_numpy(x), torch.from_numpy(labels), k=2)
    b = CompareFaceMiner(x, labels, k=2)
    np.testing.assert_array_equal(a.neighbors, b.neighbors)


def test_duplicates_are_neighbours_but_never_self():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 8)).astype(np.float32)
    x[1] = x[0]
    x[2] = x[0] * 3  # same direction: distance 0 after normalization
    labels = np.zeros(6, dtype=np.int64)
    m = CompareFaceMiner(x, labels, k=3)
    for i in range(6):
        assert i not in m.neighbors[i]
    assert set(m.neighbors[0, :2]) == {1, 2}
    np.testing.assert_allclose(m.distances[0, :2], 0.0, atol=1e-3)


def test_draw_uniform_over_k():
    x, labels = _data()
    m = CompareFaceMiner(x, labels, k=3)
    i = int(np.flatnonzero(labels == 10 + 3 * 6)[0])  # in the 25-image identity
    draws = m.draw_batch(np.full(30000, i), np.random.default_rng(0))
    values, counts = np.unique(draws, return_counts=True)
    assert set(values) == set(m.neighbors[i])
    assert abs(counts / 30000 - 1 / 3).max() < 0.02  # uniform over the k = 3
    # draw() and the torch generator path agree on the candidate set
    assert m.draw(i, np.random.default_rng(1)) in m.neighbors[i]
    torch = pytest.importorskip("torch")
    t = m.draw_batch(torch.full((100,), i), torch.Generator().manual_seed(0))
    assert isinstance(t, torch.Tensor) and set(t.tolist()) <= set(m.neighbors[i].tolist())


def test_draw_is_reproducible_with_seeded_generator():
    x, labels = _data()
    m = CompareFaceMiner(x, labels, k=3)
    idx = np.arange(len(labels))
    a = m.draw_batch(idx, np.random.default_rng(5))
    b = m.draw_batch(idx, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    for i, j in zip(idx, a):
        assert j in m.candidates(i)


def test_random_mode_covers_class_minus_self_uniformly():
    x, labels = _data()
    m = CompareFaceMiner(x, labels, mode="random", seed=0)
    assert m.neighbors.shape == (len(x), 0)
    big = labels == 10 + 3 * 6  # the 25-image identity
    i = int(np.flatnonzero(big)[3])
    n = 48000
    draws = m.draw_batch(np.full(n, i))
    values, counts = np.unique(draws, return_counts=True)
    expected = set(np.flatnonzero(big)) - {i}
    assert set(values) == expected  # the whole class except itself
    assert abs(counts / n - 1 / 24).max() < 0.01
    np.testing.assert_array_equal(np.sort(m.candidates(i)), sorted(expected))
    # every draw of every image stays in its class and never returns itself (non-singletons)
    idx = np.repeat(np.arange(len(x)), 20)
    d = m.draw_batch(idx)
    ok = ~np.isin(idx, m.singletons)
    assert np.all(labels[d] == labels[idx])
    assert np.all(d[ok] != idx[ok])


@pytest.mark.parametrize("mode", ["topk", "random"])
def test_singleton_rules(mode):
    x, labels = _data()
    single = np.flatnonzero(np.isin(labels, [10, 10 + 3 * 7]))
    m = CompareFaceMiner(x, labels, k=3, mode=mode, singleton="self")
    np.testing.assert_array_equal(m.singletons, np.sort(single))
    assert m.usable.all()
    np.testing.assert_array_equal(m.draw_batch(single), single)  # falls back to itself
    if mode == "topk":
        np.testing.assert_array_equal(m.neighbors[single, 0], single)
        np.testing.assert_array_equal(m.distances[single, 0], 0.0)
    e = CompareFaceMiner(x, labels, k=3, mode=mode, singleton="exclude")
    np.testing.assert_array_equal(e.singletons, np.sort(single))
    assert not e.usable[single].any() and e.usable.sum() == len(x) - len(single)
    if mode == "topk":
        assert np.all(e.neighbors[single] == -1)
    with pytest.raises(ValueError, match="usable"):
        e.draw(int(single[0]))
    ok = np.flatnonzero(e.usable)
    assert np.all(labels[e.draw_batch(ok)] == labels[ok])
    assert e.summary()["singletons"] == 2


def test_save_load_round_trip_and_stale_detection(tmp_path):
    x, labels = _data()
    m = CompareFaceMiner(x, labels, k=4, singleton="exclude")
    path = m.save(tmp_path / "data" / "compare_faces.npz")
    assert not list(path.parent.glob(".*.tmp"))  # atomic: no temp file left behind
    r = CompareFaceMiner.load(path, features=x, labels=labels)
    np.testing.assert_array_equal(r.neighbors, m.neighbors)
    np.testing.assert_array_equal(r.distances, m.distances)
    np.testing.assert_array_equal(r.labels, m.labels)
    np.testing.assert_array_equal(r.usable, m.usable)
    np.testing.assert_array_equal(r.singletons, m.singletons)
    assert (r.k, r.mode, r.singleton) == (4, "topk", "exclude")
    with np.load(path, allow_pickle=False) as z:  # the documented keys, readable without pickle
        assert {"neighbors", "distances", "labels", "k", "mode", "fingerprint"} <= set(z.files)
        assert int(z["k"]) == 4 and str(z["mode"]) == "topk"
    x2 = x.copy()
    x2[0, 0] += 1e-3
    with pytest.raises(ValueError, match="stale"):
        CompareFaceMiner.load(path, features=x2)
    labels2 = labels.copy()
    labels2[[0, 1]] = labels2[[1, 0]] if labels2[0] != labels2[1] else (labels2[0], labels2[1] + 1)
    with pytest.raises(ValueError, match="stale"):
        CompareFaceMiner.load(path, labels=labels2)
    rr = CompareFaceMiner(x, labels, mode="random")
    back = CompareFaceMiner.load(rr.save(tmp_path / "r.npz"), labels=labels)
    assert back.mode == "random" and back.k is None
    np.testing.assert_array_equal(back.num_candidates, rr.num_candidates)


def test_load_refuses_corrupt_file(tmp_path):
    x, labels = _data()
    path = CompareFaceMiner(x, labels).save(tmp_path / "cf.npz")
    raw = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="trunc.npz"):
        CompareFaceMiner.load(tmp_path / "trunc.npz")
    with pytest.raises(FileNotFoundError):
        CompareFaceMiner.load(tmp_path / "missing.npz")


def test_bad_inputs():
    x, labels = _data()
    with pytest.raises(ValueError, match="labels"):
        CompareFaceMiner(x, labels[:-1])
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CompareFaceMiner(bad, labels)
    with pytest.raises(ValueError, match="mode"):
        CompareFaceMiner(x, labels, mode="nearest")
    with pytest.raises(ValueError, match="singleton"):
        CompareFaceMiner(x, labels, singleton="drop")


@pytest.mark.slow
def test_cli_mine(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("lrfr.recognition.mobilefacenet")
    import lrfr.recognition as rec
    from lrfr.cli import main
    from lrfr.io import write_image

    rng = np.random.default_rng(0)
    data = tmp_path / "train"
    for i, per in enumerate([5, 3, 1]):  # the last identity has one image
        for j in range(per):
            write_image(data / f"Id_{i}" / f"Id_{i}_{j + 1:04d}.png", rng.integers(0, 256, (112, 96, 3)).astype(np.uint8))
    torch.manual_seed(0)
    weights = rec.save_recognizer(rec.build("mobilefacenet"), tmp_path / "mfn.pt")
    assert main(["mine", "--data", str(data), "--recognizer", "mobilefacenet", "--weights", str(weights),
                 "--k", "3", "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "singletons" in printed and "Id_2" in printed
    m = CompareFaceMiner.load(data / "compare_faces.npz")
    assert m.k == 3 and len(m) == 9 and len(m.singletons) == 1
    assert sorted(m.num_candidates.tolist()) == [1, 2, 2, 2, 3, 3, 3, 3, 3]
