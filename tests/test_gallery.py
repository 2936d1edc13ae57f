"""GalleryIndex: exact cosine search, approximate kinds, open-set identify, save/load."""
from __future__ import annotations

import numpy as np
import pytest

from lrfr.index import GalleryIndex
from lrfr.index import backends


def _gallery_data(n=300, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32) * rng.uniform(0.5, 4, (n, 1)).astype(np.float32)
    labels = rng.integers(0, 40, n)
    names = [f"id{l:03d}/img_{i:04d}.jpg" for i, l in enumerate(labels)]
    return x, labels, names


def _brute(gallery, probes, k):
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    p = probes / np.linalg.norm(probes, axis=1, keepdims=True)
    s = p.astype(np.float64) @ g.T.astype(np.float64)
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, axis=1), idx


def test_flat_search_equals_brute_force_cosine():
    x, labels, names = _gallery_data()
    probes = np.random.default_rng(1).standard_normal((25, 32)).astype(np.float32)
    g = GalleryIndex(32, device="cpu").add(x, labels, names)
    assert len(g) == 300 and g.kind == "flat"
    res = g.search(probes, k=7)
    scores, idx = res  # unpacks like a tuple
    ref_s, ref_i = _brute(x, probes, 7)
    assert scores.dtype == np.float32 and idx.dtype == np.int64 and idx.shape == (25, 7)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(scores, ref_s, atol=1e-5)
    np.testing.assert_array_equal(res.labels, labels[ref_i])
    assert res.names[3, 0] == names[ref_i[3, 0]]
    df = res.to_frame([f"p{i}" for i in range(25)])
    assert list(df.columns) == ["probe", "rank", "index", "label", "name", "score"] and len(df) == 25 * 7
    assert g.names_of([ref_i[0, 0], -1]).tolist() == [names[ref_i[0, 0]], None]


def test_k_larger_than_gallery_is_padded():
    x, labels, names = _gallery_data(n=5)
    g = GalleryIndex(32, device="cpu").add(x, labels, names)
    res = g.search(x[:2], k=8)
    assert res.indices.shape == (2, 8)
    assert np.all(res.indices[:, 5:] == -1) and np.all(np.isneginf(res.scores[:, 5:]))
    assert np.all(res.labels[:, 5:] == -1) and all(n is None for n in res.names[:, 5:].ravel())
    assert res.indices[0, 0] == 0 and res.scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_add_in_parts_and_after_load(tmp_path):
    x, labels, names = _gallery_data()
    g = GalleryIndex(32, device="cpu")
    g.add(x[:100], labels[:100], names[:100])
    g.save(tmp_path / "g.lrfr")
    g2 = GalleryIndex.load(tmp_path / "g.lrfr")
    g2.add(x[100:], labels[100:], names[100:])
    ref = GalleryIndex(32, device="cpu").add(x, labels, names)
    probes = x[::17] + 0.1
    np.testing.assert_array_equal(g2.search(probes, 5).indices, ref.search(probes, 5).indices)
    assert g2.names == names and np.array_equal(g2.labels, labels)


def test_save_load_round_trip(tmp_path):
    x, labels, names = _gallery_data()
    names[0] = "Zoë Ölçer/ünïcode 01.jpg"
    g = GalleryIndex(32, device="cpu").add(x, labels, names)
    path = g.save(tmp_path / "sub" / "gallery.lrfr")
    assert not list(path.parent.glob(".*.tmp"))
    r = GalleryIndex.load(path, expected_dim=32, device="cpu")
    assert r.params() == g.params() and len(r) == len(g)
    np.testing.assert_array_equal(r.labels, labels)
    assert r.names == names
    np.testing.assert_allclose(r.vectors(), x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_array_equal(r.search(x[:10], 3).indices, g.search(x[:10], 3).indices)


def test_load_refuses_wrong_dim_and_corrupt_files(tmp_path):
    x, labels, names = _gallery_data()
    path = GalleryIndex(32, device="cpu").add(x, labels, names).save(tmp_path / "g.lrfr")
    with pytest.raises(ValueError, match=r"g\.lrfr.*dimension 32, expected 128"):
        GalleryIndex.load(path, expected_dim=128)
    raw = path.read_bytes()
    (tmp_path / "trunc.lrfr").write_bytes(raw[: len(raw) - 100])
    with pytest.raises(ValueError, match=r"trunc\.lrfr.*(corrupt|truncated)"):
        GalleryIndex.load(tmp_path / "trunc.lrfr")
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF  # inside the index bytes: zip CRC or our sha256 catches it
    (tmp_path / "flip.lrfr").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"flip\.lrfr.*(corrupt|truncated)"):
        GalleryIndex.load(tmp_path / "flip.lrfr")
    (tmp_path / "other.lrfr").write_bytes(b"not a gallery at all")
    with pytest.raises(ValueError, match="other.lrfr"):
        GalleryIndex.load(tmp_path / "other.lrfr")
    with pytest.raises(FileNotFoundError):
        GalleryIndex.load(tmp_path / "missing.lrfr")


