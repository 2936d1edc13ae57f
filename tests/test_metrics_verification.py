"""Verification metrics against numbers worked out by hand (the working is in the comments)."""
import numpy as np
import pytest

from lrfr.metrics.roc import (
    all_pairs_scores,
    all_pairs_verification,
    n_false_accepts,
    roc_curve,
    threshold_at_far,
    vr_at_far,
    vr_at_far_from_scores,
)
from lrfr.metrics.verification import (
    accuracy_at_threshold,
    accuracy_over_grid,
    best_threshold,
    correct_mask,
    fit_threshold,
    kfold_accuracy,
)


def test_ties_at_threshold_each_convention():
    # similarities, threshold 0.5:        same 0.5 | diff 0.5 | same 0.7 | diff 0.3
    s = [0.5, 0.5, 0.7, 0.3]
    same = [True, False, True, False]
    # sphereface (tie="wrong"): same needs s > t, diff needs s < t → the two ties are wrong: 2/4
    assert correct_mask(s, same, 0.5, True, "wrong").tolist() == [False, False, True, True]
    assert accuracy_at_threshold(s, same, 0.5, True, "wrong") == 0.5
    # tie="different": the tie is predicted different → the diff pair at 0.5 is right: 3/4
    assert accuracy_at_threshold(s, same, 0.5, True, "different") == 0.75
    # tie="same": the same pair at 0.5 is right: 3/4
    assert correct_mask(s, same, 0.5, True, "same").tolist() == [True, False, True, True]
    # insightface distances, threshold 0.5: same 0.5 | diff 0.5 | same 0.3 | diff 0.7
    d = [0.5, 0.5, 0.3, 0.7]
    # same iff d < t: same at 0.5 predicted different (wrong), diff at 0.5 predicted different (right)
    assert correct_mask(d, same, 0.5, False, "different").tolist() == [False, True, True, True]


def test_accuracy_over_grid_matches_pointwise():
    rng = np.random.default_rng(0)
    s = np.round(rng.uniform(-1, 1, 200), 2)  # rounded: many ties with the grid
    same = rng.random(200) < 0.5
    grid = np.arange(-100, 101) / 100
    for hi in (True, False):
        for tie in ("wrong", "different", "same"):
            fast = accuracy_over_grid(s, same, grid, hi, tie)
            slow = [accuracy_at_threshold(s, same, t, hi, tie) for t in grid]
            np.testing.assert_allclose(fast, slow)


def test_best_threshold_mean_and_first():
    # same {0.6, 0.8}, diff {0.1, 0.2}; grid 0, 0.1, ..., 0.7; tie = wrong:
    #   t=0: 0.5 | 0.1: 0.5 (0.1 ties) | 0.2: 0.75 (0.2 ties) | 0.3, 0.4, 0.5: 1.0 | 0.6: 0.75 (0.6 ties) | 0.7: 0.75
    # best set {0.3, 0.4, 0.5}: mean 0.4 (SphereFace), first 0.3 (insightface's argmax), last 0.5
    s, same = [0.6, 0.8, 0.1, 0.2], [True, True, False, False]
    grid = np.arange(8) / 10
    assert best_threshold(s, same, grid, select="mean") == (pytest.approx(0.4), 1.0)
    assert best_threshold(s, same, grid, select="first")[0] == pytest.approx(0.3)
    assert best_threshold(s, same, grid, select="last")[0] == pytest.approx(0.5)


def _two_fold_sphereface_case():
    # fold 1 (training for fold 0): same (A, B), diff (C, D)
    A, B, C, D = (3, 1), (3, 1), (-1, 1), (-1, -3)
    # fold 0 (training for fold 1): same (E, F), diff (G, H)
    E, F, G, H = (1, 3), (1, 3), (5, -1), (5, 1)
    fa = np.array([E, G, A, C], float)
    fb = np.array([F, H, B, D], float)
    same = np.array([True, False, True, False])
    folds = np.array([0, 0, 1, 1])
    return fa, fb, same, folds


