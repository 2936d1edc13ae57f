"""Pair verification accuracy with k-fold threshold selection (LFW's "unrestricted" 10-fold scheme).

Pure functions over features (or scores), same/different flags and a fold assignment; no I/O.
Two named conventions reproduce the two evaluation scripts face papers report with:

``"sphereface"`` — as SphereFace's LFW evaluation (Liu et al. 2017, ``evaluation.m`` of the
    official release; the convention C-Face's Tables 1 and 4 say they use, "evaluated by SphereFace"):

    * features are the **concatenation** of the embedding of the image and of its horizontal flip
      (the caller supplies them; :func:`lrfr.recognition.embed` with ``flip="concat"``);
    * for each test fold, the mean feature of the training folds' pair images is subtracted
      from every feature (the mean is over the *pair occurrences*: the left and right images of
      every training pair, an image counted as often as it occurs), then features are
      L2-normalized and the score is their cosine similarity;
    * threshold grid ``(-n..n)/n`` with ``n = round(1/threshold_step)`` (SphereFace uses
      ``n = 10000``, step 1e-4, the default here);
    * the fold's threshold is the **mean** of all grid thresholds reaching the best training
      accuracy;
    * a pair is predicted *same* iff ``score > threshold`` (strict) and predicted *different* iff
      ``score < threshold`` (strict); a score exactly **equal** to the threshold counts as
      **wrong for both kinds of pair** (``tie="wrong"``: SphereFace counts correct same pairs with
      ``>`` and correct different pairs with ``<``).

``"insightface"`` — as insightface's ``verification.py`` (Deng et al., ArcFace):

    * features are the **sum** of the embeddings of the image and of its flip (caller supplies),
      L2-normalized; the score is the **squared L2 distance** (in [0, 4]; lower = more alike);
    * threshold grid ``np.arange(0, 4, 0.01)``;
    * the fold's threshold is the **first** grid threshold reaching the best training accuracy
      (``np.argmax``);
    * predicted *same* iff ``distance < threshold`` (strict); a distance equal to the threshold
      is predicted *different* (``tie="different"``): wrong for a same pair, right for a
      different pair.

Accuracy is reported per fold, with the mean and the standard deviation over folds. The std
divisor is the named parameter ``ddof``; default ``0`` (``np.std``), which is what insightface's
script prints and what the usual PyTorch port of SphereFace's evaluation prints
(SphereFace's MATLAB script prints only the mean).

Folds: an integer array, one entry per pair (LFW: 10 folds of 600 pairs, from ``pairs.txt``).
Each fold in turn is the test fold; the threshold (and the mean feature) come only from the
other folds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONVENTIONS = {
    "sphereface": dict(
        score="cosine", mean_subtraction=True, higher_is_same=True, tie="wrong",
        select="mean", grid=("symmetric", 1e-4),
    ),
    "insightface": dict(
        score="squared_l2", mean_subtraction=False, higher_is_same=False, tie="different",
        select="first", grid=("arange", 0.0, 4.0, 0.01),
    ),
}
TIES = ("wrong", "different", "same")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def symmetric_grid(step: float) -> np.ndarray:
    """``(-n..n)/n`` with ``n = round(1/step)``: SphereFace's grid over [−1, 1] (exact end points)."""
    n = int(round(1.0 / step))
    if n < 1:
        raise ValueError(f"threshold_step must be in (0, 1]; got {step}")
    return np.arange(-n, n + 1, dtype=np.float64) / n


def correct_mask(scores, same, threshold: float, higher_is_same: bool = True, tie: str = "wrong") -> np.ndarray:
    """Per pair: is the prediction at ``threshold`` right?

    ``higher_is_same=True`` (similarities): same iff ``s > t``, different iff ``s < t``;
    ``higher_is_same=False`` (distances): same iff ``d < t``, different iff ``d > t``.
    A score equal to ``t`` is resolved by ``tie``: ``"wrong"`` (wrong for both kinds),
    ``"different"`` (predicted different) or ``"same"`` (predicted same).
    """
    if tie not in TIES:
        raise ValueError(f"tie must be one of {TIES}; got {tie!r}")
    s = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    above, below, equal = s > threshold, s < threshold, s == threshold
    say_same, say_diff = (above, below) if higher_is_same else (below, above)
    if tie == "same":
        say_same = say_same | equal
    elif tie == "different":
        say_diff = say_diff | equal
    return np.where(same, say_same, say_diff)


def accuracy_at_threshold(scores, same, threshold: float, higher_is_same: bool = True, tie: str = "wrong") -> float:
    """Fraction of pairs predicted right at ``threshold`` (rule in :func:`correct_mask`)."""
    return float(np.mean(correct_mask(scores, same, threshold, higher_is_same, tie)))


