"""The seeded identity split behind the real-data recipes (lrfr.data.split)."""
import pytest

from lrfr.data.folders import open_faces
from lrfr.data.split import IdentitySplit, materialize, read_split, split_identities


def _folder(root, identities, per=2):
    from PIL import Image

    for ident in identities:
        (root / ident).mkdir(parents=True)
        for k in range(per):
            Image.new("RGB", (4, 4), (k * 40, 0, 0)).save(root / ident / f"{k:03d}.jpg")
    return root


def test_split_is_seeded_disjoint_and_complete():
    ids = [f"{i:04d}" for i in range(50)]
    a, b = split_identities(ids, 7, seed=3), split_identities(list(reversed(ids)), 7, seed=3)
    assert a == b  # a function of the names, not of their order
    assert len(a.heldout) == 7 and len(a.train) == 43
    assert set(a.train).isdisjoint(a.heldout) and set(a.train) | set(a.heldout) == set(ids)
    assert split_identities(ids, 7, seed=4) != a
    with pytest.raises(ValueError, match="n_heldout must be between 1 and 49"):
        split_identities(ids, 50)


def test_split_file_round_trip_and_errors(tmp_path):
    s = split_identities([str(i) for i in range(10)], 3, seed=0)
    assert read_split(s.write(tmp_path / "split.txt")) == s
    bad = tmp_path / "bad.txt"
    bad.write_text("train 1\ntest 2\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 'train IDENTITY'"):
        read_split(bad)
    bad.write_text("train 1\nheldout 1\n")
    with pytest.raises(ValueError, match="both trained on and held out: 1"):
        read_split(bad)


def test_materialize_links_each_half_and_follows_a_new_split(tmp_path):
    root = _folder(tmp_path / "faces", ["a", "b", "c", "d"])
    folders = materialize(root, IdentitySplit(train=("a", "b", "c"), heldout=("d",)), tmp_path / "split")
    train, held = open_faces(folders["train"]), open_faces(folders["heldout"])
    assert train.classes == ["a", "b", "c"] and held.classes == ["d"] and len(train) == 6
    assert (root / "a").stat().st_ino == (folders["train"] / "a").stat().st_ino  # links, not copies
    materialize(root, IdentitySplit(train=("a", "b"), heldout=("c", "d")), tmp_path / "split")
    assert open_faces(folders["train"]).classes == ["a", "b"]
    assert open_faces(folders["heldout"]).classes == ["c", "d"]
    with pytest.raises(ValueError, match="not there: e"):
        materialize(root, IdentitySplit(train=("a", "e"), heldout=("d",)), tmp_path / "split")
    (folders["train"] / "notes.txt").write_text("mine")  # never deleted: an error names it
    with pytest.raises(ValueError, match="notes.txt: not a link made by materialize"):
        materialize(root, IdentitySplit(train=("a",), heldout=("d",)), tmp_path / "split")
    assert (folders["train"] / "notes.txt").read_text() == "mine"


@pytest.mark.realdata
def test_committed_celeba_split_is_the_seeded_draw(celeba_root):
    """results/celeba_split.txt is exactly split_identities(the shared CelebA copy, 41, seed 0)."""
    from lrfr.data.folders import scan_identity_folders

    from conftest import REPO

    _, _, identities = scan_identity_folders(celeba_root)
    committed = read_split(REPO / "results" / "celeba_split.txt")
    assert committed == split_identities(identities, 41, seed=0)
    assert len(committed.train) == 200
