"""Open-set thresholds that hold for a watchlist: calibrated for a false-positive identification rate (FPIR)
against a gallery of a stated size, not for a per-pair false-accept rate (FAR).

Per-pair FAR and FPIR
---------------------
A verification threshold calibrated at FAR 1e-3 accepts one impostor *pair* in a thousand. A watchlist search
compares a probe of someone not enrolled with every enrolled identity and raises an alarm if the *best* of
those scores passes: with N identities it has N chances. If the N impostor scores were independent, the
probability that at least one passes — the FPIR — would be ``1 − (1 − FAR)^N``: at FAR 1e-3 against 200
identities, ``1 − 0.999^200 ≈ 18%`` of the unknown people are "recognised", and against 10,000 identities
almost all of them. A threshold for a watchlist must therefore be set on the distribution of the *top*
score of unknown probes, for the gallery's size: that is what :func:`lrfr.watchlist.calibrate_open_set` does.

Method (lrfr's)
---------------
From labelled data: an enrolment folder and a probe folder whose sub-folders name identities. Every probe
is scored against every enrolled identity (an identity's score is its best image's). A probe's *impostor
scores* are its scores against the identities it is not (all of them for a probe of someone not enrolled).
For a target gallery of ``N`` identities, the FPIR at threshold ``t`` is the mean over probes of the chance
that the best of N impostor identities passes ``t``:

* ``N`` no larger than a probe's ``M`` impostor identities: galleries of N of those M identities, drawn
  without replacement — with ``c`` of the M scores at or above ``t``, the chance is ``1 − C(M − c, N) / C(M, N)``
  (exact resampling: at ``N = M`` it is the calibration gallery's own FPIR);
* ``N`` larger (a gallery bigger than the calibration's): each probe's impostor scores modelled as normal
  around their own mean ``μ_p`` with the spread ``σ`` pooled over all probes (one probe's few dozen scores
  estimate a mean well and a spread poorly, and the tail of N draws magnifies the spread's error), the chance
  ``1 − Φ((t − μ_p) / σ)^N`` — an extrapolation, stated as such in the file (``source.extrapolated``).

The threshold for a target FPIR solves ``FPIR(t; N) = target`` by bisection. The
calibration file stores the probe pipeline's whole fingerprint (front-end, probe and gallery recognizers,
flip fusion) and ``N``; a search with another pipeline is refused, and one against a gallery of a very
different size is warned about.

How well this holds on identities the calibration never saw is measured in docs/deployment.md.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lrfr.errors import LrfrError, LrfrWarning

FORMAT = "lrfr-openset/1"
DEFAULT_FPIRS = (0.01, 0.1)
#: a search warns when its gallery differs from the calibration's by more than this factor
SIZE_TOLERANCE = 2.0


class OpenSetError(LrfrError, ValueError):
    """An open-set calibration that cannot be made or used, named."""


@dataclass
class OpenSetCalibration:
    fingerprint: dict  # lrfr.probe.ProbePipeline.fingerprint(): all four parts
    gallery_size: int  # the N the thresholds are for
    points: list[dict]  # [{"fpir", "threshold"}]
    source: dict = field(default_factory=dict)
    lrfr_version: str = ""

    def threshold(self, fpir: float) -> float:
        for p in self.points:
            if np.isclose(p["fpir"], fpir, rtol=1e-9, atol=0):
                return float(p["threshold"])
        have = ", ".join(format(p["fpir"], "g") for p in self.points)
        raise OpenSetError(f"no threshold calibrated at FPIR {fpir:g}; this calibration has {have}")

    def to_dict(self) -> dict:
        return {"format": FORMAT, "fingerprint": self.fingerprint, "gallery_size": self.gallery_size,
                "points": self.points, "source": self.source, "lrfr_version": self.lrfr_version,
                "rule": "accept the best identity iff its score (cosine, flip-fused features) >= threshold"}

    def save(self, path) -> Path:
        from lrfr.io import atomic_write_text

        return atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path) -> "OpenSetCalibration":
        return cls.from_dict(_read_json(path), path)

    @classmethod
    def from_dict(cls, obj: dict, path="open-set calibration") -> "OpenSetCalibration":
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
            raise OpenSetError(f"{path}: format {got!r}, expected {FORMAT!r} (written by lrfr calibrate --open-set)")
        try:
            return cls(dict(obj["fingerprint"]), int(obj["gallery_size"]), list(obj["points"]), dict(obj.get("source") or {}),
                       str(obj.get("lrfr_version", "")))
        except (KeyError, TypeError, ValueError) as err:
            raise OpenSetError(f"{path}: a {FORMAT} file missing or mangling {err}") from None


# -- the FPIR model --------------------------------------------------------------------------------------------

def impostor_scores(scores: np.ndarray, true_identity: np.ndarray) -> list[np.ndarray]:
    """Each probe's scores against the identities it is not, sorted (``true_identity`` −1: not enrolled)."""
    out = []
    for row, t in zip(np.asarray(scores, np.float64), np.asarray(true_identity)):
        keep = np.ones(len(row), bool)
        if t >= 0:
            keep[t] = False
        out.append(np.sort(row[keep]))
    return out