def test_sphereface_fold_mean_uses_training_folds_only():
    fa, fb, same, folds = _two_fold_sphereface_case()
    r = kfold_accuracy(fa, fb, same, folds, "sphereface", threshold_step=0.001)
    # Test fold 0. Mean of fold 1's pair images A, B, C, D = (4, 0)/4 = (1, 0).
    #   training scores: A−μ = B−μ = (2, 1) → cos 1 (same);
    #   C−μ = (−2, 1), D−μ = (−2, −3) → (4 − 3)/(√5·√13) = 1/√65 ≈ 0.12403 (diff)
    #   accuracy 1 for grid t in {0.125 … 0.999} (t = 1 ties the same pair) → mean (0.125 + 0.999)/2 = 0.562
    #   (had fold 0's images entered the mean, μ = (2, 0.75) and the threshold would be ≈ 0.7785)
    #   test: E−μ = F−μ = (0, 3) → cos 1 > 0.562 right; G−μ = (4, −1), H−μ = (4, 1) → 15/17 = 0.882 > 0.562
    #   → predicted same, wrong. Fold 0 accuracy 1/2.
    # Test fold 1. Mean of E, F, G, H = (12, 6)/4 = (3, 1.5).
    #   training: (E, F) → 1; G−μ = (2, −2.5), H−μ = (2, −0.5) → 5.25/(√10.25·√4.25) ≈ 0.79542
    #   best t in {0.796 … 0.999} → mean 0.8975
    #   test: A−μ = B−μ = (0, −0.5) → 1 right; C−μ = (−4, −0.5), D−μ = (−4, −4.5) → 18.25/(√16.25·√36.25) ≈ 0.752
    #   < 0.8975 right. Fold 1 accuracy 1.
    np.testing.assert_allclose(r.threshold, [0.562, 0.8975], atol=1e-12)
    np.testing.assert_allclose(r.accuracy, [0.5, 1.0])
    np.testing.assert_allclose(r.train_accuracy, [1.0, 1.0])
    assert r.mean == pytest.approx(0.75)
    assert r.std == pytest.approx(0.25)  # ddof=0: sqrt(((0.5−0.75)² + (1−0.75)²)/2)
    r1 = kfold_accuracy(fa, fb, same, folds, "sphereface", threshold_step=0.001, ddof=1)
    assert r1.std == pytest.approx(np.sqrt(0.125))  # ddof=1: sqrt(0.125/1)


def test_fold_threshold_ignores_test_fold_features():
    rng = np.random.default_rng(1)
    fa, fb = rng.normal(size=(60, 8)), rng.normal(size=(60, 8))
    same = np.tile([True, False], 30)
    folds = np.repeat(np.arange(3), 20)
    base = kfold_accuracy(fa, fb, same, folds, "sphereface")
    fa2, fb2 = fa.copy(), fb.copy()
    fa2[folds == 0] += 50.0  # junk in fold 0 only
    fb2[folds == 0] *= -3.0
    moved = kfold_accuracy(fa2, fb2, same, folds, "sphereface")
    assert moved.threshold[0] == base.threshold[0]  # fold 0's threshold comes from folds 1, 2 only
    assert moved.train_accuracy[0] == base.train_accuracy[0]


def test_insightface_convention_by_hand():
    s2 = np.sqrt(0.5)
    e1, e2 = (1.0, 0.0), (0.0, 1.0)
    # fold 0: same (e1, e1) d = 0; diff (e1, e2) d = 2.  fold 1: same (e1, (1,1)/√2) d = 2 − √2 ≈ 0.586; diff (e1, −e1) d = 4
    fa = np.array([e1, e1, e1, e1])
    fb = np.array([e1, e2, (s2, s2), (-1.0, 0.0)])
    same = np.array([True, False, True, False])
    folds = np.array([0, 0, 1, 1])
    r = kfold_accuracy(fa, fb, same, folds, "insightface")
    # test fold 0, training fold 1: accuracy 1 for t in (0.586, 4] → first grid value 0.59;
    #   test: 0 < 0.59 (same) right, 2 ≥ 0.59 (diff) right → 1.0
    # test fold 1, training fold 0: accuracy 1 for t in (0, 2] → first 0.01;
    #   test: 0.586 < 0.01? no → same pair wrong; 4 → diff right → 0.5
    np.testing.assert_allclose(r.threshold, [0.59, 0.01])
    np.testing.assert_allclose(r.accuracy, [1.0, 0.5])
    assert r.conventions["predict_same"] == "distance < threshold"
    # per pair, as judged: the same pair of fold 1 (d = 0.586 against t = 0.01) is the one wrong
    np.testing.assert_array_equal(r.pair_correct, [True, True, False, True])
    np.testing.assert_allclose(r.pair_score, [0.0, 2.0, 2 - np.sqrt(2), 4.0], atol=1e-12)


def test_per_pair_outcomes_are_the_fold_accuracies():
    fa, fb, same, folds = _two_fold_sphereface_case()
    r = kfold_accuracy(fa, fb, same, folds, "sphereface", threshold_step=0.001)
    # from the working of test_sphereface_fold_mean_uses_training_folds_only: fold 0's impostor (G, H) is the
    # one pair judged wrong, at the cosine 15/17 after fold 1's mean was subtracted
    np.testing.assert_array_equal(r.pair_correct[folds == 0], same[folds == 0])
    assert r.pair_correct[folds == 1].all()
    assert r.pair_score[(folds == 0) & ~same][0] == pytest.approx(15 / 17)
    for k, f in enumerate(r.folds):
        assert r.pair_correct[folds == f].mean() == r.accuracy[k]


