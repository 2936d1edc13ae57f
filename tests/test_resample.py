"""The HR → LR → HR chain: sizes, errors, methods, ranges."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lrfr.data.resample import degrade, downsample, upsample


@pytest.mark.parametrize("scale,expected", [(2, (56, 48)), (4, (28, 24)), (8, (14, 12))])
def test_sizes_112x96(scale, expected):
    hr = torch.rand(2, 3, 112, 96)
    lr = downsample(hr, scale)
    assert lr.shape == (2, 3, *expected)
    assert downsample(hr[0], scale).shape == (3, *expected)
    assert downsample(hr, scale, method="bilinear_steps").shape == (2, 3, *expected)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_sizes_128(scale):
    lr = downsample(torch.rand(1, 3, 128, 128), scale)
    assert lr.shape == (1, 3, 128 // scale, 128 // scale)


def test_non_divisible_message():
    with pytest.raises(ValueError) as err:
        downsample(torch.rand(3, 112, 100), 8)
    msg = str(err.value)
    assert "112x100" in msg and "8" in msg and "12.5" in msg
    with pytest.raises(ValueError, match="power of 2"):
        downsample(torch.rand(3, 24, 24), 3, method="bilinear_steps")
    assert downsample(torch.rand(3, 24, 24), 3).shape == (3, 8, 8)  # other divisible scales are fine
    with pytest.raises(ValueError, match="scale"):
        downsample(torch.rand(3, 24, 24), 0)
    with pytest.raises(ValueError, match="unknown"):
        downsample(torch.rand(3, 24, 24), 2, method="lanczos")
    with pytest.raises(TypeError, match="uint8"):
        downsample(torch.zeros(3, 24, 24, dtype=torch.uint8), 2)


def test_matches_documented_call():
    hr = torch.rand(2, 3, 112, 96)
    ref = F.interpolate(hr, size=(14, 12), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    assert torch.allclose(downsample(hr, 8), ref)


def test_bilinear_steps_is_block_mean():
    hr = torch.rand(1, 3, 32, 16)
    ref = F.avg_pool2d(hr, 4)
    assert torch.allclose(downsample(hr, 4, method="bilinear_steps"), ref, atol=1e-6)


@pytest.mark.parametrize("method", ["bicubic", "bilinear_steps"])
def test_constant_stays_constant(method):
    hr = torch.full((1, 3, 112, 96), 0.37)
    lr = downsample(hr, 8, method=method)
    assert torch.allclose(lr, torch.full_like(lr, 0.37), atol=1e-5)
    up = degrade(hr, 4, method=method, upscale=True)
    assert up.shape == hr.shape and torch.allclose(up, hr, atol=1e-5)


def test_range_clamped_and_quantized():
    hr = torch.zeros(1, 3, 64, 64)
    hr[..., ::2, :] = 1.0  # harsh stripes make bicubic overshoot
    hr[..., 20:40, 20:40] = 0.0
    for x in (downsample(hr, 2, antialias=False), upsample(downsample(hr, 4), scale=4)):
        assert x.min() >= 0 and x.max() <= 1
    raw = F.interpolate(downsample(hr, 4), scale_factor=4, mode="bicubic", align_corners=False)
    assert raw.min() < 0 or raw.max() > 1  # i.e. the clamp above did something
    q = downsample(torch.rand(1, 3, 32, 32), 2, quantize=True)
    assert torch.allclose(q * 255, (q * 255).round(), atol=1e-4)


def test_upsample_back_to_hr_size():
    hr = torch.rand(2, 3, 112, 96)
    lr = degrade(hr, 8)
    assert lr.shape == (2, 3, 14, 12)
    up = upsample(lr, scale=8)
    assert up.shape == hr.shape
    assert upsample(lr, size=(112, 96)).shape == hr.shape
    assert torch.equal(degrade(hr, 8, upscale=True), up)
    assert upsample(lr[0], size=(28, 24), method="bilinear").shape == (3, 28, 24)
    with pytest.raises(ValueError, match="exactly one"):
        upsample(lr)
    with pytest.raises(ValueError, match="exactly one"):
        upsample(lr, scale=2, size=(28, 24))


def test_degrade_keeps_low_frequencies():
    # a smooth image survives 2x down/up almost unchanged; a sharper one loses more at 8x
    y, x = torch.meshgrid(torch.linspace(0, 1, 112), torch.linspace(0, 1, 96), indexing="ij")
    hr = (0.5 + 0.3 * torch.sin(3 * x) * torch.cos(2 * y)).expand(1, 3, 112, 96).contiguous()
    err2 = (degrade(hr, 2, upscale=True) - hr).abs().mean()
    err8 = (degrade(hr, 8, upscale=True) - hr).abs().mean()
    assert err2 < 0.01 and err2 < err8


def _cubic_weights(t: float, a: float = -0.75) -> list[float]:
    """The 4 taps of cubic convolution (Keys; a = -0.75, OpenCV's INTER_CUBIC) at fractional offset t."""
    def k(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0
    return [k(t + 1), k(t), k(1 - t), k(2 - t)]


def _cubic_resize_1d(x: np.ndarray, out: int, axis: int) -> np.ndarray:
    """Hand-computed INTER_CUBIC along ``axis``: sample i at (i + 0.5)·n/out − 0.5, taps clamped at the border."""
    n = x.shape[axis]
    x = np.moveaxis(x, axis, 0)
    y = np.zeros((out, *x.shape[1:]))
    for i in range(out):
        src = (i + 0.5) * n / out - 0.5
        x0 = int(np.floor(src))
        for w, j in zip(_cubic_weights(src - x0), range(x0 - 1, x0 + 3)):
            y[i] += w * x[min(max(j, 0), n - 1)]
    return np.moveaxis(y, 0, axis)


def test_bicubic_without_antialias_matches_a_hand_computed_cubic_convolution():
    """``down:bicubic_noaa`` (Lai et al. 2019's OpenCV INTER_CUBIC): the bytes of a hand-computed cubic
    convolution, separable, sampled at the LR pixel centres, no prefilter."""
    from lrfr.data.degradations import apply_degradation

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 16, 12)).astype(np.float64) / 255
    expected = _cubic_resize_1d(_cubic_resize_1d(img, 4, axis=1), 3, axis=2)
    expected = np.round(np.clip(expected, 0, 1) * 255).astype(np.uint8)
    got = apply_degradation(torch.from_numpy(img).float()[None], 4, "down:bicubic_noaa")[0]
    assert np.array_equal(np.round(got.numpy() * 255).astype(np.uint8), expected)
    antialiased = downsample(torch.from_numpy(img).float(), 4, method="bicubic")
    assert not np.array_equal(np.round(antialiased.numpy() * 255).astype(np.uint8), expected)  # not the default


