"""Closed-set CMC and open-set DIR against hand-worked cases."""
import numpy as np
import pytest

from lrfr.metrics.identification import cmc, open_set_identification, probe_scores, probe_scores_from_matrix

# gallery: identities 1, 2, 3 (one image each)
# probe p0 (id 1): [0.90, 0.95, 0.10] → mate 0.90 beaten by id 2's 0.95 → rank 2 (miss at rank 1, hit at rank 2)
# probe p1 (id 2): [0.30, 0.80, 0.20] → rank 1
# probe p2 (id 9, not in gallery): impostor probe, best score 0.50
# probe p3 (id 3): [0.60, 0.10, 0.60] → tie with a non-mate → counted against it: rank 2
# probe p4 (id 8, not in gallery): impostor probe, best score 0.85
S = np.array([
    [0.90, 0.95, 0.10],
    [0.30, 0.80, 0.20],
    [0.50, 0.40, 0.45],
    [0.60, 0.10, 0.60],
    [0.85, 0.20, 0.10],
])
GAL = [1, 2, 3]
PRB = [1, 2, 9, 3, 8]


def test_probe_scores_by_hand():
    ps = probe_scores_from_matrix(S, GAL, PRB)
    assert ps.is_genuine.tolist() == [True, True, False, True, False]
    assert ps.rank.tolist() == [2, 1, 0, 2, 0]
    np.testing.assert_allclose(ps.mate_score, [0.9, 0.8, np.nan, 0.6, np.nan])
    np.testing.assert_allclose(ps.max_score, [0.95, 0.8, 0.5, 0.6, 0.85])


def test_cmc_by_hand():
    ps = probe_scores_from_matrix(S, GAL, PRB)
    # genuine probes p0 (rank 2), p1 (rank 1), p3 (rank 2): rank 1 → 1/3, rank ≥ 2 → 3/3
    np.testing.assert_allclose(cmc(ps, [1, 2, 3]), [1 / 3, 1.0, 1.0])


def test_open_set_dir_by_hand():
    ps = probe_scores_from_matrix(S, GAL, PRB)
    r = open_set_identification(ps, [0.0, 0.5, 1.0], [1, 2])
    # impostor probes' best scores: 0.50, 0.85 (n = 2)
    # FAR 0   → threshold just above 0.85: rank 1: p1 (0.80) fails → 0; rank 2: p0 (0.90, rank 2) → 1/3
    # FAR 0.5 → k = 1 → threshold 0.85: rank 1: 0; rank 2: p0 → 1/3
    # FAR 1   → accept all: DIR = CMC: 1/3 and 1
    np.testing.assert_allclose(r.dir, [[0, 1 / 3], [0, 1 / 3], [1 / 3, 1.0]])
    assert r.threshold[0] == np.nextafter(0.85, 1) and r.threshold[1] == 0.85 and r.threshold[2] == -np.inf
    np.testing.assert_allclose(r.far_achieved, [0.0, 0.5, 1.0])
    assert (r.n_genuine, r.n_impostor) == (3, 2)


def test_rank_over_identity_vs_entry():
    # gallery: two images of id 1, one of id 2
    gal = [1, 1, 2]
    s = np.array([
        [0.50, 0.70, 0.60],  # id 1: mate = best of 0.50, 0.70 = 0.70 → rank 1 (both ways)
        [0.50, 0.70, 0.60],  # id 2: mate 0.60; identity 1's best 0.70 ≥ 0.60 → rank 2; entries ≥ 0.60: one → rank 2
        [0.65, 0.70, 0.60],  # id 2: mate 0.60; one other identity above → rank 2; two entries above → rank 3
    ])
    ident = probe_scores_from_matrix(s, gal, [1, 2, 2], rank_over="identity")
    entry = probe_scores_from_matrix(s, gal, [1, 2, 2], rank_over="entry")
    assert ident.rank.tolist() == [1, 2, 2]
    assert entry.rank.tolist() == [1, 2, 3]
    np.testing.assert_allclose(ident.mate_score, [0.7, 0.6, 0.6])
    with pytest.raises(ValueError, match="rank_over"):
        probe_scores_from_matrix(s, gal, [1, 2, 2], rank_over="person")


def test_no_impostor_probes_gives_nan():
    ps = probe_scores_from_matrix(S[[0, 1]], GAL, [1, 2])
    r = open_set_identification(ps, [0.01], [1])
    assert np.isnan(r.dir).all() and np.isnan(r.threshold).all()


def test_chunked_probe_scores_match_matrix():
    rng = np.random.default_rng(0)
    g, p = rng.normal(size=(25, 6)), rng.normal(size=(40, 6))
    gl, pl = np.arange(25) % 18, rng.integers(0, 30, 40)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    pn = p / np.linalg.norm(p, axis=1, keepdims=True)
    ref = probe_scores_from_matrix(pn @ gn.T, gl, pl)
    for rank_over in ("identity", "entry"):
        ref = probe_scores_from_matrix(pn @ gn.T, gl, pl, rank_over=rank_over)
        got = probe_scores(g, gl, p, pl, chunk=7, rank_over=rank_over)
        assert (got.rank == ref.rank).all() and (got.is_genuine == ref.is_genuine).all()
        np.testing.assert_allclose(got.mate_score, ref.mate_score, atol=1e-6)
        np.testing.assert_allclose(got.max_score, ref.max_score, atol=1e-6)
