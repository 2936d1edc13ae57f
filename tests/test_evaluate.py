"""lrfr.evaluate on a small SynthFaces export with a small random recognizer (real parts, tiny sizes)."""
import numpy as np
import pytest
import torch

import lrfr
import lrfr.recognition
from lrfr.data.synth import SynthFaces
from lrfr.embedding import clear_cache


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return SynthFaces(n_identities=20, images_per_identity=4, seed=5, identity_offset=500).export(
        root, n_folds=10, pairs_per_fold=3, progress=False)


@pytest.fixture(scope="module")
def tiny_recognizer():
    torch.manual_seed(0)
    return lrfr.recognition.build("sphere20a", width=0.125, embedding_dim=32).eval()


def test_rows_columns_and_quality(export, tiny_recognizer, tmp_path):
    clear_cache()
    table = lrfr.evaluate(["hr", "bicubic"], protocol=["lfw", "blufr"], recognizer=tiny_recognizer,
                          data=export, scale=8, workdir=tmp_path, progress=False)
    assert list(zip(table["sr"], table["protocol"])) == [("hr", "lfw"), ("bicubic", "lfw"), ("hr", "blufr"), ("bicubic", "blufr")]
    hr, bic = table.iloc[0], table.iloc[1]
    assert np.isnan(hr["psnr"]) and np.isnan(hr["ssim"])  # no degradation, no quality numbers
    assert 10 < bic["psnr"] < 40 and 0 < bic["ssim"] < 1
    assert 0 <= bic["accuracy_mean"] <= 1 and "threshold_mean" in table
    assert "vr@far=0.1%_mean_minus_std" in table and "dir@rank=1,far=1%_mean_minus_std" in table
    assert set(table.attrs["conventions"]) == {"lfw", "blufr"}
    assert ("bicubic", "blufr") in table.attrs["results"]


@pytest.fixture
def embed_calls(monkeypatch):
    """The number of images of every lrfr.recognition.embed call (a real embed, counted)."""
    calls = []
    real_embed = lrfr.recognition.embed

    def counting(model, images, **kw):
        calls.append(len(images))
        return real_embed(model, images, **kw)

    monkeypatch.setattr(lrfr.recognition, "embed", counting)
    return calls


def test_features_are_cached_across_protocols_and_calls(export, tiny_recognizer, tmp_path, embed_calls):
    clear_cache()
    calls = embed_calls
    lrfr.evaluate("bicubic", protocol="blufr", recognizer=tiny_recognizer, data=export, workdir=tmp_path, progress=False)
    n_first = sum(calls)
    assert n_first == 80  # every exported image once
    again = lrfr.evaluate("bicubic", protocol=["lfw", "blufr"], recognizer=tiny_recognizer, data=export,
                          workdir=tmp_path, progress=False)
    assert sum(calls) == n_first  # LFW's pair images are a subset of BLUFR's: nothing recomputed
    lrfr.evaluate("bicubic", protocol="lfw", recognizer=tiny_recognizer, data=export, workdir=tmp_path,
                  progress=False, scale=4)
    assert sum(calls) > n_first  # another scale is another feature set
    assert len(again) == 2


def test_each_row_says_where_its_time_went(export, tiny_recognizer, tmp_path):
    clear_cache()
    first = lrfr.evaluate(["hr", "bicubic"], protocol="blufr", recognizer=tiny_recognizer, data=export,
                          workdir=tmp_path, progress=False)
    seconds = first.attrs["seconds"]
    assert set(seconds) == {("hr", "blufr"), ("bicubic", "blufr")}
    stages = ("read", "degrade", "sr", "quality", "embed", "protocol")
    for key, s in seconds.items():
        assert tuple(s) == stages and all(v >= 0 for v in s.values()), key
        assert s["read"] > 0 and s["embed"] > 0 and s["protocol"] > 0
    hr, bic = seconds[("hr", "blufr")], seconds[("bicubic", "blufr")]
    assert hr["degrade"] == hr["sr"] == hr["quality"] == 0  # HR is neither degraded nor super-resolved
    assert bic["degrade"] > 0 and bic["sr"] > 0 and bic["quality"] > 0
    # a second call finds every feature in the cache: nothing is read or embedded again
    again = lrfr.evaluate("bicubic", protocol="blufr", recognizer=tiny_recognizer, data=export, workdir=tmp_path,
                          progress=False).attrs["seconds"][("bicubic", "blufr")]
    assert all(again[k] == 0 for k in stages[:-1]) and again["protocol"] > 0


