"""SR generators and discriminators: the contract (shapes, ranges, input checks), strict factories,
SRResNet and the size-agnostic SRGAN discriminator. Tiny widths so every test runs in well under a second."""
import pytest
import torch
import torch.nn.functional as F

import lrfr.sr as sr
from lrfr.sr.base import Discriminator, SRModel

TINY = {"channels": 8, "blocks": 2}


@pytest.mark.parametrize("name,kwargs", [("bicubic", {}), ("srresnet", TINY),
                                         ("srresnet", {**TINY, "batch_norm": False, "bicubic_skip": True})])
@pytest.mark.parametrize("scale", [2, 4, 8])
def test_output_shapes_square_and_non_square(name, kwargs, scale):
    torch.manual_seed(0)
    model = sr.build(name, scale=scale, **kwargs)
    assert isinstance(model, SRModel) and model.scale == scale and model.arch == name
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 3, 8 * scale, 8 * scale)
    assert model(torch.rand(1, 3, 14, 12)).shape == (1, 3, 14 * scale, 12 * scale)


def test_srresnet_8x_from_14x12_to_112x96_and_super_resolve_contract():
    torch.manual_seed(0)
    model = sr.build("srresnet", scale=8, **TINY)
    lr = torch.rand(3, 3, 14, 12)
    assert model.training
    hr = model.super_resolve(lr)
    assert hr.shape == (3, 3, 112, 96) and not hr.requires_grad
    assert float(hr.min()) >= 0.0 and float(hr.max()) <= 1.0
    assert model.training  # super_resolve restores the mode it found
    model.eval()
    raw = model(lr)
    assert raw.requires_grad  # forward is the training path: gradients, no clamp
    assert torch.equal(raw.detach().clamp(0, 1), model.super_resolve(lr))


def test_srresnet_trains_end_to_end():
    torch.manual_seed(0)
    model = sr.build("srresnet", scale=4, **TINY)
    out = model(torch.rand(2, 3, 8, 8))
    F.l1_loss(out, torch.rand_like(out)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    assert model.head[0].weight.grad.abs().sum() > 0


def test_srresnet_records_its_build_and_paper_defaults():
    model = sr.build("srresnet", scale=4, **TINY)
    assert model.build_kwargs == {"scale": 4, "channels": 8, "blocks": 2, "batch_norm": True, "bicubic_skip": False}
    assert model.learned and model.name == "srresnet" and model.weights_path is None
    with torch.device("meta"):
        paper = sr.build("srresnet", scale=4)
    assert paper.build_kwargs["channels"] == 64 and paper.build_kwargs["blocks"] == 16
    assert sum(1 for m in paper.modules() if isinstance(m, torch.nn.PixelShuffle)) == 2
    assert paper.head[0].kernel_size == (9, 9) and paper.tail.kernel_size == (9, 9)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in paper.modules()) == 2 * 16 + 1


def test_bicubic_skip_with_zero_tail_is_bicubic():
    model = sr.build("srresnet", scale=8, bicubic_skip=True, **TINY).eval()
    torch.nn.init.zeros_(model.tail.weight)
    torch.nn.init.zeros_(model.tail.bias)
    lr = torch.rand(2, 3, 14, 12)
    expected = F.interpolate(lr, size=(112, 96), mode="bicubic", align_corners=False)
    torch.testing.assert_close(model(lr), expected)


def test_bad_scale_and_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="scale must be one of 2, 4, 8"):
        sr.build("srresnet", scale=3, **TINY)
    with pytest.raises(ValueError, match="channels"):
        sr.build("srresnet", scale=4, channels=0, blocks=1)
    with pytest.raises(ValueError, match="bicubic: scale"):
        sr.build("bicubic", scale=5)


@pytest.mark.parametrize("name", ["bicubic", "srresnet"])
def test_input_check_names_the_layout(name):
    model = sr.build(name, scale=2, **(TINY if name == "srresnet" else {}))
    with pytest.raises(ValueError, match=r"\(N, 3, h, w\) in \[0, 1\].*got shape \(3, 8, 8\)"):
        model(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match=r"got shape \(1, 1, 8, 8\)"):
        model(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="dtype torch.uint8"):
        model(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="got ndarray"):
        model(torch.rand(1, 3, 8, 8).numpy())


@pytest.mark.parametrize("name,bad", [("bicubic", "sclae"), ("srresnet", "chanels")])
def test_unknown_keyword_argument_is_refused(name, bad):
    with pytest.raises(TypeError, match=rf"'{bad}'.*accepts: scale"):
        sr.build(name, scale=4, **{bad: 4})
    with pytest.raises(TypeError, match=bad):  # the factory itself has no **kwargs either
        sr.SR_REGISTRY.get(name)(**{bad: 4})


def test_unknown_discriminator_argument_is_refused():
    with pytest.raises(TypeError, match=r"'width'.*accepts: channels, dense, pool, batch_norm"):
        sr.build_discriminator("srgan", width=8)


def test_unknown_architecture_lists_known_ones():
    with pytest.raises(KeyError, match=r"unknown SR model 'srgann'; known: bicubic, .*srresnet"):
        sr.build("srgann", scale=8)
    with pytest.raises(KeyError, match=r"unknown discriminator 'patchgan'; known: .*srgan"):
        sr.build_discriminator("patchgan")
    with pytest.raises(KeyError, match="known: bicubic"):
        sr.is_learned("nope")


def test_names_and_is_learned():
    assert {"bicubic", "srresnet"} <= set(sr.names())
    assert "srgan" in sr.discriminator_names()
    assert sr.is_learned("srresnet") and not sr.is_learned("bicubic")


@pytest.mark.parametrize("size", [(112, 96), (64, 64), (16, 16), (12, 8)])
@pytest.mark.parametrize("pool", [1, 4])
def test_discriminator_is_size_agnostic(size, pool):
    torch.manual_seed(0)
    d = sr.build_discriminator("srgan", channels=4, dense=16, pool=pool)
    assert isinstance(d, Discriminator)
    logits = d(torch.rand(3, 3, *size))
    assert logits.shape == (3, 1) and torch.isfinite(logits).all()


def test_discriminator_layout_is_the_papers():
    with torch.device("meta"):
        d = sr.build_discriminator("srgan")
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.features) == 7
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, torch.nn.LeakyReLU))
    dense = [m for m in d.head if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in dense] == [1024, 1]


def test_discriminator_gradients_and_no_batch_norm_variant():
    d = sr.build_discriminator("srgan", channels=4, dense=8, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    d(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # WGAN-GP needs the input gradient
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        d(torch.rand(2, 16, 16))