def test_input_errors():
    x, labels, names = _gallery_data()
    g = GalleryIndex(32, device="cpu")
    with pytest.raises(ValueError, match="dimension 16, expected 32"):
        g.add(x[:, :16], labels, names)
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        g.add(bad, labels, names)
    with pytest.raises(ValueError, match="names"):
        g.add(x, labels, names[:-1])
    with pytest.raises(ValueError, match="labels"):
        g.add(x, labels[:-2], names)
    with pytest.raises(ValueError, match="empty"):
        g.search(x[:1], 1)
    g.add(x, labels, names)
    with pytest.raises(ValueError, match="dimension 31, expected 32"):
        g.search(x[:2, :31], 1)
    with pytest.raises(ValueError, match="kind"):
        GalleryIndex(32, kind="lsh")


def test_identify_open_set():
    rng = np.random.default_rng(3)
    dim = 64
    centres = rng.standard_normal((10, dim)).astype(np.float32)
    labels = np.repeat(np.arange(10), 3)  # three images per identity
    gallery = centres[labels] + 0.3 * rng.standard_normal((30, dim)).astype(np.float32)
    names = [f"person{l}" for l in labels]
    g = GalleryIndex(dim, device="cpu").add(gallery, labels, names)
    known = centres[[4]] + 0.3 * rng.standard_normal((1, dim)).astype(np.float32)
    unknown = rng.standard_normal((1, dim)).astype(np.float32)
    res = g.identify(np.vstack([known, unknown]), threshold=0.5)
    assert res.labels.tolist() == [4, -1]
    assert res.names.tolist() == ["person4", None]
    assert res.accepted.tolist() == [True, False]
    assert res.scores[0] >= 0.5 > res.scores[1]
    # identity score = best of its images: equals the max cosine over identity 4's gallery images
    s, _ = _brute(gallery[labels == 4], known, 3)
    assert res.scores[0] == pytest.approx(s.max(), abs=1e-5)
    # >= accepts: a threshold equal to the score accepts
    at = g.identify(known, threshold=float(res.scores[0]))
    assert at.labels.tolist() == [4]
    assert len(res.to_frame()) == 2


def _clustered(n_ids=50, per=20, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim)).astype(np.float32)
    labels = np.repeat(np.arange(n_ids), per)
    x = centres[labels] + 0.2 * rng.standard_normal((len(labels), dim)).astype(np.float32)
    probes = centres + 0.2 * rng.standard_normal((n_ids, dim)).astype(np.float32)
    return x, labels, probes


@pytest.mark.parametrize("kind,kwargs", [("ivf", {"nlist": 16, "nprobe": 4}), ("hnsw", {"hnsw_m": 16})])
def test_approximate_kinds_mostly_correct(kind, kwargs, tmp_path):
    x, labels, probes = _clustered()
    exact = GalleryIndex(32, device="cpu").add(x, labels).search(probes, 10).indices
    g = GalleryIndex(32, kind=kind, device="cpu", **kwargs).add(x, labels)  # ivf: trained lazily here
    approx = g.search(probes, 10).indices
    assert np.mean(approx[:, 0] == exact[:, 0]) >= 0.9
    assert np.mean(g.labels[approx[:, 0]] == np.arange(50)) >= 0.95
    r = GalleryIndex.load(g.save(tmp_path / f"{kind}.lrfr"))
    assert r.kind == kind and r.params() == g.params()
    np.testing.assert_array_equal(r.search(probes, 10).indices, approx)
    r.add(x[:10], labels[:10])  # adding after load works for approximate kinds too
    assert len(r) == len(x) + 10


def test_ivf_training_rules():
    x, labels, _ = _clustered()
    with pytest.raises(ValueError, match="nlist=64 needs at least 64"):
        GalleryIndex(32, kind="ivf", nlist=64, device="cpu").add(x[:20], labels[:20])
    g = GalleryIndex(32, kind="ivf", device="cpu")  # nlist=None: chosen at training time
    g.train(x)
    assert g.nlist == backends.default_nlist(len(x)) and g.is_trained and len(g) == 0
    g.add(x[:5], labels[:5])
    assert len(g) == 5


def test_device_resolution_without_gpu():
    if backends.num_gpus() > 0:
        pytest.skip("FAISS reports a GPU: the no-GPU rules do not apply")
    assert backends.resolve_device("auto", "flat") == "cpu"
    with pytest.raises(ValueError, match="no GPU"):
        GalleryIndex(8, device="cuda")


