"""BLUFR's headline VR from candidate scores only (lrfr.metrics.roc.vr_at_far_from_candidates): bit-identical
to the path that copies every score out and partitions it, with the fall-backs where candidates cannot work."""
import numpy as np
import pytest

from lrfr.metrics.roc import (all_pairs_scores_from_matrix, candidates_above, impostor_floor, similarity_matrix,
                              vr_at_far_from_candidates, vr_at_far_from_matrix, vr_at_far_from_scores)


@pytest.fixture(scope="module")
def matrix():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(700), 6)
    centres = rng.normal(size=(700, 32)).astype(np.float32)
    feats = centres[labels] + 1.2 * rng.normal(size=(len(labels), 32)).astype(np.float32)
    return similarity_matrix(feats), labels


def _same(a, b):
    return (np.array_equal(a.vr, b.vr) and np.array_equal(a.threshold, b.threshold)
            and np.array_equal(a.far_achieved, b.far_achieved) and (a.n_genuine, a.n_impostor) == (b.n_genuine, b.n_impostor))


@pytest.mark.parametrize("fars", [[0.001], [0.001, 1e-4, 0.0], [3e-3]])
def test_candidates_give_the_sorted_paths_numbers_bit_for_bit(matrix, fars):
    sim, labels = matrix
    rng = np.random.default_rng(7)
    for _ in range(3):
        idx = np.sort(rng.choice(len(labels), size=2500, replace=False))
        full = vr_at_far_from_scores(all_pairs_scores_from_matrix(sim, idx, labels[idx]), fars)
        fast = vr_at_far_from_matrix(sim, idx, labels[idx], fars)
        assert fast is not None and _same(full, fast)


def test_one_pass_serves_every_trial_at_the_lowest_floor(matrix):
    sim, labels = matrix
    rng = np.random.default_rng(3)
    trials = [np.sort(rng.choice(len(labels), size=2000, replace=False)) for _ in range(4)]
    floors = [impostor_floor(sim, t, labels[t], [0.001]) for t in trials]
    shared = candidates_above(sim, min(floors))
    assert shared.floor == min(floors) and (shared.i < shared.j).all() and (shared.score >= shared.floor).all()
    for t in trials:
        full = vr_at_far_from_scores(all_pairs_scores_from_matrix(sim, t, labels[t]), [0.001])
        assert _same(full, vr_at_far_from_candidates(shared, t, labels[t], [0.001]))


def test_too_few_candidates_or_a_large_far_fall_back(matrix):
    sim, labels = matrix
    idx = np.arange(2000)
    assert impostor_floor(sim, idx, labels[idx], [0.1]) is None  # 10% of the impostors: candidates do not pay
    high = candidates_above(sim, 0.99)  # almost nothing clears it: fewer than k impostors
    assert vr_at_far_from_candidates(high, idx, labels[idx], [0.001]) is None


def test_blufr_headline_equals_the_per_trial_path(monkeypatch):
    """The protocol's headline through the shared matrix and its candidates equals one matmul per trial."""
    import lrfr.protocols as P
    import lrfr.protocols.blufr as blufr

    used = []
    real = blufr.vr_at_far_from_candidates
    monkeypatch.setattr(blufr, "vr_at_far_from_candidates", lambda *a: used.append(real(*a)) or used[-1])
    from lrfr.bench.protocols import synthetic_config, weak_features
    from lrfr.protocols.blufr import BlufrData

    cfg = synthetic_config(n_images=2400, n_ids=600, n_trials=3, n_gallery=200, seed=2)
    feats = weak_features(cfg.labels, 64, 0.6)
    data = BlufrData(protocol="blufr", root=None, image_paths=[str(n) for n in cfg.image_list], labels=cfg.labels,
                     test_index=cfg.test_index, gal_index=cfg.gal_index, prob_index=cfg.prob_index, trials=[0, 1, 2])
    shared = P.get("blufr", full_grid=False, progress=False).run(data, feats).summary
    per_trial = P.get("blufr", full_grid=False, progress=False, similarity_cache_mb=0).run(data, feats).summary
    assert len(used) == 3 and all(v is not None for v in used)  # every trial took the candidates' path
    assert shared.keys() == per_trial.keys()
    for k in shared:
        assert shared[k] == per_trial[k] or (np.isnan(shared[k]) and np.isnan(per_trial[k])), k


def test_similarity_matrix_is_symmetric_and_the_same_floats_as_full_rows():
    """The mirrored lower triangle is exact, and the blocks from the diagonal on are the same floats as
    full-row products (the chunked code before the mirror), so no figure read from the matrix moves."""
    import torch

    rng = np.random.default_rng(4)
    feats = rng.normal(size=(1500, 48)).astype(np.float32)
    sim = similarity_matrix(feats, chunk=256)
    x = torch.nn.functional.normalize(torch.from_numpy(feats), dim=1)
    rows = np.concatenate([(x[a:a + 256] @ x.T).numpy() for a in range(0, len(feats), 256)])
    assert np.array_equal(sim, sim.T)
    assert np.array_equal(np.triu(sim), np.triu(rows))
