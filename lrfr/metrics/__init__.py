"""Metrics: pure functions over scores/features and labels (no I/O), every convention a named parameter.

* :mod:`~lrfr.metrics.verification` — k-fold pair verification accuracy (``"sphereface"`` and
  ``"insightface"`` conventions);
* :mod:`~lrfr.metrics.roc` — ROC, VR at FAR (BLUFR's rule), chunked all-pairs verification;
* :mod:`~lrfr.metrics.identification` — closed-set CMC and open-set DIR at FAR;
* :mod:`~lrfr.metrics.quality` — PSNR and SSIM (torch, per image).
"""
from lrfr.metrics.identification import (
    OpenSetResult,
    ProbeScores,
    cmc,
    open_set_identification,
    probe_scores,
    probe_scores_from_matrix,
)
from lrfr.metrics.quality import psnr, rgb_to_y, ssim
from lrfr.metrics.roc import (
    VRResult,
    all_pairs_scores,
    all_pairs_verification,
    n_false_accepts,
    roc_curve,
    threshold_at_far,
    vr_at_far,
    vr_at_far_from_scores,
)
from lrfr.metrics.verification import (
    CONVENTIONS,
    KFoldResult,
    accuracy_at_threshold,
    accuracy_over_grid,
    best_threshold,
    fit_threshold,
    kfold_accuracy,
    pair_scores,
)

__all__ = [
    "CONVENTIONS", "KFoldResult", "OpenSetResult", "ProbeScores", "VRResult", "accuracy_at_threshold",
    "accuracy_over_grid", "all_pairs_scores", "all_pairs_verification", "best_threshold", "cmc", "fit_threshold",
    "kfold_accuracy", "n_false_accepts", "open_set_identification", "pair_scores", "probe_scores",
    "probe_scores_from_matrix", "psnr", "rgb_to_y", "roc_curve", "ssim", "threshold_at_far", "vr_at_far",
    "vr_at_far_from_scores",
]