def test_gpu_and_cpu_agree():
    if backends.num_gpus() == 0:
        pytest.skip("FAISS reports no GPU (faiss-cpu or no device): GPU/CPU equivalence not testable here")
    x, labels, probes = _clustered()
    cpu = GalleryIndex(32, device="cpu").add(x, labels)
    gpu = GalleryIndex(32, device="cuda").add(x, labels)
    assert gpu.device.startswith("cuda")
    c, g = cpu.search(probes, 5), gpu.search(probes, 5)
    np.testing.assert_array_equal(c.indices, g.indices)
    np.testing.assert_allclose(c.scores, g.scores, atol=1e-4)
    assert GalleryIndex(32, kind="hnsw", device="cuda").device == "cpu"  # no GPU HNSW in FAISS


# ---------------------------------------------------------------------- CLI: lrfr index build/search
def _tiny_face_folder(root, ids=4, per=3, size=(112, 96), seed=0):
    from lrfr.io import write_image

    rng = np.random.default_rng(seed)
    for i in range(ids):
        base = rng.integers(0, 256, (*size, 3))
        for j in range(per):
            img = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
            write_image(root / f"Person_{i}" / f"Person_{i}_{j + 1:04d}.png", img)
    return root


def _tiny_weights(path):
    torch = pytest.importorskip("torch")
    import lrfr.recognition as rec

    torch.manual_seed(0)
    return rec.save_recognizer(rec.build("mobilefacenet"), path)


@pytest.mark.slow
def test_cli_index_build_and_search(tmp_path, capsys):
    pytest.importorskip("lrfr.recognition.mobilefacenet")
    from lrfr.cli import main
    from lrfr.data.resample import downsample
    from lrfr.data.folders import load_images
    from lrfr.io import to_uint8, write_image

    data = _tiny_face_folder(tmp_path / "gallery")
    weights = _tiny_weights(tmp_path / "mfn.pt")
    out = tmp_path / "gallery.lrfr"
    assert main(["index", "build", "--data", str(data), "--recognizer", "mobilefacenet", "--weights", str(weights),
                 "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    g = GalleryIndex.load(out)
    assert len(g) == 12 and g.dim == 256  # 128-d MobileFaceNet, flip-concatenated
    assert g.meta["classes"] == [f"Person_{i}" for i in range(4)]

    # HR probes: the gallery images themselves → each finds itself first
    probes = tmp_path / "probes"
    for p in sorted(data.rglob("*.png"))[:2]:
        (probes / p.name).parent.mkdir(parents=True, exist_ok=True)
        (probes / p.name).write_bytes(p.read_bytes())
    csv = tmp_path / "hits.csv"
    assert main(["index", "search", "--index", str(out), "--images", str(probes), "--k", "3", "--csv", str(csv),
                 "--device", "cpu", "--quiet"]) == 0
    import pandas as pd

    table = pd.read_csv(csv)  # one row a probe: its best identity and image, then the next k - 1 identities
    assert len(table) == 2 and set(table.columns) >= {"probe", "decision", "score", "best_identity", "best_match",
                                                      "identity_2", "score_2", "identity_3", "score_3"}
    assert [n.split("/")[-1] for n in table["best_match"]] == sorted(p.name for p in probes.iterdir())
    assert table["score"].min() == pytest.approx(1.0, abs=1e-4)
    assert (table["score_2"] <= table["score"]).all() and (table["score_3"] <= table["score_2"]).all()

    # LR probes, super-resolved with --sr bicubic; open-set with a threshold nobody reaches → unknown
    lr = tmp_path / "lr"
    hr = load_images(sorted(probes.iterdir()), progress=False)
    for p, img in zip(sorted(probes.iterdir()), to_uint8(downsample(hr, 8))):
        write_image(lr / p.name, img)
    capsys.readouterr()
    assert main(["index", "search", "--index", str(out), "--images", str(lr), "--sr", "bicubic",
                 "--threshold", "1.01", "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "unknown" in printed and "Person_0_0001.png" in printed
    # a missing probe file is a clear one-line error (exit code 2)
    assert main(["index", "search", "--index", str(out), "--images", str(lr / "missing.png"), "--device", "cpu"]) == 2


def test_fingerprint_survives_save_and_a_mismatch_names_both(tmp_path):
    from lrfr.fingerprint import FingerprintMismatchError, recognizer_fingerprint

    fp = recognizer_fingerprint("sphere20a", "ab" * 32, "concat")
    g = GalleryIndex(8)
    g.meta = {"fingerprint": fp}
    g.add(np.eye(8, dtype=np.float32)[:3], np.arange(3))
    loaded = GalleryIndex.load(g.save(tmp_path / "g.lrfr"))
    loaded.require_fingerprint(dict(fp))
    with pytest.raises(FingerprintMismatchError, match=r"g\.lrfr .*flip differ.*flip=concat\].*flip=sum\]"):
        loaded.require_fingerprint({**fp, "flip": "sum"}, f"gallery {tmp_path / 'g.lrfr'}")
    GalleryIndex(8).require_fingerprint(fp)  # a gallery without one (older files): nothing to compare
