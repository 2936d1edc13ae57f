"""A deployable verification threshold at a target FAR, with how sure we can be of it.

``operating_point(genuine, impostor, far)`` picks the threshold by the same rule as every VR@FAR
of lrfr (:func:`lrfr.metrics.roc.threshold_at_far`: the k-th highest impostor score, ``k =
round(FAR · n)``; accept iff ``score >= threshold``), and adds two intervals that say how far
the number of impostor pairs lets one trust it:

* ``far_ci``: Clopper–Pearson (exact binomial) interval of the FAR the chosen threshold has on
  impostors like these, from the ``c`` held-out impostors it accepts out of ``n``;
* ``threshold_ci``: a distribution-free interval for the score above which a fraction ``FAR`` of
  impostors lies. The number of impostor scores above that quantile is Binomial(n, FAR), so the
  order statistics at its ``α/2`` and ``1 − α/2`` quantiles bound it (the textbook order-statistic
  confidence interval for a quantile).

A FAR with ``round(FAR · n) < 1`` cannot be calibrated from ``n`` impostors (the threshold would sit
above every impostor score, whatever the true FAR): :class:`CalibrationError` says how many are
needed. These are standard statistics; the choice of intervals is lrfr's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lrfr.errors import LrfrError
from lrfr.metrics.roc import n_false_accepts, threshold_at_far


class CalibrationError(LrfrError, ValueError):
    """Too few impostor (or genuine) pairs for the FAR asked, or scores that are not usable."""


@dataclass
class OperatingPoint:
    far: float  # target
    threshold: float  # accept iff score >= threshold
    threshold_ci: tuple[float, float]
    achieved_far: float  # on the held-out impostors
    far_ci: tuple[float, float]  # Clopper–Pearson, for the achieved count
    tar: float  # on the held-out genuine pairs
    n_impostor: int
    n_false_accepts: int
    n_genuine: int
    confidence: float

    def as_dict(self) -> dict:
        out = asdict(self)
        out["threshold_ci"], out["far_ci"] = list(self.threshold_ci), list(self.far_ci)
        return out


def min_impostors(far: float) -> int:
    """The fewest impostor pairs for which ``round(far · n) >= 1``."""
    n = int(np.ceil(0.5 / far))
    return n if n_false_accepts(far, n) >= 1 else n + 1


def clopper_pearson(count: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta

    a = (1 - confidence) / 2
    lo = 0.0 if count == 0 else float(beta.ppf(a, count, n - count + 1))
    hi = 1.0 if count == n else float(beta.ppf(1 - a, count + 1, n - count))
    return lo, hi


def operating_point(genuine, impostor, far: float, confidence: float = 0.95) -> OperatingPoint:
    """The threshold at ``far`` over these scores, with its intervals (module doc)."""
    from scipy.stats import binom

    gen = np.asarray(genuine, dtype=np.float64).ravel()
    imp = np.asarray(impostor, dtype=np.float32).ravel()
    if not 0 < far < 1:
        raise CalibrationError(f"target FAR must be in (0, 1); got {far}")
    if not 0 < confidence < 1:
        raise CalibrationError(f"confidence must be in (0, 1); got {confidence}")
    if not (np.isfinite(imp).all() and np.isfinite(gen).all()):
        raise CalibrationError("scores hold NaN/inf; cannot calibrate")
    n = imp.size
    need = min_impostors(far)
    if n < need:
        raise CalibrationError(
            f"FAR {far:g} needs at least {need:,} impostor pairs (round(FAR x n) >= 1 false accept); got {n:,}. "
            "Calibrate on more pairs (a larger held-out set; a BLUFR trial scores all pairs of its test set) "
            "or ask for a higher FAR")
    if gen.size == 0:
        raise CalibrationError("no genuine pairs: the true accept rate at the threshold cannot be measured")
    t = float(threshold_at_far(imp, far))
    accepted = int((imp >= t).sum())
    desc = np.sort(imp)[::-1]
    a = (1 - confidence) / 2
    k_lo = max(int(binom.ppf(a, n, far)), 1)
    k_hi = min(int(binom.ppf(1 - a, n, far)) + 1, n)
    return OperatingPoint(
        far=float(far), threshold=t, threshold_ci=(float(desc[k_hi - 1]), float(desc[k_lo - 1])),
        achieved_far=accepted / n, far_ci=clopper_pearson(accepted, n, confidence), tar=float((gen >= t).mean()),
        n_impostor=n, n_false_accepts=accepted, n_genuine=int(gen.size), confidence=float(confidence),
    )