def accuracy_over_grid(scores, same, thresholds, higher_is_same: bool = True, tie: str = "wrong") -> np.ndarray:
    """Accuracy at every threshold of ``thresholds`` (same rule as :func:`correct_mask`), O((n+T) log n)."""
    if tie not in TIES:
        raise ValueError(f"tie must be one of {TIES}; got {tie!r}")
    s = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    t = np.asarray(thresholds, dtype=np.float64)
    gs, ds = np.sort(s[same]), np.sort(s[~same])
    n_lt_g, n_le_g = np.searchsorted(gs, t, "left"), np.searchsorted(gs, t, "right")
    n_lt_d, n_le_d = np.searchsorted(ds, t, "left"), np.searchsorted(ds, t, "right")
    n_g, n_d = len(gs), len(ds)
    if higher_is_same:
        ok_same = (n_g - n_le_g) + (n_le_g - n_lt_g if tie == "same" else 0)
        ok_diff = n_lt_d + (n_le_d - n_lt_d if tie == "different" else 0)
    else:
        ok_same = n_lt_g + (n_le_g - n_lt_g if tie == "same" else 0)
        ok_diff = (n_d - n_le_d) + (n_le_d - n_lt_d if tie == "different" else 0)
    return (ok_same + ok_diff) / max(n_g + n_d, 1)


def best_threshold(scores, same, thresholds, higher_is_same: bool = True, tie: str = "wrong", select: str = "mean"):
    """The threshold of ``thresholds`` with the best accuracy on ``(scores, same)``.

    ``select="mean"``: the mean of all grid thresholds reaching the best accuracy (SphereFace);
    ``"first"``: the first of them in grid order (insightface's ``np.argmax``); ``"last"``: the last.
    Returns ``(threshold, best_accuracy)``.
    """
    acc = accuracy_over_grid(scores, same, thresholds, higher_is_same, tie)
    best = acc.max()
    hits = np.flatnonzero(acc == best)
    t = np.asarray(thresholds, dtype=np.float64)
    if select == "mean":
        thr = float(t[hits].mean())
    elif select == "first":
        thr = float(t[hits[0]])
    elif select == "last":
        thr = float(t[hits[-1]])
    else:
        raise ValueError(f"select must be 'mean', 'first' or 'last'; got {select!r}")
    return thr, float(best)


def pair_scores(feat_a, feat_b, score: str = "cosine") -> np.ndarray:
    """Scores of row-aligned feature pairs: ``"cosine"`` (of L2-normalized rows) or ``"squared_l2"``
    (squared Euclidean distance between L2-normalized rows, = 2 − 2·cosine)."""
    a, b = l2_normalize(feat_a), l2_normalize(feat_b)
    if score == "cosine":
        return np.sum(a * b, axis=1)
    if score == "squared_l2":
        return np.sum((a - b) ** 2, axis=1)
    raise ValueError(f"score must be 'cosine' or 'squared_l2'; got {score!r}")