# -- sizes that are not an integer fraction, and the rule native LR faces follow (issues 39, 42) --------------

def test_downsample_to_a_size_takes_any_factor():
    hr = torch.rand(2, 3, 112, 96)
    lr = downsample(hr, size=(17, 15))
    assert lr.shape == (2, 3, 17, 15) and 0 <= float(lr.min()) and float(lr.max()) <= 1
    assert torch.equal(downsample(hr, size=(14, 12)), downsample(hr, 8))  # an integer factor: the same bytes
    with pytest.raises(ValueError, match="give exactly one of scale and size"):
        downsample(hr, 8, size=(14, 12))
    with pytest.raises(ValueError, match=r"LR size 120x96 is larger than the image \(112x96\)"):
        downsample(hr, size=(120, 96))
    with pytest.raises(ValueError, match="bilinear_steps.*power-of-2 scale"):
        downsample(hr, size=(17, 15), method="bilinear_steps")


@pytest.mark.parametrize("size, kept", [((14, 12), (14, 12)), ((17, 15), (17, 15)), ((7, 6), (7, 6)),
                                        ((24, 24), (24, 21)), ((20, 16), (19, 16)), ((30, 40), (30, 26))])
def test_crop_to_aspect_keeps_the_centre_in_the_recognizer_proportions(size, kept):
    from lrfr.data.resample import crop_to_aspect

    img = torch.arange(size[0] * size[1], dtype=torch.float32).reshape(1, 1, *size)
    out = crop_to_aspect(img, (112, 96))
    assert tuple(out.shape[-2:]) == kept
    top, left = (size[0] - kept[0]) // 2, (size[1] - kept[1]) // 2
    assert torch.equal(out, img[..., top:top + kept[0], left:left + kept[1]])


def test_fit_to_size_is_bicubic_upsampling_for_faces_in_proportion_and_crops_the_rest():
    from lrfr.data.resample import crop_to_aspect, fit_to_size

    lr = torch.rand(2, 3, 14, 12)
    assert torch.equal(fit_to_size(lr, (112, 96)), upsample(lr, size=(112, 96)))
    square = torch.rand(3, 24, 24)
    out = fit_to_size(square, (112, 96))
    assert out.shape == (3, 112, 96)
    assert torch.equal(out, upsample(crop_to_aspect(square, (112, 96)), size=(112, 96)))
    big = torch.rand(1, 3, 224, 192)  # larger than the input: antialiased down
    assert fit_to_size(big, (112, 96)).shape == (1, 3, 112, 96)
