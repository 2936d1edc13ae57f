"""SphereFace sphere20a/36a/64a: shapes, sizes, variants, the input contract, the registry."""
from __future__ import annotations

import pytest
import torch

import lrfr.recognition as rec
from lrfr.recognition.sphereface import SphereFace


def _n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_sphere20a_shape_and_param_count():
    net = rec.build("sphere20a").eval()
    assert net.input_size == (112, 96) and net.embedding_dim == 512
    with torch.no_grad():
        out = net(torch.rand(2, 3, 112, 96))
    assert out.shape == (2, 512) and out.dtype == torch.float32
    # 512·7·6·512 fc5 weights + 1/2/4/1 residual stages; ~22.7 M (Caffe model file ≈ 90 MB of fp32)
    assert _n_params(net) == 22_670_656
    assert net.fc5.in_features == 512 * 7 * 6


def test_no_batchnorm_and_prelu_present():
    net = rec.build("sphere20a", width=0.125)
    kinds = {type(m).__name__ for m in net.modules()}
    assert "PReLU" in kinds and not any("BatchNorm" in k for k in kinds)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 4 + 2 * (1 + 2 + 4 + 1)


def test_sphere36a_forward_one_image():
    net = rec.build("sphere36a").eval()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 4 + 2 * (2 + 4 + 8 + 2)
    with torch.no_grad():
        assert net(torch.rand(1, 3, 112, 96)).shape == (1, 512)


def test_sphere64a_structure():
    net = rec.build("sphere64a")
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 4 + 2 * (3 + 8 + 16 + 3)
    assert _n_params(net) == 48_200_512
    assert net.embedding_dim == 512


def test_width_and_embedding_dim_variants():
    net = rec.build("sphere20a", width=0.25, embedding_dim=256).eval()
    assert net.channels == (16, 32, 64, 128)
    assert net.fc5.in_features == 128 * 7 * 6
    with torch.no_grad():
        assert net(torch.rand(3, 3, 112, 96)).shape == (3, 256)
    assert net.build_kwargs == {"width": 0.25, "embedding_dim": 256, "input_size": (112, 96)}
    assert rec.build("sphere20a", width=0.3).channels == (19, 38, 77, 154)  # round(base·width)


def test_other_input_size():
    net = SphereFace(20, width=0.25, input_size=(96, 96)).eval()
    assert net.feature_map_size == (6, 6)
    with torch.no_grad():
        assert net(torch.rand(2, 3, 96, 96)).shape == (2, 512)
    odd = SphereFace(20, width=0.125, input_size=(50, 37)).eval()
    with torch.no_grad():
        assert odd(torch.rand(1, 3, 50, 37)).shape == (1, 512)


def test_input_contract():
    net = rec.build("sphere20a", width=0.125).eval()
    with pytest.raises(ValueError, match="112×96"):
        net(torch.rand(1, 3, 160, 160))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net((torch.rand(1, 3, 112, 96) * 255 - 127.5) / 128)  # already normalized
    with pytest.raises(ValueError):
        net(torch.rand(1, 1, 112, 96))


def test_init_is_as_documented():
    torch.manual_seed(0)
    net = rec.build("sphere20a")
    unit_conv = net.stages[2].units[0].conv1.weight
    assert abs(unit_conv.std().item() - 0.01) < 0.001
    down = net.stages[1].down.weight
    assert down.abs().max().item() <= (3.0 / (64 * 9)) ** 0.5 + 1e-6
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in net.modules() if isinstance(m, torch.nn.Conv2d))


def test_registry_unknown_name_lists_known():
    with pytest.raises(KeyError, match="sphere20a"):
        rec.build("sphere21a")
    assert {"sphere20a", "sphere36a", "sphere64a", "mobilefacenet"} <= set(rec.names())
    with pytest.raises(ValueError, match="depth"):
        SphereFace(depth=21)


def test_save_and_load_lrfr_format(tmp_path):
    net = rec.build("sphere20a", width=0.125, embedding_dim=64)
    path = rec.save_recognizer(net, tmp_path / "narrow.pt", meta={"trained_on": "nothing", "epoch": 0})
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "lrfr-recognizer/1" and payload["arch"] == "sphere20a"
    back = rec.load(weights=path)
    assert not back.training and back.embedding_dim == 64 and back.weights_meta["trained_on"] == "nothing"
    x = torch.rand(2, 3, 112, 96)
    with torch.no_grad():
        assert torch.equal(back(x), net.eval()(x))
    assert rec.load("sphere20a", weights=path).channels == net.channels
    with pytest.raises(ValueError, match="sphere20a"):
        rec.load("sphere36a", weights=path)
    with pytest.raises(ValueError, match="width"):
        rec.load(weights=path, width=0.25)
