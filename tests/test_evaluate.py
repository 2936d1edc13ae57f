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
