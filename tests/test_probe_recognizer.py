"""Asymmetric evaluation: ``lrfr.evaluate(..., probe_recognizer=...)`` embeds the faces that went LR → SR
with a second recognizer and the HR faces with the reference (real parts: a SynthFaces export, two small
random recognizers)."""
import numpy as np
import pytest
import torch

import lrfr
import lrfr.recognition
from lrfr.cli import main
from lrfr.data.synth import SynthFaces
from lrfr.evaluation import cross_resolution_data, resolve_recognizers, setting_features
from lrfr.embedding import clear_cache


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return SynthFaces(n_identities=12, images_per_identity=4, seed=7, identity_offset=700).export(
        root, n_folds=10, pairs_per_fold=2, progress=False)


def _recognizer(seed: int, **kw):
    torch.manual_seed(seed)
    return lrfr.recognition.build("sphere20a", width=0.125, embedding_dim=32, **kw).eval()


@pytest.fixture(scope="module")
def reference():
    return _recognizer(0)


@pytest.fixture(scope="module")
def student():
    return _recognizer(1)


def _features(export, recs, setting, sr="bicubic"):
    from lrfr import protocols

    proto = protocols.get("lfw")
    data = proto.prepare(export)
    n_hr = 0
    if setting == "cross":
        data, n_hr = cross_resolution_data(data)
    ex = setting_features(data, n_hr, sr, recs, scale=8, flip=proto.flip, degrade="bicubic", batch_size=32,
                          device=torch.device("cpu"), progress=False, cache=False)
    return ex.features, n_hr


def test_cross_setting_only_the_probe_side_changes(export, reference, student):
    plain, n_hr = _features(export, resolve_recognizers(reference, None), "cross")
    mixed, n_hr2 = _features(export, resolve_recognizers(reference, None, student), "cross")
    assert n_hr == n_hr2 > 0
    np.testing.assert_array_equal(mixed[:n_hr], plain[:n_hr])  # the HR side: the reference's features
    assert not np.allclose(mixed[n_hr:], plain[n_hr:])  # the LR side: the student's
    only_student, _ = _features(export, resolve_recognizers(student, None), "cross")
    np.testing.assert_array_equal(mixed[n_hr:], only_student[n_hr:])


def test_both_low_the_probe_recognizer_embeds_both_sides(export, reference, student):
    mixed, n_hr = _features(export, resolve_recognizers(reference, None, student), "both_low")
    only_student, _ = _features(export, resolve_recognizers(student, None), "both_low")
    assert n_hr == 0
    np.testing.assert_array_equal(mixed, only_student)
    # the "hr" front-end degrades nothing: its faces stay with the reference
    hr_mixed, _ = _features(export, resolve_recognizers(reference, None, student), "both_low", sr="hr")
    hr_plain, _ = _features(export, resolve_recognizers(reference, None), "both_low", sr="hr")
    np.testing.assert_array_equal(hr_mixed, hr_plain)


def test_rows_name_both_recognizers(export, reference, student, tmp_path):
    clear_cache()
    table = lrfr.evaluate(["hr", "bicubic"], protocol="lfw", recognizer=reference, probe_recognizer=student,
                          data=export, scale=8, workdir=tmp_path, progress=False).set_index("sr")
    ref_sha, probe_sha = table.loc["bicubic", "recognizer_sha256"], table.loc["bicubic", "probe_recognizer_sha256"]
    assert ref_sha.startswith("module:") and probe_sha.startswith("module:") and ref_sha != probe_sha
    assert table.loc["hr", "probe_recognizer_sha256"] == ref_sha  # the HR row is the reference's
    assert table.attrs["pinned"]["probe_recognizer_sha256"] == probe_sha
    plain = lrfr.evaluate(["bicubic"], protocol="lfw", recognizer=reference, data=export, scale=8,
                          workdir=tmp_path, progress=False).iloc[0]
    assert plain["probe_recognizer_sha256"] == plain["recognizer_sha256"]  # default: unchanged behaviour
    assert plain["accuracy_mean"] != table.loc["bicubic", "accuracy_mean"]


def test_calibration_fingerprint_records_both(export, reference, student, tmp_path):
    from lrfr.evaluation import calibrate
    from lrfr.fingerprint import FingerprintMismatchError, check_fingerprint

    cal = calibrate("bicubic", protocol="lfw", data=export, recognizer=reference, probe_recognizer=student,
                    fars=[1e-1], workdir=tmp_path, progress=False)
    fp = cal.fingerprint
    assert fp["probe_weights_sha256"] != fp["weights_sha256"]
    plain = dict(fp, probe_recognizer=fp["recognizer"], probe_weights_sha256=fp["weights_sha256"])
    with pytest.raises(FingerprintMismatchError, match="probe_weights_sha256 differ"):
        check_fingerprint(fp, plain, "calibration c")


def test_cli_probe_weights(export, tmp_path, capsys):
    from lrfr.recognition.weights import save_recognizer

    save_recognizer(_recognizer(1), tmp_path / "student.pt")
    out = tmp_path / "out"
    assert main(["evaluate", "--sr", "bicubic", "--data", str(export), "--protocol", "lfw", "--probe-weights",
                 str(tmp_path / "student.pt"), "--out", str(out), "--workdir", str(tmp_path), "--quiet"]) == 0
    import pandas as pd

    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["probe_recognizer"] == "sphere20a" and row["probe_recognizer_sha256"] != row["recognizer_sha256"]


def test_bad_probe_recognizers_are_one_clear_line(export, tmp_path, capsys):
    from lrfr import sr
    from lrfr.recognition.weights import save_recognizer

    save_recognizer(_recognizer(2, input_size=(56, 48)), tmp_path / "small.pt")
    code = main(["evaluate", "--sr", "bicubic", "--data", str(export), "--protocol", "lfw", "--probe-weights",
                 str(tmp_path / "small.pt"), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "probe recognizer (sphere20a) takes 56×48 faces, but the front-ends output 112×96" in err[0]
    sr.save(sr.build("srresnet", scale=8, channels=4, blocks=1), tmp_path / "generator.pt")
    code = main(["evaluate", "--sr", "bicubic", "--data", str(export), "--protocol", "lfw", "--probe-weights",
                 str(tmp_path / "generator.pt"), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "generator.pt" in err[0] and "sr" in err[0]


def test_identity_similarity_is_the_mean_cosine_of_each_face_with_its_own_hr_face(export, reference, tmp_path):
    clear_cache()
    table = lrfr.evaluate(["hr", "bicubic"], protocol="lfw", recognizer=reference, data=export, scale=8,
                          workdir=tmp_path, progress=False, identity=True).set_index("sr")
    assert np.isnan(table.loc["hr", "identity_similarity"])
    recs = resolve_recognizers(reference, None)
    low, _ = _features(export, recs, "both_low")
    hr, _ = _features(export, recs, "both_low", sr="hr")
    cos = ((low / np.linalg.norm(low, axis=1, keepdims=True)) * (hr / np.linalg.norm(hr, axis=1, keepdims=True))).sum(1)
    assert table.loc["bicubic", "identity_similarity"] == pytest.approx(cos.mean(), abs=1e-6)
    assert 0 < cos.mean() < 1
    assert "identity_similarity" not in lrfr.evaluate(["bicubic"], protocol="lfw", recognizer=reference, data=export,
                                                      scale=8, workdir=tmp_path, progress=False).columns