def resolve_convention(convention: str, threshold_step=None, thresholds=None, mean_subtraction=None, tie=None, select=None):
    """The convention's settings with any overrides applied: ``(settings, threshold_grid, grid_description)``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; known: {', '.join(CONVENTIONS)}")
    conv = dict(CONVENTIONS[convention])
    if mean_subtraction is not None:
        conv["mean_subtraction"] = bool(mean_subtraction)
    if tie is not None:
        if tie not in TIES:
            raise ValueError(f"tie must be one of {TIES}; got {tie!r}")
        conv["tie"] = tie
    if select is not None:
        conv["select"] = select
    if thresholds is not None:
        thresholds = np.asarray(thresholds, dtype=np.float64)
        return conv, thresholds, f"explicit, {len(thresholds)} values in [{thresholds.min():g}, {thresholds.max():g}]"
    g = conv["grid"]
    if g[0] == "symmetric":
        step = g[1] if threshold_step is None else threshold_step
        return conv, symmetric_grid(step), f"(-n..n)/n, n={int(round(1 / step))} (step {step:g})"
    _, start, stop, step = g
    step = step if threshold_step is None else threshold_step
    return conv, np.arange(start, stop, step), f"np.arange({start:g}, {stop:g}, {step:g})"


@dataclass
class KFoldResult:
    """Per-fold accuracy and thresholds of a k-fold verification run."""

    folds: np.ndarray  # fold ids, in the order of the per-fold arrays
    accuracy: np.ndarray  # test accuracy per fold
    threshold: np.ndarray  # threshold chosen on the training folds
    train_accuracy: np.ndarray  # best training accuracy per fold
    n_pairs: np.ndarray  # test pairs per fold
    ddof: int = 0
    conventions: dict = field(default_factory=dict)
    #: per pair, in the input order: the score it was judged with (its test fold's, after that fold's mean
    #: subtraction where the convention has one) and whether the fold's threshold judged it right
    pair_score: np.ndarray | None = None
    pair_correct: np.ndarray | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracy))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracy, ddof=self.ddof)) if len(self.accuracy) > self.ddof else float("nan")


def kfold_accuracy(
    feat_a,
    feat_b,
    same,
    folds,
    convention: str = "sphereface",
    *,
    threshold_step: float | None = None,
    thresholds=None,
    mean_subtraction: bool | None = None,
    tie: str | None = None,
    select: str | None = None,
    ddof: int = 0,
) -> KFoldResult:
    """k-fold verification accuracy of pairs ``(feat_a[i], feat_b[i])``.

    ``feat_a``/``feat_b``: ``(n_pairs, d)`` features of the left/right images, already
    flip-fused as the convention expects (module doc). ``same``: bool per pair. ``folds``: int
    fold id per pair. ``convention``: ``"sphereface"`` or ``"insightface"`` (module doc); the
    keyword arguments override a single part of it: ``threshold_step`` (grid step; sphereface's
    symmetric grid over [−1, 1], insightface's ``arange(0, 4, step)``), ``thresholds`` (an
    explicit grid), ``mean_subtraction``, ``tie`` (``"wrong"|"different"|"same"``), ``select``
    (``"mean"|"first"|"last"``), ``ddof`` (std divisor ``n − ddof``; default 0).
    """
    conv, thresholds, grid_desc = resolve_convention(convention, threshold_step, thresholds, mean_subtraction, tie, select)
    a = np.asarray(feat_a, dtype=np.float64)
    b = np.asarray(feat_b, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    folds = np.asarray(folds)
    if not (a.shape == b.shape and a.ndim == 2 and len(a) == len(same) == len(folds)):
        raise ValueError(
            f"kfold_accuracy: feat_a {a.shape}, feat_b {b.shape}, same ({len(same)},) and folds ({len(folds)},) must agree"
        )
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise ValueError("kfold_accuracy needs at least 2 folds")

    if not conv["mean_subtraction"]:
        all_scores = pair_scores(a, b, conv["score"])
    acc, thr, tr_acc, n = [], [], [], []
    pair_score, pair_correct = np.zeros(len(same)), np.zeros(len(same), bool)
    for f in fold_ids:
        test, train = folds == f, folds != f
        if conv["mean_subtraction"]:
            mu = np.concatenate([a[train], b[train]]).mean(axis=0)
            scores = pair_scores(a - mu, b - mu, conv["score"])
        else:
            scores = all_scores
        t, best = best_threshold(scores[train], same[train], thresholds, conv["higher_is_same"], conv["tie"], conv["select"])
        ok = correct_mask(scores[test], same[test], t, conv["higher_is_same"], conv["tie"])
        acc.append(float(np.mean(ok)))  # = accuracy_at_threshold on the test fold
        pair_score[test], pair_correct[test] = scores[test], ok
        thr.append(t)
        tr_acc.append(best)
        n.append(int(test.sum()))
    conventions = {
        "convention": convention,
        "score": conv["score"] + (" after subtracting the training folds' mean feature" if conv["mean_subtraction"] else ""),
        "predict_same": "score > threshold" if conv["higher_is_same"] else "distance < threshold",
        "tie_at_threshold": conv["tie"],
        "threshold_selection": conv["select"] + " of the grid thresholds with the best training accuracy",
        "threshold_grid": grid_desc,
        "std_ddof": ddof,
    }
    return KFoldResult(np.asarray(fold_ids), np.asarray(acc), np.asarray(thr), np.asarray(tr_acc), np.asarray(n), ddof,
                       conventions, pair_score, pair_correct)


def fit_threshold(feat_a, feat_b, same, convention: str = "sphereface", *, threshold_step=None, thresholds=None,
                  mean_subtraction=None, tie=None, select=None) -> dict:
    """The threshold the convention would choose on *all* given pairs (a deployable operating point).

    Returns ``{"threshold", "train_accuracy", "mean_feature" (or None)}``: with mean subtraction
    the threshold applies to cosine similarities of features from which ``mean_feature`` was subtracted.
    """
    conv, grid, _ = resolve_convention(convention, threshold_step, thresholds, mean_subtraction, tie, select)
    a, b = np.asarray(feat_a, np.float64), np.asarray(feat_b, np.float64)
    mu = np.concatenate([a, b]).mean(axis=0) if conv["mean_subtraction"] else None
    scores = pair_scores(a - mu, b - mu, conv["score"]) if mu is not None else pair_scores(a, b, conv["score"])
    t, best = best_threshold(scores, same, grid, conv["higher_is_same"], conv["tie"], conv["select"])
    return {"threshold": t, "train_accuracy": best, "mean_feature": mu}
