"""``lrfr calibrate``: a verification threshold at a target FAR from held-out pairs, stored with
the recognizer fingerprint it is valid for.

    cal = lrfr.calibration.calibrate("bicubic", protocol="blufr", data="/data/lfw",
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
from lrfr.metrics.thresholds import CalibrationError, OperatingPoint, operating_point

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
    if hasattr(data, "pair_index"):
        s = pair_scores(f[data.pair_index[:, 0]], f[data.pair_index[:, 1]], "cosine")
        return s[data.same], s[~data.same]
    if not hasattr(data, "gal_index"):
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


def calibrate(sr: object = "hr", protocol: str = "lfw", data: str | Path | None = None, recognizer=None,
              weights: str | Path | None = None, scale: int = 8, degrade: str = "bicubic", setting: str = "both_low",
              fars=DEFAULT_FARS, trial: int = 1, confidence: float = 0.95, degrade_seed: int = 0,
              batch_size: int = 128, device=None, workdir: str | Path | None = None, progress: bool = True,
              probe_recognizer=None, probe_weights: str | Path | None = None, backend: str = "torch") -> Calibration:
    """Thresholds at ``fars`` from a protocol's held-out pairs (module doc), as a :class:`Calibration`.

    ``probe_recognizer``/``probe_weights``: the LR side's recognizer, as in :func:`lrfr.evaluate`; the
    fingerprint then records both (``probe_recognizer``, ``probe_weights_sha256``). ``backend``: as in
    :func:`lrfr.evaluate`."""
    from lrfr import protocols as protocol_registry
    from lrfr.data.degradations import canonical
    from lrfr.devices import resolve_device
    from lrfr.evaluation import (
        SETTINGS,
        cross_resolution_data,
        default_synth_data,
        lrfr_version,
        resolve_recognizers,
        setting_features,
        sr_sha256,
    )
    from lrfr.embedding import HR, sr_name
    from lrfr.fingerprint import recognizer_fingerprint
    from lrfr.weights import PACKAGED
    from lrfr.weights import resolve as resolve_weights

    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}; got {setting!r}")
    fars = sorted({float(f) for f in fars}, reverse=True)
    if not fars:
        raise CalibrationError("no target FAR given")
    spec = canonical(degrade)
    if isinstance(sr, str) and sr.startswith(PACKAGED):
        sr = resolve_weights(sr)
    root = Path(data) if data is not None else default_synth_data(Path(workdir) if workdir else None, progress)
    if not root.exists():
        raise FileNotFoundError(f"data root not found: {root}")
    recs = resolve_recognizers(recognizer, weights, probe_recognizer, probe_weights)
    proto = protocol_registry.get(protocol)
    if hasattr(proto.config, "progress"):
        proto.config.progress = proto.config.progress and progress
    prepared = proto.prepare(root, workdir=workdir)
    n_hr = 0
    if setting == "cross":
        prepared, n_hr = cross_resolution_data(prepared)
    ex = setting_features(prepared, n_hr, sr, recs, scale=scale, flip=proto.flip, degrade=spec, batch_size=batch_size,
                          device=resolve_device(device), progress=progress, degrade_seed=degrade_seed, backend=backend)
    genuine, impostor = calibration_scores(prepared, ex.features, setting, trial)
    points = [operating_point(genuine, impostor, far, confidence) for far in fars]
    is_hr = isinstance(sr, str) and sr == HR
    names = recs.names(hr_row=is_hr)
    fp = recognizer_fingerprint(names["recognizer"], names["recognizer_sha256"], proto.flip,
                                names["probe_recognizer"], names["probe_recognizer_sha256"])
    source = {"protocol": proto.name, "data": str(root), "n_genuine": int(len(genuine)), "n_impostor": int(len(impostor))}
    if hasattr(prepared, "gal_index"):
        source["trial"] = trial
    return Calibration(fingerprint=fp, points=points, sr=sr_name(sr), sr_sha256=sr_sha256(sr),
                       scale=1 if is_hr else scale, degrade="none" if is_hr else spec, setting=setting,
                       source=source, lrfr_version=lrfr_version())