def test_an_sr_model_that_does_not_restore_the_size_is_named(export, tiny_recognizer, tmp_path):
    class Half(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")

    with pytest.raises(ValueError, match=r"Half.*\(56, 48\).*\(112, 96\).*scale 8"):
        lrfr.evaluate(Half(), protocol="lfw", recognizer=tiny_recognizer, data=export, workdir=tmp_path,
                      progress=False, cache=False)


def test_bad_arguments(export, tiny_recognizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        lrfr.evaluate("bicubic", protocol="lfw", recognizer=tiny_recognizer, data=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="needs weights"):
        lrfr.evaluate("bicubic", protocol="lfw", recognizer="mobilefacenet", data=export)
    with pytest.raises(KeyError, match="known"):
        lrfr.evaluate("bicubic", protocol="lfv", recognizer=tiny_recognizer, data=export)
    with pytest.raises(ValueError, match="'bicubik': not 'bicubic', not a model file"):
        lrfr.evaluate("bicubik", protocol="lfw", recognizer=tiny_recognizer, data=export, workdir=tmp_path,
                      progress=False)


def test_cli_evaluate_writes_table_and_figures(export, tmp_path, capsys):
    from lrfr.cli import main

    out = tmp_path / "out"
    assert main(["evaluate", "--sr", "hr", "bicubic", "--protocol", "lfw", "blufr", "--data", str(export),
                 "--out", str(out), "--workdir", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "== lfw" in printed and "== blufr" in printed and "bicubic" in printed
    for name in ("results.csv", "results.json", "roc.png", "cmc.png"):
        assert (out / name).stat().st_size > 0


class _Upsample(torch.nn.Module):
    """A learnable-looking SR model: bicubic upsampling times a parameter (1.0 = bicubic)."""

    def __init__(self, scale=8, gain=1.0):
        super().__init__()
        self.scale = scale
        self.gain = torch.nn.Parameter(torch.tensor(float(gain)))
        self.bn = torch.nn.BatchNorm2d(3)

    def forward(self, x):
        up = torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return up * self.gain


def test_module_digest_sees_buffers_and_permutations_and_plain_attributes():
    import copy

    from lrfr.embedding import model_key
    from lrfr.fingerprint import module_digest

    a = _Upsample()
    assert module_digest(a) == module_digest(copy.deepcopy(a))  # the same weights: the same key
    b = copy.deepcopy(a)
    b.bn.running_mean += 0.5  # a buffer (the old parameter-sum key did not see it)
    assert module_digest(b) != module_digest(a)
    c = copy.deepcopy(a)
    with torch.no_grad():
        c.bn.weight.copy_(torch.tensor([3.0, 1.0, 2.0]))
        a.bn.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))  # same sum, other weights
    assert module_digest(c) != module_digest(a)
    assert module_digest(_Upsample(scale=4)) != module_digest(_Upsample(scale=8))  # a plain attribute
    assert model_key(lambda x: x) is None  # an arbitrary callable cannot be fingerprinted: not cached


def test_feature_cache_is_bounded_while_a_generator_trains(export, tiny_recognizer):
    """Evaluating a changing generator again and again keeps at most CACHE_ENTRIES feature sets."""
    from lrfr import embedding
    from lrfr.embedding import extract_features, set_cache_entries

    clear_cache()
    paths = sorted((export / "images").rglob("*.jpg"))[:4]
    gen = _Upsample()
    old = embedding.CACHE_ENTRIES
    try:
        set_cache_entries(3)
        firsts = []
        for step in range(6):
            with torch.no_grad():
                gen.gain.fill_(1.0 + 0.01 * step)  # an optimizer step, in place
            f = extract_features(paths, gen, tiny_recognizer, scale=8, flip=None, progress=False).features
            firsts.append(f[0].copy())
            assert len(embedding._CACHE) <= 3
        assert not np.allclose(firsts[0], firsts[-1])  # each step's weights were embedded, not a stale entry
        with torch.no_grad():
            gen.gain.fill_(1.05)  # the last step's weights again: served from the cache
        calls = []
        real = lrfr.recognition.embed
        lrfr.recognition.embed = lambda *a, **k: calls.append(1) or real(*a, **k)
        try:
            f = extract_features(paths, gen, tiny_recognizer, scale=8, flip=None, progress=False).features
        finally:
            lrfr.recognition.embed = real
        assert not calls and np.array_equal(f[0], firsts[-1])
        set_cache_entries(0)
        assert len(embedding._CACHE) == 0
    finally:
        set_cache_entries(old)
        clear_cache()


def test_fast_rows_say_bf16_and_how_far_it_moved_the_features(export, tmp_path):
    """fast=True embeds in bf16 under its own cache key; every row names its precision, and a fast row
    reports the bf16 vs fp32 cosine of its first faces (a real check: an fp32 row has none)."""
    clear_cache()
    torch.manual_seed(0)
    rec = lrfr.recognition.build("mobilefacenet").eval()  # BatchNorm: the CPU default folds it
    exact = lrfr.evaluate("bicubic", protocol="lfw", recognizer=rec, data=export, workdir=tmp_path, progress=False)
    fast = lrfr.evaluate("bicubic", protocol="lfw", recognizer=rec, data=export, workdir=tmp_path, progress=False,
                         fast=True)
    assert exact.iloc[0]["embed_precision"] == "fp32" and "fast_check_faces" not in exact
    row = fast.iloc[0]
    assert row["embed_precision"] == "bf16" and fast.attrs["pinned"]["embed_precision"] == "bf16"
    assert row["fast_check_faces"] == min(lrfr.embedding.FAST_CHECK_FACES, row["n_images"])
    assert 0.98 < row["fast_check_cosine_min"] < 1.0 and row["fast_check_cosine_min"] <= row["fast_check_cosine_mean"]
    assert fast.attrs["seconds"][("bicubic", "lfw")]["embed"] > 0  # embedded again, not read from fp32's cache
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        lrfr.embedding.extract_features([], "bicubic", rec, scale=8, flip=None, precision="int8")


def test_blufr_with_the_mirrored_matrix_equals_the_full_row_matrix(export, tiny_recognizer, tmp_path, monkeypatch):
    """On a SynthFaces export, BLUFR's full grid with the mirrored similarity matrix (half the products)
    gives exactly the numbers of the matrix computed as full rows (the code before it); its VR also equals
    the per-trial path's (similarity_cache_mb = 0: one chunked matmul per trial)."""
    import torch

    import lrfr.protocols.blufr as blufr
    from lrfr import protocols

    def full_rows(features, chunk=1024, device=None):
        x = torch.nn.functional.normalize(torch.as_tensor(np.ascontiguousarray(features)), dim=1)
        return np.concatenate([(x[a:a + chunk] @ x.T).numpy() for a in range(0, len(x), chunk)])

    def run(mb=1024):
        clear_cache()
        t = lrfr.evaluate("bicubic", protocol=protocols.get("blufr", similarity_cache_mb=mb, progress=False),
                          recognizer=tiny_recognizer, data=export, workdir=tmp_path, progress=False)
        return t.attrs["results"][("bicubic", "blufr")]

    mirrored, per_trial = run(), run(0)
    monkeypatch.setattr(blufr, "similarity_matrix", full_rows)
    rows = run()
    assert mirrored.summary == rows.summary
    for name in ("roc", "dir", "cmc"):
        for a, b in zip(mirrored.curves[name], rows.curves[name]):
            np.testing.assert_array_equal(a, b)
    vr = [k for k in mirrored.summary if k.startswith("vr@")]
    assert vr and all(mirrored.summary[k] == per_trial.summary[k] for k in vr)


def test_features_on_disk_are_found_again_and_only_for_the_same_settings(export, tiny_recognizer, tmp_path,
                                                                           embed_calls):
    """feature_dir: a second evaluation (memory cache cleared, as in a new process) reads the stored features
    and embeds nothing; another degradation seed, a changed image file or a corrupt store file embed afresh."""
    import os

    store = tmp_path / "features"
    calls = embed_calls

    def run(**kw):
        clear_cache()
        calls.clear()
        return lrfr.evaluate("bicubic", protocol="lfw", recognizer=tiny_recognizer, data=export, workdir=tmp_path,
                             progress=False, feature_dir=store, **kw)

    first = run()
    assert calls and len(list(store.glob("*.npz"))) == 1
    again = run()
    assert calls == []  # nothing embedded: read from the store
    assert again.iloc[0]["accuracy_mean"] == first.iloc[0]["accuracy_mean"]
    assert again.iloc[0]["ssim"] == first.iloc[0]["ssim"]
    assert again.attrs["seconds"][("bicubic", "lfw")]["embed"] == 0.0
    run(degrade_seed=1)
    assert calls and len(list(store.glob("*.npz"))) == 2  # another key, another file
    image = lrfr.protocols.get("lfw").prepare(export).image_paths[0]  # an image the protocol uses
    st = image.stat()
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the same bytes, but a changed file
    run()
    assert calls and len(list(store.glob("*.npz"))) == 3
    for f in store.glob("*.npz"):
        f.write_bytes(b"not an npz")
    run()
    assert calls  # unreadable files are ignored and written again
    run()
    assert calls == []
