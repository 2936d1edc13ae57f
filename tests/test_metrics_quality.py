"""PSNR / SSIM against known values and a small NumPy reference."""
import numpy as np
import pytest
import torch

from lrfr.metrics.quality import gaussian_window, psnr, rgb_to_y, ssim


def test_psnr_of_known_mse():
    x = torch.zeros(2, 3, 8, 8)
    y = torch.full((2, 3, 8, 8), 0.1)
    # MSE = 0.01 → 10·log10(1 / 0.01) = 20 dB
    np.testing.assert_allclose(psnr(x, y).numpy(), [20.0, 20.0], atol=1e-9)
    # same on the 0..255 scale: MSE = 25.5² → 10·log10(255² / 25.5²) = 20 dB
    np.testing.assert_allclose(psnr(x * 255, y * 255, data_range=255.0).numpy(), [20.0, 20.0], atol=1e-9)
    assert torch.isinf(psnr(x, x)).all()
    # per image: the second image differs by 0.2 → MSE 0.04 → 13.979 dB
    y2 = y.clone()
    y2[1] = 0.2
    np.testing.assert_allclose(psnr(x, y2).numpy(), [20.0, 10 * np.log10(25)], atol=1e-9)


def test_crop_border():
    x = torch.rand(1, 3, 10, 10)
    y = x.clone()
    y[..., 0, :] = 0.0  # only the border differs
    assert torch.isinf(psnr(x, y, crop_border=1)).all()
    assert torch.isfinite(psnr(x, y)).all()


def test_y_channel_bt601():
    white, black = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    red = torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1)
    # Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255: white 235/255, black 16/255, red 81.481/255
    assert rgb_to_y(white, 1.0).item() == pytest.approx(235 / 255)
    assert rgb_to_y(black, 1.0).item() == pytest.approx(16 / 255)
    assert rgb_to_y(red, 1.0).item() == pytest.approx(81.481 / 255)
    assert rgb_to_y(white * 255, 255.0).item() == pytest.approx(235.0)
    # PSNR on Y of black vs white: ΔY = 219/255 → 20·log10(255/219)
    assert psnr(black, white, y_channel=True).item() == pytest.approx(20 * np.log10(255 / 219))


def test_ssim_identical_is_one():
    x = torch.rand(3, 3, 16, 16)
    np.testing.assert_allclose(ssim(x, x).numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose(ssim(x, x, y_channel=True).numpy(), 1.0, atol=1e-12)


def _ssim_numpy(a, b, L=1.0):
    """Reference: Wang et al. 2004 with scipy's 'valid' correlation and an 11×11 σ=1.5 Gaussian."""
    from scipy.signal import correlate2d

    r = np.arange(11) - 5.0
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()

    def f(t):
        return correlate2d(t, w, mode="valid")

    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    mx, my = f(a), f(b)
    sxx, syy, sxy = f(a * a) - mx**2, f(b * b) - my**2, f(a * b) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return m.mean()


def test_ssim_matches_numpy_reference():
    rng = np.random.default_rng(0)
    a = rng.random((3, 14, 13))
    b = np.clip(a + 0.1 * rng.normal(size=a.shape), 0, 1)
    ref = np.mean([_ssim_numpy(a[c], b[c]) for c in range(3)])  # RGB: mean over channels
    got = ssim(torch.from_numpy(a), torch.from_numpy(b)).item()
    assert got == pytest.approx(ref, abs=1e-10)
    assert gaussian_window().sum().item() == pytest.approx(1.0)


def test_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_float32_ssim_is_within_1e6_of_float64_and_psnr_is_the_float64_figure():
    torch.manual_seed(0)
    hr = torch.nn.functional.avg_pool2d(torch.rand(8, 3, 112, 96), 3, 1, 1)  # smooth, face-like statistics
    sr = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1)
    s32, s64 = ssim(sr, hr), ssim(sr.double(), hr.double())
    assert s32.dtype == torch.float32 and s64.dtype == torch.float64
    assert float((s32.double() - s64).abs().max()) < 1e-6
    p32 = psnr(sr, hr)
    assert p32.dtype == torch.float64
    torch.testing.assert_close(p32, 10 * torch.log10(1 / ((sr.double() - hr.double()) ** 2).flatten(1).mean(1)),
                               rtol=0, atol=0)


def test_psnr_leaves_its_inputs_untouched():
    x, y = torch.rand(2, 3, 16, 16, dtype=torch.float64), torch.rand(2, 3, 16, 16, dtype=torch.float64)
    x0, y0 = x.clone(), y.clone()
    for kw in ({}, {"crop_border": 2}, {"y_channel": True}):
        psnr(x, y, **kw)
        assert torch.equal(x, x0) and torch.equal(y, y0)


def test_chunked_quality_equals_the_whole_batch_bit_for_bit(monkeypatch):
    """psnr/ssim walk a batch in slices of quality.CHUNK images; each image is measured on its own, so the
    slices change nothing (a batch of 37 leaves a remainder slice)."""
    import torch

    from lrfr.metrics import quality

    torch.manual_seed(3)
    y = torch.rand(37, 3, 40, 32)
    x = (y + 0.1 * torch.randn_like(y)).clamp(0, 1)
    sliced = quality.psnr(x, y), quality.ssim(x, y), quality.ssim(x, y, y_channel=True, crop_border=2)
    monkeypatch.setattr(quality, "CHUNK", 10**6)
    whole = quality.psnr(x, y), quality.ssim(x, y), quality.ssim(x, y, y_channel=True, crop_border=2)
    assert quality.CHUNK > 37 and all(torch.equal(a, b) for a, b in zip(sliced, whole))
