"""Real data: the CASIA MobileFaceNet through lrfr.evaluate on the shared LFW copy.

One session-scoped evaluation embeds LFW's 13,233 images once (flip-concatenated), and the
LFW-standard and BLUFR protocols both read those cached features. Skips where ../shared is absent.
"""
import numpy as np
import pytest

import lrfr

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def hr_table(lfw_root, mobilefacenet_weights, tmp_path_factory):
    return lrfr.evaluate("hr", protocol=["lfw", "blufr"], data=lfw_root, recognizer="mobilefacenet",
                         weights=mobilefacenet_weights, workdir=tmp_path_factory.mktemp("eval"),
                         batch_size=256, progress=False)


def test_mobilefacenet_reproduces_lfw_accuracy(hr_table):
    lfw = hr_table.set_index("protocol").loc["lfw"]
    print(f"\nLFW (MobileFaceNet, HR): {100 * lfw['accuracy_mean']:.2f} ± {100 * lfw['accuracy_std']:.2f} %, "
          f"threshold {lfw['threshold_mean']:.3f}")
    assert abs(lfw["accuracy_mean"] - 0.993) <= 0.003
    assert lfw["n_images"] == 7701
    assert -1 < lfw["threshold_mean"] < 1


def test_mobilefacenet_blufr_numbers(hr_table):
    blufr = hr_table.set_index("protocol").loc["blufr"]
    vr, dir1 = blufr["vr@far=0.1%_mean_minus_std"], blufr["dir@rank=1,far=1%_mean_minus_std"]
    print(f"\nBLUFR (MobileFaceNet, HR): VR@FAR=0.1% {100 * blufr['vr@far=0.1%_mean']:.2f} ± "
          f"{100 * blufr['vr@far=0.1%_std']:.2f} (mean−std {100 * vr:.2f}); DIR@rank1,FAR=1% "
          f"{100 * blufr['dir@rank=1,far=1%_mean']:.2f} ± {100 * blufr['dir@rank=1,far=1%_std']:.2f} (mean−std {100 * dir1:.2f})")
    assert blufr["n_images"] == 13233
    # a 99.3% LFW model is far from chance on BLUFR, and open-set identification is the harder task
    assert 0.5 < vr < 1 and 0.2 < dir1 < 1 and dir1 < blufr["vr@far=0.1%_mean"]


def test_bicubic_14x12_hurts(hr_table, lfw_root, mobilefacenet_weights, tmp_path):
    # 600 of LFW's pairs (30 same and 30 different a fold) show the drop as clearly as all 6,000, in a tenth of the time
    from lrfr.results.scoring import subset_pairs

    subset = subset_pairs(lfw_root, tmp_path / "lfw-subset600", per_fold=30)
    low = lrfr.evaluate("bicubic", protocol="lfw", data=subset, recognizer="mobilefacenet",
                        weights=mobilefacenet_weights, workdir=tmp_path, scale=8, batch_size=256, progress=False)
    acc_lr = float(low["accuracy_mean"].iloc[0])
    acc_hr = float(hr_table.set_index("protocol").loc["lfw", "accuracy_mean"])
    print(f"\nLFW (MobileFaceNet): HR {100 * acc_hr:.2f} % vs bicubic 14×12 {100 * acc_lr:.2f} % (600 pairs); "
          f"PSNR {low['psnr'].iloc[0]:.2f} dB, SSIM {low['ssim'].iloc[0]:.4f}")
    assert low["n_images"].iloc[0] < 1300  # the subset's images only, not all of LFW
    assert acc_lr < acc_hr - 0.05
    assert np.isfinite(low["psnr"].iloc[0]) and 15 < low["psnr"].iloc[0] < 40
