"""The bucketed selection behind BLUFR's full FAR grid: the exact values and counts a full sort gives."""
import numpy as np
import pytest

from lrfr.metrics import kth
from lrfr.metrics.kth import kth_highest
from lrfr.metrics.roc import AllPairsScores, VRResult, vr_at_far_from_scores


def _arrays(rng):
    n = 3000
    yield "normal", rng.standard_normal(n).astype(np.float32)
    yield "ties", (rng.integers(-3, 4, n) * 0.25).astype(np.float32)
    yield "signed zeros", np.where(rng.random(n) < 0.5, -0.0, 0.0).astype(np.float32)
    yield "cosines", (rng.random(n) * 2 - 1).astype(np.float32)
    yield "infinities", np.r_[rng.standard_normal(n - 4), [np.inf, -np.inf, np.inf, 1e-45]].astype(np.float32)
    yield "one", np.array([0.5], np.float32)


@pytest.mark.parametrize("chunk", [7, 1 << 22])  # many chunks, one chunk
def test_kth_highest_equals_a_full_sort(chunk, monkeypatch):
    monkeypatch.setattr(kth, "CHUNK", chunk)
    rng = np.random.default_rng(0)
    for name, a in _arrays(rng):
        n = a.size
        ks = np.unique(np.r_[1, n, rng.integers(1, n + 1, 20)])
        got = kth_highest(a, ks)
        desc = np.sort(a)[::-1]
        assert np.array_equal(got.values, desc[ks - 1]), name
        assert np.array_equal(got.at_least, [np.count_nonzero(a >= v) for v in got.values]), name
        assert got.max == a.max() and got.max.dtype == np.float32, name


def test_kth_highest_refuses_what_it_cannot_rank():
    with pytest.raises(ValueError, match="float32"):
        kth_highest(np.zeros(3), [1])
    with pytest.raises(ValueError, match="NaN"):
        kth_highest(np.array([0.1, np.nan], np.float32), [1])
    with pytest.raises(ValueError, match=r"1\.\.2"):
        kth_highest(np.array([0.1, 0.2], np.float32), [3])
    with pytest.raises(ValueError, match="no scores"):
        kth_highest(np.zeros(0, np.float32), [])


def test_full_grid_selection_gives_the_sorted_paths_numbers_bit_for_bit():
    rng = np.random.default_rng(1)
    imp = np.round(rng.normal(0.1, 0.15, 200_000), 3).astype(np.float32)  # ties at every threshold
    gen = np.sort(rng.normal(0.6, 0.2, 3_000).astype(np.float32))
    fars = np.r_[0.0, [m * 10.0 ** d for d in range(-6, 0) for m in range(1, 10)], 1.0]  # 56 points
    fast = vr_at_far_from_scores(AllPairsScores(gen, imp.copy()), fars)
    ref = vr_at_far_from_scores(AllPairsScores(gen, np.sort(imp), is_sorted=True), fars)
    for field in VRResult.__dataclass_fields__:
        assert np.array_equal(getattr(fast, field), getattr(ref, field)), field
