"""MobileFaceNet: strict loading of the shared CASIA checkpoint, real-face sanity, weight-file errors,
and the facenet-pytorch adapter."""
from __future__ import annotations


import numpy as np
import pytest
import torch

import lrfr.recognition as rec
from lrfr.io import read_image, to_tensor01
from lrfr.recognition.mobilefacenet import MobileFaceNet
from lrfr.recognition.weights import WeightsError


def test_architecture_matches_checkpoint_layout():
    net = MobileFaceNet()
    sd = net.state_dict()
    assert len(sd) == 333
    assert tuple(sd["linear7.conv.weight"].shape) == (512, 1, 7, 6)
    assert tuple(sd["linear1.conv.weight"].shape) == (128, 512, 1, 1)
    assert tuple(sd["blocks.12.conv.0.weight"].shape) == (512, 128, 1, 1)
    assert len(net.blocks) == 15
    net.eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 112, 96)).shape == (2, 128)


@pytest.fixture(scope="module")
def mfn(mobilefacenet_weights):
    return rec.load("mobilefacenet", weights=mobilefacenet_weights)


@pytest.mark.realdata
def test_loads_shared_weights_strictly(mfn, mobilefacenet_weights):
    assert not mfn.training
    assert mfn.embedding_dim == 128 and mfn.weights_meta.get("epoch") == 68
    raw = torch.load(mobilefacenet_weights, map_location="cpu", weights_only=True)["net_state_dict"]
    assert set(raw) == set(mfn.state_dict())
    assert torch.equal(mfn.state_dict()["conv1.conv.weight"], raw["conv1.conv.weight"])


@pytest.mark.realdata
def test_real_faces_same_identity_closer(mfn, lfw_images):
    # First two "same" pairs of pairs.txt fold 1, and two "different" pairs built from their images.
    files = {
        "a1": "Abel_Pacheco/Abel_Pacheco_0001.jpg", "a4": "Abel_Pacheco/Abel_Pacheco_0004.jpg",
        "z1": "Akhmed_Zakayev/Akhmed_Zakayev_0001.jpg", "z3": "Akhmed_Zakayev/Akhmed_Zakayev_0003.jpg",
    }
    for f in files.values():
        if not (lfw_images / f).is_file():
            pytest.skip(f"{f} not in the LFW copy")
    x = torch.stack([to_tensor01(read_image(lfw_images / f)) for f in files.values()])
    feats = rec.embed(mfn, x, flip="concat", batch_size=4)
    assert feats.shape == (4, 256) and feats.dtype == np.float32
    f = dict(zip(files, feats / np.linalg.norm(feats, axis=1, keepdims=True)))
    same = [f["a1"] @ f["a4"], f["z1"] @ f["z3"]]
    diff = [f["a1"] @ f["z1"], f["a4"] @ f["z3"], f["a1"] @ f["z3"], f["a4"] @ f["z1"]]
    assert min(same) > max(diff)


def test_error_garbage_file(tmp_path):
    bad = tmp_path / "garbage.ckpt"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(WeightsError, match="garbage.ckpt") as err:
        rec.load("mobilefacenet", weights=bad)
    assert "expected" in str(err.value).lower()


def test_error_truncated_file(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"epoch": 1, "net_state_dict": MobileFaceNet().state_dict()}, good)
    cut = tmp_path / "truncated.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated.pt"):
        rec.load("mobilefacenet", weights=cut)
    assert not rec.load("mobilefacenet", weights=good).training  # the intact file loads


def test_error_missing_keys_and_wrong_shapes(tmp_path):
    sd = MobileFaceNet().state_dict()
    missing = dict(sd)
    del missing["linear1.bn.weight"]
    p1 = tmp_path / "missing.pt"
    torch.save({"epoch": 1, "net_state_dict": missing}, p1)
    with pytest.raises(WeightsError, match=r"missing.pt.*mobilefacenet.*linear1\.bn\.weight"):
        rec.load("mobilefacenet", weights=p1)
    wrong = dict(sd)
    wrong["linear1.conv.weight"] = torch.zeros(256, 512, 1, 1)
    p2 = tmp_path / "wrongshape.pt"
    torch.save(wrong, p2)
    with pytest.raises(WeightsError, match=r"wrongshape.pt.*shape mismatch.*linear1\.conv\.weight"):
        rec.load("mobilefacenet", weights=p2)