def fpir_at(impostors: list[np.ndarray], threshold: float, gallery_size: int) -> float:
    """The modelled FPIR at ``threshold`` for a gallery of ``gallery_size`` identities (module doc)."""
    from scipy.special import gammaln, ndtr

    n = int(gallery_size)
    chance = np.empty(len(impostors))
    pooled = None
    for i, a in enumerate(impostors):
        m = len(a)
        if n <= m:  # galleries of n of the m identities, without replacement
            c = m - np.searchsorted(a, threshold, side="left")
            chance[i] = 1.0 if m - c < n else 1.0 - np.exp(gammaln(m - c + 1) - gammaln(m - c - n + 1)
                                                           - gammaln(m + 1) + gammaln(m - n + 1))
        else:  # more identities than observed: a normal model, this probe's mean, the pooled spread
            if pooled is None:
                pooled = max(float(np.sqrt(np.mean([np.var(b, ddof=1) for b in impostors if len(b) > 1]))), 1e-6)
            chance[i] = 1.0 - float(ndtr((threshold - a.mean()) / pooled)) ** n
    return float(chance.mean())


def threshold_for_fpir(impostors: list[np.ndarray], fpir: float, gallery_size: int) -> float:
    """The lowest threshold whose modelled FPIR is at most ``fpir`` (bisection on the scores)."""
    if not 0 < fpir < 1:
        raise OpenSetError(f"target FPIR must lie in (0, 1); got {fpir!r}")
    lo, hi = -1.0, 1.0 + 1e-6  # cosine scores; the normal model may put the threshold past every observed score
    for _ in range(60):
        mid = (lo + hi) / 2
        if fpir_at(impostors, mid, gallery_size) > fpir:
            lo = mid
        else:
            hi = mid
    return hi


def empirical_threshold(top_scores: np.ndarray, fpir: float) -> float:
    """The threshold at which a share ``fpir`` of these unknown probes' top scores pass (the watchlist's own)."""
    s = np.sort(np.asarray(top_scores, np.float64))[::-1]
    n_pass = int(np.floor(fpir * len(s)))
    return float(np.nextafter(s[n_pass], np.inf)) if n_pass < len(s) else float(s[-1])


# -- calibrating and using --------------------------------------------------------------------------------------

