"""Pinned results: every lrfr.evaluate row names the weights (sha256), degradation, setting, protocol
config and lrfr version behind it, and the same inputs give a bit-identical table."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch

import lrfr
import lrfr.recognition
from lrfr.data.synth import SynthFaces
from lrfr.evaluation import protocol_config_sha256
from lrfr.embedding import clear_cache
from lrfr.recognition.weights import save_recognizer
from lrfr.weights import packaged_path

SPEC = "motion:length=5,angle=20,down:bicubic,noise:poisson=300,jpeg:q=50"
PINNED = ["recognizer", "recognizer_sha256", "sr", "sr_sha256", "degrade", "degrade_seed", "setting",
          "protocol_config_sha256", "lrfr_version"]


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return SynthFaces(n_identities=10, images_per_identity=3, seed=11, identity_offset=700).export(
        root, n_folds=10, pairs_per_fold=2, progress=False)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    return save_recognizer(lrfr.recognition.build("sphere20a", width=0.125, embedding_dim=16), path)


def evaluate(export, weights, tmp_path, sr=("hr", "bicubic"), protocol=("lfw", "blufr"), **kw):
    return lrfr.evaluate(list(sr), protocol=list(protocol), weights=weights, data=export, workdir=tmp_path,
                         progress=False, **kw)


def test_every_row_names_what_made_it(export, weights, tmp_path):
    table = evaluate(export, weights, tmp_path, degrade=SPEC, degrade_seed=3)
    assert all(c in table for c in PINNED)
    assert set(table["recognizer_sha256"]) == {sha256(weights)} and set(table["recognizer"]) == {"sphere20a"}
    assert list(table["sr_sha256"]) == ["hr", "bicubic", "hr", "bicubic"]
    assert list(table["degrade"]) == ["none", SPEC, "none", SPEC] and set(table["degrade_seed"]) == {3}
    assert set(table["lrfr_version"]) == {lrfr.__version__} and set(table["setting"]) == {"both_low"}
    for proto in ("lfw", "blufr"):
        h = table.loc[table["protocol"] == proto, "protocol_config_sha256"]
        assert set(h) == {protocol_config_sha256(lrfr.protocols.get(proto))}
    pinned = table.attrs["pinned"]
    assert pinned["recognizer_sha256"] == sha256(weights) and pinned["degrade"] == SPEC
    assert pinned["sr_sha256"] == {"hr": "hr", "bicubic": "bicubic"}
    assert pinned["protocol_config_sha256"]["lfw"] != pinned["protocol_config_sha256"]["blufr"]


def test_a_model_file_front_end_is_pinned_by_its_sha256(export, weights, tmp_path):
    table = lrfr.evaluate("packaged:srresnet_synth.pt", protocol="lfw", weights=weights, data=export,
                          workdir=tmp_path, progress=False)
    assert table["sr_sha256"].iloc[0] == sha256(packaged_path("srresnet_synth.pt"))


def test_rerun_is_bit_identical_and_the_seed_matters(export, weights, tmp_path):
    clear_cache()
    a = evaluate(export, weights, tmp_path, sr=["bicubic"], degrade=SPEC)
    clear_cache()  # recompute every feature, not read the cache
    b = evaluate(export, weights, tmp_path, sr=["bicubic"], degrade=SPEC)
    assert a.to_csv(index=False) == b.to_csv(index=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs["pinned"] == b.attrs["pinned"]
    other = evaluate(export, weights, tmp_path, sr=["bicubic"], protocol=["lfw"], degrade=SPEC, degrade_seed=1)
    assert other["psnr"].iloc[0] != a["psnr"].iloc[0]  # another seed, other noise


def test_cli_csv_and_json_carry_the_pins(export, weights, tmp_path):
    from lrfr.cli import main

    out = tmp_path / "out"
    assert main(["evaluate", "--sr", "bicubic", "--protocol", "lfw", "--data", str(export), "--weights", str(weights),
                 "--degrade", SPEC, "--degrade-seed", "5", "--out", str(out), "--quiet"]) == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["recognizer_sha256"] == sha256(weights) and row["degrade"] == SPEC and row["degrade_seed"] == 5
    js = json.loads((out / "results.json").read_text())
    assert js["pinned"]["recognizer_sha256"] == sha256(weights) and js["pinned"]["setting"] == "both_low"
    assert js["rows"][0]["lrfr_version"] == lrfr.__version__ and np.isfinite(js["rows"][0]["accuracy_mean"])


def test_a_malformed_spec_stops_before_any_work(export, weights, tmp_path):
    from lrfr.data.degradations import DegradationSpecError

    with pytest.raises(DegradationSpecError, match="unknown step 'blurr'"):
        evaluate(export, weights, tmp_path, degrade="blurr:sigma=1,down:bicubic")
