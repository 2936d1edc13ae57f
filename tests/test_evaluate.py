"""lrfr.evaluate on a small SynthFaces export with a small random recognizer (real parts, tiny sizes)."""
import numpy as np
import pytest
import torch

import lrfr
import lrfr.recognition
from lrfr.data.synth import SynthFaces
from lrfr.features import clear_cache


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


def test_features_are_cached_across_protocols_and_calls(export, tiny_recognizer, tmp_path, monkeypatch):
    clear_cache()
    calls = []
    real_embed = lrfr.recognition.embed

    def counting(model, images, **kw):
        calls.append(len(images))
        return real_embed(model, images, **kw)

    monkeypatch.setattr(lrfr.recognition, "embed", counting)
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
    with pytest.raises(KeyError, match="bicubic"):
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

    from lrfr.features import model_key, module_digest

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
    from lrfr import features
    from lrfr.features import extract, set_cache_entries

    clear_cache()
    paths = sorted((export / "images").rglob("*.jpg"))[:4]
    gen = _Upsample()
    old = features.CACHE_ENTRIES
    try:
        set_cache_entries(3)
        firsts = []
        for step in range(6):
            with torch.no_grad():
                gen.gain.fill_(1.0 + 0.01 * step)  # an optimizer step, in place
            f, _, _ = extract(paths, gen, tiny_recognizer, scale=8, flip=None, progress=False)
            firsts.append(f[0].copy())
            assert len(features._CACHE) <= 3
        assert not np.allclose(firsts[0], firsts[-1])  # each step's weights were embedded, not a stale entry
        with torch.no_grad():
            gen.gain.fill_(1.05)  # the last step's weights again: served from the cache
        calls = []
        real = lrfr.recognition.embed
        lrfr.recognition.embed = lambda *a, **k: calls.append(1) or real(*a, **k)
        try:
            f, _, _ = extract(paths, gen, tiny_recognizer, scale=8, flip=None, progress=False)
        finally:
            lrfr.recognition.embed = real
        assert not calls and np.array_equal(f[0], firsts[-1])
        set_cache_entries(0)
        assert len(features._CACHE) == 0
    finally:
        set_cache_entries(old)
        clear_cache()
