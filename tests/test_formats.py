"""LFW pairs.txt and BLUFR .mat: round trips, the real files, and clear errors for malformed ones."""
import warnings

import numpy as np
import pytest
import scipy.io

from lrfr.data.blufr import BlufrConfig, BlufrFormatError, blufr_relative_path, read_blufr_config, write_blufr_config
from lrfr.data.pairs import (
    Pair,
    PairImageError,
    PairImageResolver,
    PairsFormatError,
    read_pairs,
    resolve_pairs,
    write_pairs,
)
from lrfr.errors import LrfrError, LrfrWarning


def _pairs():
    return [Pair("A", 1, "A", 2, True, 0), Pair("A", 1, "B", 1, False, 0),
            Pair("C", 1, "C", 3, True, 1), Pair("C", 2, "D", 1, False, 1)]


def test_pairs_round_trip(tmp_path):
    path = write_pairs(tmp_path / "pairs.txt", _pairs(), n_folds=2, n_per_fold=1)
    assert path.read_text().splitlines() == ["2\t1", "A\t1\t2", "A\t1\tB\t1", "C\t1\t3", "C\t2\tD\t1"]
    back = read_pairs(path)
    assert back.pairs == _pairs() and (back.n_folds, back.n_per_fold) == (2, 1)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("ten 300\n", "header must be 'n_folds n_per_fold'"),
    ("2 1\nA 1 2\nA 1 B 1\n", "header says 2 folds .* = 4 pair lines; found 2"),
    ("1 1\nA 1 B 1\nA 1 B 1\n", r":2: fold 1, expected a same line"),
    ("1 1\nA 1 2\nA x B 1\n", r":3: fold 1, expected a different line"),
])
def test_malformed_pairs_are_named(tmp_path, text, message):
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(PairsFormatError, match=message) as err:
        read_pairs(path)
    assert isinstance(err.value, LrfrError) and isinstance(err.value, ValueError)


def test_write_pairs_refuses_out_of_order(tmp_path):
    with pytest.raises(ValueError, match="out of LFW order"):
        write_pairs(tmp_path / "p.txt", list(reversed(_pairs())), n_folds=2, n_per_fold=1)


def test_resolver_lfw_names_and_sorted_position(tmp_path):
    (tmp_path / "Ann").mkdir()
    (tmp_path / "Ann" / "Ann_0001.jpg").write_bytes(b"")
    (tmp_path / "7201").mkdir()
    for name in ("b.jpg", "a.jpg"):
        (tmp_path / "7201" / name).write_bytes(b"")
    resolve = PairImageResolver(tmp_path)
    assert resolve("Ann", 1) == "Ann/Ann_0001.jpg"
    with pytest.warns(LrfrWarning, match=r"resolved by position.*7201 1 -> 7201/a\.jpg"):  # announced, once
        assert resolve("7201", 1) == "7201/a.jpg"
    assert resolve("7201", 2) == "7201/b.jpg"
    assert resolve.positional_identities == {"7201"}
    with pytest.raises(FileNotFoundError, match="image 3 of '7201'.*has 2 images"):
        resolve("7201", 3)
    quiet = PairImageResolver(tmp_path, positional="allow")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quiet("7201", 2) == "7201/b.jpg"
    with pytest.raises(FileNotFoundError, match="positional resolution is off"):
        PairImageResolver(tmp_path, positional="error")("7201", 1)


def test_resolver_never_replaces_a_missing_lfw_image(tmp_path):
    """Name_0002 absent, Name_0003 present: "Name 2" is an error, not the 2nd file (issue 19 #1)."""
    (tmp_path / "Ann").mkdir()
    for n in (1, 3):
        (tmp_path / "Ann" / f"Ann_{n:04d}.jpg").write_bytes(b"")
    resolve = PairImageResolver(tmp_path)
    assert resolve("Ann", 3) == "Ann/Ann_0003.jpg"
    with pytest.raises(PairImageError, match=r"image Ann/Ann_0002\.jpg not found.*names its images like LFW"):
        resolve("Ann", 2)
    (tmp_path / "pairs.txt").write_text("1\t1\nAnn\t1\t3\nAnn\t2\tBob\t1\n")
    read = read_pairs(tmp_path / "pairs.txt")
    assert [p.line for p in read.pairs] == [2, 3]
    with pytest.raises(PairImageError, match=r"pairs\.txt:3: Ann 2: image Ann/Ann_0002\.jpg not found"):
        resolve_pairs(tmp_path / "pairs.txt", read.pairs, resolve)


def _config():
    return BlufrConfig(
        image_list=["A_0001.jpg", "A_0002.jpg", "B_0001.jpg", "C_0001.jpg"], labels=np.array([1, 1, 2, 3]),
        train_index=[np.array([3])], test_index=[np.array([0, 1, 2])],
        gal_index=[np.array([0])], prob_index=[np.array([1, 2])])


def test_blufr_round_trip_is_one_based_on_disk(tmp_path):
    path = write_blufr_config(tmp_path / "c.mat", _config())
    raw = scipy.io.loadmat(path)
    assert raw["galIndex"][0, 0].ravel().tolist() == [1]  # 1-based on disk
    back = read_blufr_config(path)
    assert back.image_list == _config().image_list and back.gal_index[0].tolist() == [0]
    assert back.relative_paths()[0] == "A/A_0001.jpg" and blufr_relative_path("x/y.jpg") == "x/y.jpg"


def test_blufr_errors_name_the_file_and_field(tmp_path):
    (tmp_path / "junk.mat").write_bytes(b"not a mat file")
    with pytest.raises(BlufrFormatError, match="junk.mat: not a readable MATLAB"):
        read_blufr_config(tmp_path / "junk.mat")
    scipy.io.savemat(tmp_path / "partial.mat", {"imageList": np.array([["a"]], dtype=object)})
    with pytest.raises(BlufrFormatError, match="partial.mat: missing field.*labels"):
        read_blufr_config(tmp_path / "partial.mat")
    cfg = _config()
    cfg.prob_index = [np.array([2])]  # gallery ∪ probe no longer equals the test set
    write_blufr_config(tmp_path / "bad.mat", cfg)
    with pytest.raises(BlufrFormatError, match="trial 1: galIndex and probIndex must partition testIndex"):
        read_blufr_config(tmp_path / "bad.mat")
    cfg = _config()
    cfg.test_index = [np.array([0, 1, 9])]  # index 10 (1-based) beyond 4 images
    write_blufr_config(tmp_path / "range.mat", cfg)
    with pytest.raises(BlufrFormatError, match=r"testIndex\{1\}: indices must be 1-based into imageList \(1..4\)"):
        read_blufr_config(tmp_path / "range.mat")
    with pytest.raises(FileNotFoundError, match="none.mat"):
        read_blufr_config(tmp_path / "none.mat")


def test_real_files_round_trip(lfw_root, tmp_path):
    real = (lfw_root / "pairs.txt").read_text()
    pf = read_pairs(lfw_root / "pairs.txt")
    assert len(pf.pairs) == 6000 and pf.n_folds == 10
    assert write_pairs(tmp_path / "p.txt", pf.pairs, 10, 300).read_text() == real  # byte-identical
    cfg = read_blufr_config(lfw_root / "blufr_lfw_config.mat")
    assert cfg.n_trials == 10 and len(cfg.image_list) == 13233
    back = read_blufr_config(write_blufr_config(tmp_path / "b.mat", cfg))
    assert all(np.array_equal(a, b) for a, b in zip(back.prob_index, cfg.prob_index))
