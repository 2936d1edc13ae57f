"""Face folder loaders: layouts, labels, errors, and the shared real data (listing only)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lrfr.data.folders import (
    CelebAFolder,
    FaceFolder,
    ImageFolderFaces,
    LFWFolder,
    load_images,
    open_faces,
    read_images,
)
from lrfr.errors import BadImageError
from lrfr.io import write_image


def _img(h=12, w=10, value=0):
    rng = np.random.default_rng(value)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _lfw_tree(root, ids=(("Bob_Smith", 2), ("Alice_Jones", 1), ("Carl_Yu", 3)), h=12, w=10):
    for ident, n in ids:
        for k in range(1, n + 1):
            write_image(root / ident / f"{ident}_{k:04d}.jpg", _img(h, w, k))
    return root


def test_lfw_folder_labels_names_classes(tmp_path):
    root = _lfw_tree(tmp_path / "lfw")
    ds = LFWFolder(root)
    assert ds.classes == ["Alice_Jones", "Bob_Smith", "Carl_Yu"]
    assert len(ds) == 6
    assert ds.names[0] == "Alice_Jones/Alice_Jones_0001.jpg"
    assert ds.labels.dtype == np.int64
    assert ds.labels.tolist() == [0, 1, 1, 2, 2, 2]
    assert all(p.is_absolute() and p.is_file() for p in ds.paths)
    img, label, name = ds[3]
    assert img.dtype == torch.float32 and img.shape == (3, 12, 10)
    assert 0 <= img.min() and img.max() <= 1
    assert (label, name) == (2, "Carl_Yu/Carl_Yu_0001.jpg")
    assert ds.classes[label] == "Carl_Yu"


@pytest.mark.parametrize("sub", ["lfw-112x96", "images"])
def test_lfw_folder_resolves_export_layout(tmp_path, sub):
    _lfw_tree(tmp_path / sub)
    (tmp_path / "pairs.txt").write_text("1 1\n")
    ds = LFWFolder(tmp_path)
    assert ds.root == (tmp_path / sub).resolve()
    assert len(ds) == 6
    assert isinstance(open_faces(tmp_path), LFWFolder)


def test_transform_and_size(tmp_path):
    root = _lfw_tree(tmp_path / "lfw")
    ds = LFWFolder(root, transform=lambda x: x * 0 + 0.5, size=(12, 10))
    assert torch.all(ds[0][0] == 0.5)
    bad = LFWFolder(root, size=(112, 96))
    with pytest.raises(ValueError) as err:
        bad[0]
    msg = str(err.value)
    assert "Alice_Jones_0001.jpg" in msg and "12x10" in msg and "112x96" in msg


def test_image_folder_faces_casia_layout(tmp_path):
    for ident, files in {"0000045": ["001.jpg", "002.png"], "0000099": ["x.jpeg"]}.items():
        for f in files:
            write_image(tmp_path / ident / f, _img())
    (tmp_path / "0000045" / "notes.txt").write_text("not an image")
    ds = ImageFolderFaces(tmp_path)
    assert ds.classes == ["0000045", "0000099"]
    assert ds.names == ["0000045/001.jpg", "0000045/002.png", "0000099/x.jpeg"]
    assert ds.labels.tolist() == [0, 0, 1]
    assert isinstance(open_faces(tmp_path), ImageFolderFaces)


def _celeba_official(root):
    imgs = root / "img_align_celeba"
    ident = {"000001.jpg": 2880, "000002.jpg": 17, "000003.jpg": 2880, "000004.jpg": 5, "000005.jpg": 17}
    part = {"000001.jpg": 0, "000002.jpg": 0, "000003.jpg": 0, "000004.jpg": 1, "000005.jpg": 2}
    for k, n in enumerate(ident):
        write_image(imgs / n, _img(value=k))
    (root / "identity_CelebA.txt").write_text("".join(f"{n} {i}\n" for n, i in ident.items()))
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in part.items()))
    return root


def test_celeba_official_layout(tmp_path):
    root = _celeba_official(tmp_path)
    train = CelebAFolder(root)
    assert train.layout == "official"
    assert train.names == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert train.classes == ["17", "2880"]  # numeric order
    assert train.labels.tolist() == [1, 0, 1]
    assert train[1][1:] == (0, "000002.jpg")
    assert CelebAFolder(root, partition="test").names == ["000005.jpg"]
    assert CelebAFolder(root, partition=1).names == ["000004.jpg"]
    assert len(CelebAFolder(root, partition=None)) == 5
    # explicit files, image folder as root
    ds = CelebAFolder(root / "img_align_celeba", identity_file=root / "identity_CelebA.txt",
                      partition_file=root / "list_eval_partition.txt", partition="val")
    assert ds.names == ["000004.jpg"]
    assert isinstance(open_faces(root), CelebAFolder)
    with pytest.raises(ValueError, match="partition"):
        CelebAFolder(root, partition="dev")


def test_celeba_missing_listed_images(tmp_path):
    root = _celeba_official(tmp_path)
    (root / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="000003.jpg"):
        CelebAFolder(root)
    assert CelebAFolder(root, missing="skip").names == ["000001.jpg", "000002.jpg"]


def test_celeba_identity_folders(tmp_path):
    for ident, files in {"7201": ["001085.jpg", "007710.jpg"], "7202": ["000123.jpg"]}.items():
        for f in files:
            write_image(tmp_path / ident / f, _img())
    (tmp_path / "index.txt").write_text("7201/001085.jpg 7201 1.0\n")
    ds = CelebAFolder(tmp_path)
    assert ds.layout == "folders"
    assert ds.classes == ["7201", "7202"] and ds.labels.tolist() == [0, 0, 1]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        LFWFolder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        CelebAFolder(tmp_path / "nowhere")
    empty_root = tmp_path / "empty"
    empty_root.mkdir()
    with pytest.raises(ValueError):
        ImageFolderFaces(empty_root)
    root = _lfw_tree(tmp_path / "lfw")
    (root / "Empty_Person").mkdir()
    with pytest.raises(ValueError, match="Empty_Person"):
        LFWFolder(root)


def test_corrupt_image_named(tmp_path):
    root = _lfw_tree(tmp_path / "lfw")
    bad = root / "Bob_Smith" / "Bob_Smith_0002.jpg"
    bad.write_bytes(b"this is not a jpeg")
    ds = LFWFolder(root)  # listing does not decode
    with pytest.raises(ValueError, match="Bob_Smith_0002.jpg"):
        ds[ds.names.index("Bob_Smith/Bob_Smith_0002.jpg")]
    with pytest.raises(ValueError, match="Bob_Smith_0002.jpg"):
        load_images(ds, progress=False)


def test_load_images(tmp_path):
    root = _lfw_tree(tmp_path / "lfw")
    ds = LFWFolder(root)
    x = load_images(ds, progress=False, num_workers=2)
    assert x.shape == (6, 3, 12, 10) and x.dtype == torch.float32
    for i in range(len(ds)):
        assert torch.equal(x[i], ds[i][0])
    assert torch.equal(load_images(ds.paths, progress=False, num_workers=1), x)
    write_image(root / "Carl_Yu" / "Carl_Yu_0004.jpg", _img(14, 10))
    with pytest.raises(ValueError, match="Carl_Yu_0004.jpg"):
        load_images(LFWFolder(root), progress=False)
    with pytest.raises(ValueError, match="112x96"):
        load_images(ds.paths, size=(112, 96), progress=False)


def test_read_images_names_the_odd_file_and_can_skip(tmp_path):
    root = _lfw_tree(tmp_path / "lfw")
    paths = sorted(root.rglob("*.jpg"))
    write_image(paths[0], _img(14, 10))  # the odd one first: it must not set the expected size
    paths[3].write_bytes(b"junk")
    with pytest.raises(BadImageError, match=rf"{paths[0].name}: image is 14x10 \(HxW\) but 12x10 \(the model's\) was"):
        read_images(paths, size=(12, 10), size_source="the model's")
    x, ok, bad = read_images(paths, size=(12, 10), on_error="skip")
    assert ok == [1, 2, 4, 5] and x.shape == (4, 3, 12, 10)
    assert set(bad) == {0, 3} and "14x10" in bad[0] and "cannot read image" in bad[3]
    assert torch.equal(x, load_images([paths[i] for i in ok], progress=False))
    with pytest.raises(BadImageError, match="12x10"):  # and through a folder with size=
        load_images(paths[1:], size=(14, 10), progress=False)
    ds = LFWFolder(root, size=(12, 10))
    ds.size_source = "the recognizer's input size"
    with pytest.raises(BadImageError, match=r"14x10 \(HxW\) but 12x10 \(the recognizer's input size\)"):
        ds[ds.paths.index(paths[0].resolve())]


def test_base_class_checks(tmp_path):
    with pytest.raises(ValueError):
        FaceFolder(tmp_path, ["a.jpg"], [0, 1], ["x"])
    with pytest.raises(ValueError):
        FaceFolder(tmp_path, [], [], [])


# ---- real data (skips when ../shared is absent) ----

def test_real_lfw(lfw_root, lfw_images):
    ds = LFWFolder(lfw_root)
    assert ds.root == lfw_images.resolve()
    assert len(ds) == 13233 and len(ds.classes) == 5749
    img, label, name = LFWFolder(lfw_images, size=(112, 96))[0]
    assert img.shape == (3, 112, 96)
    assert name == "AJ_Cook/AJ_Cook_0001.jpg" and ds.classes[label] == "AJ_Cook"
    assert isinstance(open_faces(lfw_root), LFWFolder)


def test_real_celeba(celeba_root):
    ds = CelebAFolder(celeba_root)
    assert ds.layout == "folders"
    assert len(ds) == 5034 and len(ds.classes) == 241
    x = load_images(ds.paths[:8], size=(112, 96), progress=False)
    assert x.shape == (8, 3, 112, 96)
    assert isinstance(open_faces(celeba_root), CelebAFolder)
