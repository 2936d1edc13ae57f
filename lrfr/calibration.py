"""A verification threshold at a target FAR from held-out pairs, stored with the recognizer fingerprint it is
valid for: the file format (:class:`Calibration`) and the scores it is set on (:func:`calibration_scores`).
:func:`lrfr.calibrate` (``lrfr calibrate``) makes one; a watchlist's threshold is an open-set one
(:mod:`lrfr.openset`).

    cal = lrfr.calibrate("bicubic", protocol="blufr", data="/data/lfw",
                         recognizer="mobilefacenet", weights="w.ckpt", fars=[1e-2, 1e-3, 1e-4])
    cal.save("threshold.json")
    lrfr.calibration.Calibration.load("threshold.json").threshold(1e-3)

Scores are cosine similarities of L2-normalized, flip-fused features — the score
:class:`lrfr.index.gallery.GalleryIndex` searches with (metric ``"cosine"``). Where they come from:

* a pairs protocol (``lfw``, ``celeba``): every pair of the pairs file; genuine = same identity.
  In the ``cross`` setting the first image of each pair is HR and the second LR → SR.
* ``blufr``: one trial (``trial``, 1-based). ``both_low``: all pairs ``i < j`` of the trial's test
  set; ``cross``: every (probe, gallery entry) pair — probes LR → SR, gallery HR, as a watch-list
  search sees them.

The threshold and its intervals are :func:`lrfr.metrics.thresholds.operating_point`'s. The file
(``lrfr-calibration/1``, JSON) holds the points and what they are valid for: the recognizer
fingerprint (:mod:`lrfr.fingerprint`: name, weights sha256, flip fusion), the SR front-end and its
sha256, scale, degradation spec, setting, where the pairs came from, and the lrfr version.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lrfr.errors import LrfrError
from lrfr.metrics.thresholds import CalibrationError, OperatingPoint

FORMAT = "lrfr-calibration/1"
DEFAULT_FARS = (1e-2, 1e-3, 1e-4)
SCORE = "cosine similarity of L2-normalized flip-fused features; accept iff score >= threshold"


class CalibrationFileError(LrfrError, ValueError):
    """A calibration file that is not one, or lacks what lrfr needs."""


@dataclass
class Calibration:
    fingerprint: dict
    points: list[OperatingPoint]
    sr: str = "hr"
    sr_sha256: str = "hr"
    scale: int = 1
    degrade: str = "none"
    setting: str = "both_low"
    source: dict = field(default_factory=dict)
    lrfr_version: str = ""

    def threshold(self, far: float) -> float:
        """The calibrated threshold at ``far`` (one of the calibrated FARs)."""
        for p in self.points:
            if np.isclose(p.far, far, rtol=1e-9, atol=0):
                return p.threshold
        raise CalibrationError(f"no threshold calibrated at FAR {far:g}; this calibration has "
                               f"{', '.join(f'{p.far:g}' for p in self.points)}")

    def to_dict(self) -> dict:
        return {"format": FORMAT, "fingerprint": self.fingerprint, "sr": self.sr, "sr_sha256": self.sr_sha256,
                "scale": self.scale, "degrade": self.degrade, "setting": self.setting, "score": SCORE,
                "source": self.source, "lrfr_version": self.lrfr_version,
                "points": [p.as_dict() for p in self.points]}

    def save(self, path: str | Path) -> Path:
        from lrfr.io import atomic_write_text

        return atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        path = Path(path)
        try:
            obj = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CalibrationFileError(f"{path}: not a calibration file (JSON written by `lrfr calibrate`): {err}") from None
        return cls.from_dict(obj, path)

    @classmethod
    def from_dict(cls, obj, path: str | Path = "calibration") -> "Calibration":
        """From :meth:`to_dict`'s form (a file's content, or what a gallery stores); ``path`` names it in errors."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
            raise CalibrationFileError(f"{path}: format {got!r}, expected {FORMAT!r} (written by `lrfr calibrate`)")
        try:
            points = [OperatingPoint(**{**p, "threshold_ci": tuple(p["threshold_ci"]), "far_ci": tuple(p["far_ci"])})
                      for p in obj["points"]]
            return cls(fingerprint=dict(obj["fingerprint"]), points=points, sr=obj["sr"], sr_sha256=obj["sr_sha256"],
                       scale=int(obj["scale"]), degrade=obj["degrade"], setting=obj["setting"],
                       source=dict(obj.get("source") or {}), lrfr_version=str(obj.get("lrfr_version", "")))
        except (KeyError, TypeError) as err:
            raise CalibrationFileError(f"{path}: a {FORMAT} file missing or mangling {err}") from None

    def table(self):
        import pandas as pd

        return pd.DataFrame([p.as_dict() for p in self.points])


def calibration_scores(data, features, setting: str, trial: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(genuine, impostor)`` cosine scores of ``data`` (a prepared protocol; cross-indexed in the
    ``cross`` setting) with ``features[i]`` for ``data.image_paths[i]`` (module doc)."""
    from lrfr.metrics.roc import all_pairs_scores
    from lrfr.metrics.verification import pair_scores

    f = np.asarray(features, dtype=np.float32)
    if data.has_pairs:
        s = pair_scores(f[data.pair_index[:, 0]], f[data.pair_index[:, 1]], "cosine")
        return s[data.same], s[~data.same]
    if not data.has_gallery:
        raise LrfrError(f"{data.protocol}: calibration needs verification pairs or a BLUFR config")
    n = len(data.test_index)
    if not 1 <= trial <= n:
        raise ValueError(f"trial {trial} out of range; {data.protocol} has trials 1..{n}")
    t = trial - 1
    if setting == "cross":
        gal, prb = data.gal_index[t], data.prob_index[t]
        x = f / np.linalg.norm(f, axis=1, keepdims=True)
        sim = x[prb] @ x[gal].T
        same = data.labels[prb][:, None] == data.labels[gal][None, :]
        return sim[same], sim[~same]
    test = data.test_index[t]
    scores = all_pairs_scores(f[test], data.labels[test])
    return scores.genuine, scores.impostor