def test_error_other_architecture(tmp_path):
    sphere = rec.build("sphere20a", width=0.125)
    lrfr_file = rec.save_recognizer(sphere, tmp_path / "sphere.pt")
    with pytest.raises(WeightsError, match=r"sphere.pt.*'sphere20a'.*not 'mobilefacenet'"):
        rec.load("mobilefacenet", weights=lrfr_file)
    bare = tmp_path / "sphere_bare.pt"
    torch.save(sphere.state_dict(), bare)
    with pytest.raises(WeightsError, match=r"sphere_bare.pt does not fit architecture 'mobilefacenet'"):
        rec.load("mobilefacenet", weights=bare)
    with pytest.raises(ValueError, match="matches none of them; name it"):
        rec.load(weights=bare)  # a bare narrow-sphere state dict fits no default architecture
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        rec.load("mobilefacenet", weights=tmp_path / "nope.pt")
    not_weights = tmp_path / "list.pt"
    torch.save([1, 2, 3], not_weights)
    with pytest.raises(WeightsError, match="list.pt"):
        rec.load("mobilefacenet", weights=not_weights)


@pytest.mark.realdata
def test_copy_of_shared_checkpoint_truncated(tmp_path, mobilefacenet_weights):
    cut = tmp_path / "mfn_cut.ckpt"
    with open(mobilefacenet_weights, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(100_000))
    with pytest.raises(WeightsError, match="mfn_cut.ckpt"):
        rec.load("mobilefacenet", weights=cut)


# ---- facenet-pytorch adapter ---------------------------------------------------------------

def test_facenet_without_weights_explains(tmp_path):
    pytest.importorskip("facenet_pytorch")
    with pytest.raises(FileNotFoundError, match="vggface2"):
        rec.build("inception_resnet_v1")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        rec.load("inception_resnet_v1")


def test_facenet_random_state_dict_loads_and_embeds(tmp_path):
    fp = pytest.importorskip("facenet_pytorch.models.inception_resnet_v1")
    torch.manual_seed(0)
    # A facenet-pytorch style file: bare InceptionResnetV1 state dict with a classifier head.
    src = fp.InceptionResnetV1(pretrained=None, classify=True, num_classes=7)
    path = tmp_path / "facenet_random.pt"
    torch.save(src.state_dict(), path)
    net = rec.load("inception_resnet_v1", weights=path)
    assert net.input_size == (160, 160) and not net.training
    x = torch.rand(2, 3, 160, 160)
    feats = rec.embed(net, x, flip=None, batch_size=2)
    assert feats.shape == (2, 512) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="160×160"):
        net(torch.rand(1, 3, 112, 96))
    # and it round-trips through lrfr's own format
    again = rec.load(weights=rec.save_recognizer(net, tmp_path / "facenet_lrfr.pt"))
    assert again.arch == "inception_resnet_v1"
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), net.state_dict().values()))


def test_architecture_is_inferred_from_an_unnamed_checkpoint(mobilefacenet_weights, tmp_path):
    import torch

    from lrfr.recognition import build, load

    assert type(load(weights=mobilefacenet_weights)).__name__ == "MobileFaceNet"
    # a narrow sphere20a's bare state dict matches no default architecture: the error asks for a name
    torch.save(build("sphere20a", width=0.125, embedding_dim=32).state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="bare.pt.*matches none.*--recognizer"):
        load(weights=tmp_path / "bare.pt")
    assert type(load(weights=tmp_path / "bare.pt", width=0.125, embedding_dim=32)).__name__ == "SphereFace"
