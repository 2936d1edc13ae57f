"""Each generator committed under results/weights/ is the file the table names and, on real data, still
scores what results/real-8x.csv says.

For speed the check uses a fixed 600-pair subset of LFW View 2 (the first 30 same and 30 different
pairs of each fold, ``results/real8x.py``'s :func:`subset_pairs`), scored by the CASIA MobileFaceNet
at 8× exactly as ``python results/real8x.py evaluate`` scored it; that check skips where ../shared is absent.
"""
import importlib.util
import json

import pandas as pd
import pytest

import lrfr

from conftest import REPO

RESULTS = REPO / "results"


def _runner():
    spec = importlib.util.spec_from_file_location("real8x", RESULTS / "real8x.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _committed():
    facts = json.loads((RESULTS / "weights" / "training.json").read_text())
    return sorted(facts.items())


def test_every_committed_generator_has_its_row_and_hash():
    from lrfr.fingerprint import file_sha256

    table = pd.read_csv(RESULTS / "real-8x.csv")
    for label, facts in _committed():
        path = RESULTS / "weights" / facts["file"]
        assert file_sha256(path) == facts["sha256"], f"{path} is not the file the table was made with"
        rows = table[(table["front_end"] == label)]
        assert set(rows["protocol"]) >= {"lfw", "blufr", "celeba", "lfw_subset600"}, label
        assert (rows["sr_sha256"] == facts["sha256"]).all(), label
        assert path.stat().st_size < 5e6  # a few MB each (fp16)


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("label", [label for label, _ in _committed()])
def test_committed_generator_reproduces_its_lfw_subset_accuracy(label, lfw_root, mobilefacenet_weights, tmp_path):
    facts = dict(_committed())[label]
    table = pd.read_csv(RESULTS / "real-8x.csv")
    expected = table[(table["front_end"] == label) & (table["protocol"] == "lfw_subset600")]["accuracy_mean"].item()
    root = _runner().subset_pairs(lfw_root, tmp_path / "lfw600")
    got = lrfr.evaluate([str(RESULTS / "weights" / facts["file"])], protocol="lfw", data=root,
                        recognizer="mobilefacenet", weights=mobilefacenet_weights, scale=8,
                        workdir=tmp_path / "work", progress=False).iloc[0]
    print(f"\n{label}: LFW 600-pair subset {100 * got['accuracy_mean']:.2f}% (table: {100 * expected:.2f}%)")
    assert got["n_images"] > 0 and abs(got["accuracy_mean"] - expected) <= 0.01


def test_readme_holds_the_current_tables():
    """The README's copy of results/real-8x.md is the file's, as `python results/real8x.py table` writes it."""
    runner = _runner()
    readme = (REPO / "README.md").read_text()
    copy = readme.split(runner.README_BEGIN, 1)[1].split(runner.README_END, 1)[0]
    assert copy == "\n" + runner.readme_tables((RESULTS / "real-8x.md").read_text())