def test_fit_threshold_on_all_pairs():
    same = np.array([True, False])
    out = fit_threshold(np.array([[1.0, 0], [0, 1]]), np.array([[1.0, 0], [1, 0]]), same, "insightface")
    # distances: same 0, diff 2 → accuracy 1 for t in (0, 2] → first grid value 0.01
    assert out["threshold"] == pytest.approx(0.01) and out["mean_feature"] is None
    sph = fit_threshold(np.array([[1.0, 0], [0, 1]]), np.array([[1.0, 0], [1, 0]]), same, "sphereface")
    np.testing.assert_allclose(sph["mean_feature"], [0.75, 0.25])  # mean of the 4 pair images


# ---------------------------------------------------------------- VR@FAR and ROC

IMP = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]  # 10 impostor scores
GEN = [0.5, 0.85, 0.95, 0.99]


def test_vr_at_far_by_hand():
    r = vr_at_far(GEN, IMP, [0.0, 0.1, 0.25, 0.5, 1.0])
    # FAR 0   → k = 0: threshold just above 0.95; accept only > 0.95 → {0.99}: VR 1/4 (0.95 ties an impostor: rejected)
    # FAR 0.1 → k = 1: threshold 0.95 (highest impostor), accept ≥ 0.95 → {0.95, 0.99}: 2/4
    # FAR 0.25→ k = round(2.5) = 3 (halves up): 3rd highest 0.8 → {0.85, 0.95, 0.99}: 3/4
    # FAR 0.5 → k = 5: 0.6 → 0.5 rejected: 3/4
    # FAR 1   → accept all: 4/4, threshold −inf
    np.testing.assert_allclose(r.vr, [0.25, 0.5, 0.75, 0.75, 1.0])
    assert r.threshold[0] > 0.95 and r.threshold[0] == np.nextafter(0.95, 1.0)
    np.testing.assert_allclose(r.threshold[1:4], [0.95, 0.8, 0.6])
    assert r.threshold[4] == -np.inf
    np.testing.assert_allclose(r.far_achieved, [0.0, 0.1, 0.3, 0.5, 1.0])
    assert n_false_accepts(0.25, 10) == 3 and n_false_accepts(0.0004, 1000) == 0 and n_false_accepts(0.0005, 1000) == 1


def test_vr_ties_among_impostors():
    # impostors 0.5, 0.5, 0.5, 0.1; FAR 0.25 → k = 1 → threshold 0.5; accepting ≥ 0.5 lets 3 impostors in
    r = vr_at_far([0.5, 0.4], [0.5, 0.5, 0.5, 0.1], [0.25])
    assert r.threshold[0] == 0.5 and r.far_achieved[0] == 0.75 and r.vr[0] == 0.5
    assert threshold_at_far([0.5, 0.5, 0.5, 0.1], 0.25) == 0.5


def test_float32_far0_threshold_is_above_max_in_float32():
    imp = np.array([0.3, 0.7], np.float32)
    t = threshold_at_far(imp, 0.0)
    assert np.float32(t) > imp.max()  # still above the max after a cast to float32
    assert not (imp >= t).any()


def test_roc_curve_by_hand():
    # scores 0.9 (same), 0.8 (diff), 0.7 (same), 0.7 (diff); accept ≥ t
    far, tar, thr = roc_curve([0.9, 0.8, 0.7, 0.7], [True, False, True, False])
    # t = inf: (0, 0); t = 0.9: (0, 1/2); t = 0.8: (1/2, 1/2); t = 0.7: (1, 1)
    np.testing.assert_allclose(far, [0, 0, 0.5, 1])
    np.testing.assert_allclose(tar, [0, 0.5, 0.5, 1])
    np.testing.assert_allclose(thr, [np.inf, 0.9, 0.8, 0.7])


@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_chunked_all_pairs_equals_brute_force(chunk):
    rng = np.random.default_rng(chunk)
    n = 157
    lab = rng.integers(0, 30, n)
    x = (rng.normal(size=(n, 12)) + 1.5 * rng.normal(size=(30, 12))[lab]).astype(np.float32)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = xn.astype(np.float64) @ xn.T.astype(np.float64)
    iu = np.triu_indices(n, 1)
    same = lab[iu[0]] == lab[iu[1]]
    fars = [0.0, 0.001, 0.01, 0.1, 0.3, 1.0]
    ref = vr_at_far(s[iu][same], s[iu][~same], fars)
    for sort_above in (0, 100):  # sorted path and partition path
        got = all_pairs_verification(x, lab, fars, chunk=chunk, sort_above=sort_above)
        assert got.n_genuine == same.sum() and got.n_impostor == (~same).sum()
        np.testing.assert_allclose(got.vr, ref.vr)
        np.testing.assert_allclose(got.far_achieved, ref.far_achieved)
        np.testing.assert_allclose(got.threshold[1:-1], ref.threshold[1:-1], atol=1e-6)
    sc = all_pairs_scores(x, lab, chunk=chunk)
    np.testing.assert_allclose(np.sort(sc.impostor), np.sort(s[iu][~same]), atol=1e-6)
    np.testing.assert_allclose(sc.genuine, np.sort(s[iu][same]), atol=1e-6)
    assert vr_at_far_from_scores(sc, [1.0]).vr[0] == 1.0