def load_any_calibration(source, pipeline):
    """An open-set calibration (``lrfr-openset/1``) or a per-pair one (``lrfr-calibration/1``) from a file, an
    object or the dict a gallery keeps, checked against ``pipeline``: an open-set one against all four parts,
    a per-pair one against the recognizers and flip fusion it records."""
    from lrfr.calibration import FORMAT as PAIRS_FORMAT
    from lrfr.calibration import Calibration

    if isinstance(source, (OpenSetCalibration, Calibration)):
        cal = source
    else:
        obj = source if isinstance(source, dict) else _read_json(source)
        where = "the gallery's calibration" if isinstance(source, dict) else source
        if obj.get("format") not in (FORMAT, PAIRS_FORMAT):
            raise OpenSetError(f"{where}: format {obj.get('format')!r}, expected {FORMAT!r} (lrfr calibrate --open-set) "
                               f"or {PAIRS_FORMAT!r} (lrfr calibrate)")
        cal = (OpenSetCalibration.from_dict(obj, where) if obj.get("format") == FORMAT
               else Calibration.from_dict(obj, where))
    if isinstance(cal, OpenSetCalibration):
        _check_pipeline(cal, pipeline)
    else:
        from lrfr.fingerprint import check_fingerprint

        check_fingerprint(cal.fingerprint, {**pipeline.gallery_fingerprint(), "probe_recognizer": pipeline.probe.arch,
                                            "probe_weights_sha256": pipeline.probe.sha256},
                          "the calibration", hint="calibrate again with this recognizer (lrfr calibrate)")
    return cal


def _read_json(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise OpenSetError(f"calibration file not found: {path}")
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OpenSetError(f"{path}: not a calibration file (JSON of lrfr calibrate): {err}") from None
    if not isinstance(obj, dict):
        raise OpenSetError(f"{path}: not a calibration file (JSON of lrfr calibrate)")
    return obj


def _check_pipeline(cal: "OpenSetCalibration", pipeline) -> None:
    mine = pipeline.fingerprint()
    differ = [k for k in mine if str(cal.fingerprint.get(k)) != str(mine[k])]
    if differ:
        detail = ", ".join(f"{k}: {str(cal.fingerprint.get(k))[:16]} there, {str(mine[k])[:16]} here" for k in differ)
        raise OpenSetError(f"the open-set calibration was made for another probe pipeline ({detail}); calibrate "
                           "again with this one (lrfr calibrate --open-set)")


def resolve_threshold(threshold, calibration, fpir, pipeline, n_identities: int,
                      far: float | None = None) -> tuple[float | None, str]:
    """``(threshold, where it came from)`` for a search: given, an open-set calibration's at ``fpir`` (default
    1%), or a per-pair calibration's at ``far`` (with a warning: FAR is not FPIR).

    A calibration made for another pipeline is refused (an open-set one: any of its four parts); an open-set one
    made for a gallery more than :data:`SIZE_TOLERANCE` times larger or smaller warns."""
    if threshold is not None and calibration is not None:
        raise OpenSetError("give a threshold or a calibration, not both")
    if threshold is not None:
        return float(threshold), "given"
    if calibration is None:
        if fpir is not None or far is not None:
            raise OpenSetError("an FPIR or a FAR needs a calibration (lrfr calibrate --open-set / lrfr calibrate)")
        return None, "none"
    cal = load_any_calibration(calibration, pipeline)
    if not isinstance(cal, OpenSetCalibration):
        if far is None:
            raise OpenSetError("a per-pair (FAR) calibration gives a threshold at a FAR: pass --far / far=, or "
                               "calibrate for the watchlist with lrfr calibrate --open-set")
        t = cal.threshold(far)
        warnings.warn(f"per-pair FAR {far:g} is not the watchlist's false-alarm rate: against {n_identities} "
                      f"identities each stranger has {n_identities} chances (FPIR about 1 - (1 - FAR)^N = "
                      f"{1 - (1 - far) ** n_identities:.1%} if independent); lrfr calibrate --open-set sets a threshold "
                      "for an FPIR", LrfrWarning, stacklevel=3)
        return t, f"calibrated at FAR {far:g} (per pair; {cal.source.get('protocol', '')} pairs)"
    fpir = 0.01 if fpir is None else float(fpir)
    ratio = max(n_identities, 1) / max(cal.gallery_size, 1)
    if ratio > SIZE_TOLERANCE or ratio < 1 / SIZE_TOLERANCE:
        warnings.warn(f"this gallery holds {n_identities} identities, the calibration assumed {cal.gallery_size}: "
                      f"its FPIR will not be {fpir:g} (calibrate again with --gallery-size {n_identities})",
                      LrfrWarning, stacklevel=3)
    return cal.threshold(fpir), f"calibrated at FPIR {fpir:g} for {cal.gallery_size} identities"
