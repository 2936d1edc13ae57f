"""The cross-resolution setting of lrfr.evaluate: HR gallery / first image, LR → SR probes / second image.

Tiny real runs (a small SynthFaces export, a small random recognizer); the protocols' ``run`` is
wrapped only to record the features it is handed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lrfr
import lrfr.recognition
from lrfr.data.synth import SynthFaces
from lrfr.evaluation import cross_resolution_data
from lrfr.embedding import clear_cache
from lrfr.protocols.blufr import BlufrProtocol
from lrfr.protocols.lfw import LFWProtocol

SPEC = "blur:sigma=1.2,down:bicubic,noise:gauss=0.02,jpeg:q=40"


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return SynthFaces(n_identities=12, images_per_identity=4, seed=7, identity_offset=900).export(
        root, n_folds=10, pairs_per_fold=2, progress=False)


@pytest.fixture(scope="module")
def recognizer():
    torch.manual_seed(0)
    return lrfr.recognition.build("sphere20a", width=0.125, embedding_dim=16).eval()


class Identity(torch.nn.Module):
    """SR = identity (scale 1): with no degradation the LR side is the HR image."""

    name = "identity"
    scale = 1

    def forward(self, x):
        return x


@pytest.fixture
def seen(monkeypatch):
    """{protocol: [(data, features), ...]} as the protocols' run receives them."""
    got = {"lfw": [], "blufr": []}
    for cls, name in ((LFWProtocol, "lfw"), (BlufrProtocol, "blufr")):
        real = cls.run

        def record(self, data, features, _real=real, _name=name):
            got[_name].append((data, np.array(features)))
            return _real(self, data, features)

        monkeypatch.setattr(cls, "run", record)
    return got


def run(export, recognizer, tmp_path, sr, **kw):
    return lrfr.evaluate(sr, protocol=["lfw", "blufr"], recognizer=recognizer, data=export, workdir=tmp_path,
                         progress=False, **kw)


def test_identity_sr_without_degradation_agrees_with_hr_in_both_settings(export, recognizer, tmp_path):
    clear_cache()
    hr = run(export, recognizer, tmp_path, "hr")
    cols = ["accuracy_mean", "vr@far=1%", "dir@rank=1,far=1%_mean", "cmc@rank=1_mean"]
    for setting in ("both_low", "cross"):
        t = run(export, recognizer, tmp_path, Identity(), scale=1, setting=setting)
        assert list(t["setting"]) == [setting, setting]
        for c in cols:
            np.testing.assert_array_equal(t[c].to_numpy(), hr[c].to_numpy(), err_msg=f"{setting} {c}")


def test_cross_degrades_only_the_probes(export, recognizer, tmp_path, seen):
    clear_cache()
    run(export, recognizer, tmp_path, "hr")
    (lfw_data, lfw_hr), (blufr_data, blufr_hr) = seen["lfw"][0], seen["blufr"][0]
    hr_of = {("lfw", str(p)): f for p, f in zip(lfw_data.image_paths, lfw_hr)}
    hr_of.update({("blufr", str(p)): f for p, f in zip(blufr_data.image_paths, blufr_hr)})
    table = run(export, recognizer, tmp_path, "bicubic", degrade=SPEC, setting="cross")
    (lfw_x, lfw_f), (blufr_x, blufr_f) = seen["lfw"][1], seen["blufr"][1]

    # verification: every pair's first image has its HR features, every second image other ones
    first, second = lfw_x.pair_index[:, 0], lfw_x.pair_index[:, 1]
    for i in np.unique(first):
        np.testing.assert_array_equal(lfw_f[i], hr_of["lfw", str(lfw_x.image_paths[i])])
    for i in np.unique(second):
        assert not np.allclose(lfw_f[i], hr_of["lfw", str(lfw_x.image_paths[i])])
    # the pairs are the protocol's pairs, only re-indexed
    orig = lfw_data.pair_index
    assert [(str(lfw_x.image_paths[a]), str(lfw_x.image_paths[b])) for a, b in lfw_x.pair_index] == \
        [(str(lfw_data.image_paths[a]), str(lfw_data.image_paths[b])) for a, b in orig]
    # BLUFR: the gallery at HR, the probes LR → SR
    for t in range(len(blufr_x.gal_index)):
        for i in blufr_x.gal_index[t]:
            np.testing.assert_array_equal(blufr_f[i], hr_of["blufr", str(blufr_x.image_paths[i])])
        for i in blufr_x.prob_index[t]:
            assert not np.allclose(blufr_f[i], hr_of["blufr", str(blufr_x.image_paths[i])])
        assert (blufr_x.labels[blufr_x.gal_index[t]] == blufr_data.labels[blufr_data.gal_index[t]]).all()
    # the rows name the setting; BLUFR's all-pairs verification is no cross figure
    row = table.set_index("protocol")
    assert set(table["setting"]) == {"cross"}
    assert np.isnan(row.loc["blufr", "vr@far=0.1%_mean"]) and np.isfinite(row.loc["blufr", "dir@rank=1,far=1%_mean"])
    assert np.isfinite(row.loc["lfw", "accuracy_mean"]) and 5 < row.loc["lfw", "psnr"] < 40


def test_both_low_degrades_every_image(export, recognizer, tmp_path, seen):
    clear_cache()
    run(export, recognizer, tmp_path, "hr")
    run(export, recognizer, tmp_path, "bicubic", degrade=SPEC)
    (_, hr_f), (_, low_f) = seen["lfw"][0], seen["lfw"][1]
    assert not np.isclose(hr_f, low_f).all(axis=1).any()


def test_cross_data_puts_an_image_used_both_ways_on_both_sides(export):
    data = lrfr.protocols.get("lfw").prepare(export)
    cross, n_hr = cross_resolution_data(data)
    assert n_hr == len(np.unique(data.pair_index[:, 0]))
    assert len(cross.image_paths) == n_hr + len(np.unique(data.pair_index[:, 1]))
    assert (cross.pair_index[:, 0] < n_hr).all() and (cross.pair_index[:, 1] >= n_hr).all()


def test_cli_setting_cross(export, tmp_path):
    import pandas as pd

    from lrfr.cli import main

    out = tmp_path / "out"
    assert main(["evaluate", "--sr", "bicubic", "--protocol", "lfw", "--data", str(export), "--setting", "cross",
                 "--degrade", SPEC, "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table["setting"]) == ["cross"] and list(table["degrade"]) == [SPEC]

