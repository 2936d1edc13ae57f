"""Deployable thresholds: the operating-point statistics, `lrfr calibrate`, and `lrfr index` using a
calibrated threshold and refusing a gallery of other weights (small real runs)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lrfr.calibration import Calibration, CalibrationFileError
from lrfr.cli import main
from lrfr.data.synth import SynthFaces
from lrfr.fingerprint import FingerprintMismatchError, check_fingerprint
from lrfr.index.gallery import GalleryIndex
from lrfr.metrics.roc import vr_at_far
from lrfr.metrics.thresholds import CalibrationError, min_impostors, operating_point


def test_threshold_follows_lrfrs_far_rule_and_the_intervals_cover():
    rng = np.random.default_rng(0)
    imp = rng.normal(0.0, 0.1, 20_000).astype(np.float32)
    gen = rng.normal(0.5, 0.1, 2_000)
    p = operating_point(gen, imp, 1e-3)
    assert p.threshold == pytest.approx(float(vr_at_far(gen, imp, [1e-3]).threshold[0]))
    assert p.n_false_accepts == 20 and p.achieved_far == pytest.approx(1e-3)
    assert p.far_ci[0] < 1e-3 < p.far_ci[1] and p.threshold_ci[0] < p.threshold < p.threshold_ci[1]
    assert p.tar == pytest.approx(float((gen >= p.threshold).mean()))
    # coverage: over repeated draws the interval holds the true 99.9% quantile of N(0, 0.1) about 95% of the time
    true_q = 0.1 * 3.090232306167813
    hits = 0
    for seed in range(200):
        draw = np.random.default_rng(seed + 1).normal(0.0, 0.1, 5_000).astype(np.float32)
        lo, hi = operating_point(gen, draw, 1e-3).threshold_ci
        hits += lo <= true_q <= hi
    assert 0.9 <= hits / 200 <= 1.0
    # fewer impostors → a wider interval
    few = operating_point(gen, imp[:2_000], 1e-2)
    many = operating_point(gen, imp, 1e-2)
    assert np.diff(few.far_ci)[0] > np.diff(many.far_ci)[0]


def test_too_few_impostors_is_refused_with_the_number_needed():
    assert min_impostors(1e-4) == 5_000 and min_impostors(1e-2) == 50
    with pytest.raises(CalibrationError, match=r"FAR 0\.0001 needs at least 5,000 impostor pairs.*got 4,999"):
        operating_point([0.9], np.zeros(4_999), 1e-4)
    operating_point([0.9], np.linspace(0, 0.5, 5_000), 1e-4)  # the minimum is enough


def test_fingerprint_check_names_both():
    a = {"recognizer": "sphere20a", "weights_sha256": "aa", "flip": "concat"}
    check_fingerprint(a, dict(a), "gallery g")
    check_fingerprint(None, a, "an old gallery")  # nothing recorded: nothing to compare
    with pytest.raises(FingerprintMismatchError, match=r"gallery g .*flip differ.*flip=concat\].*flip=sum\]"):
        check_fingerprint(a, {**a, "flip": "sum"}, "gallery g")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return SynthFaces(n_identities=12, images_per_identity=4, seed=3, identity_offset=800).export(
        root, n_folds=10, pairs_per_fold=2, progress=False)


def test_calibrate_then_search_with_the_calibrated_threshold(export, tmp_path, capsys):
    """lrfr calibrate on a BLUFR trial (packaged recognizer) → the gallery keeps it → search uses it;
    other weights are refused by name."""
    import pandas as pd

    import lrfr.recognition
    from lrfr.weights import packaged_path

    cal_file = tmp_path / "cal.json"
    assert main(["calibrate", "--protocol", "blufr", "--data", str(export), "--far", "1e-2", "--out", str(cal_file),
                 "--device", "cpu", "--quiet"]) == 0
    assert "FAR" not in capsys.readouterr().err
    cal = Calibration.load(cal_file)
    point = cal.points[0]
    assert cal.fingerprint["recognizer"] == "sphere20a" and cal.fingerprint["flip"] == "concat"
    assert len(cal.fingerprint["weights_sha256"]) == 64 and cal.sr == "hr" and cal.source["trial"] == 1
    assert point.far == 0.01 and point.n_impostor == cal.source["n_impostor"] > 100
    assert point.threshold_ci[0] <= point.threshold <= point.threshold_ci[1]
    with pytest.raises(CalibrationError, match="no threshold calibrated at FAR 0.001"):
        cal.threshold(1e-3)

    gallery = tmp_path / "g.lrfr"
    weights = packaged_path("sphere20a_synth.pt")
    assert main(["index", "build", "--data", str(export / "images"), "--weights", str(weights), "--out", str(gallery),
                 "--calibration", str(cal_file), "--device", "cpu", "--quiet"]) == 0
    g = GalleryIndex.load(gallery)
    assert g.meta["fingerprint"] == cal.fingerprint and g.meta["calibration"]["points"][0]["far"] == 0.01

    probe = sorted((export / "images").iterdir())[0]
    csv = tmp_path / "hits.csv"
    capsys.readouterr()
    assert main(["index", "search", "--index", str(gallery), "--images", str(probe), "--far", "1e-2",
                 "--csv", str(csv), "--device", "cpu", "--quiet"]) == 0
    assert f"threshold {point.threshold:.4f}: calibrated at FAR 0.01" in capsys.readouterr().out
    hits = pd.read_csv(csv)
    assert list(hits["accepted"]) == list(hits["score"] >= np.float32(point.threshold))
    assert hits["accepted"].all()  # the gallery's own images find themselves (score 1)

    torch.manual_seed(0)
    other = lrfr.recognition.save_recognizer(lrfr.recognition.build("sphere20a", width=0.125), tmp_path / "o.pt")
    assert main(["index", "search", "--index", str(gallery), "--images", str(probe), "--weights", str(other),
                 "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "gallery recognizer (weights differ)" in err and cal.fingerprint["weights_sha256"] in err
    # a calibration of other weights is refused at build time too
    assert main(["index", "build", "--data", str(export / "images"), "--weights", str(other), "--out",
                 str(tmp_path / "g2.lrfr"), "--calibration", str(cal_file), "--device", "cpu", "--quiet"]) == 2
    assert "calibration" in capsys.readouterr().err


def test_a_file_that_is_not_a_calibration(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"format": "something/1"}))
    with pytest.raises(CalibrationFileError, match=r"c\.json: format 'something/1', expected 'lrfr-calibration/1'"):
        Calibration.load(p)
    p.write_text("{not json")
    with pytest.raises(CalibrationFileError, match="not a calibration file"):
        Calibration.load(p)
