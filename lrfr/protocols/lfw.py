"""LFW standard verification (Huang et al. 2007, View 2): 10 folds × (300 same + 300 different).

Configured by ``protocols/lfw.toml``. ``prepare`` reads ``pairs.txt`` with
:func:`lrfr.data.pairs.read_pairs` and resolves every ``(identity, number)`` token with
:class:`lrfr.data.pairs.PairImageResolver`; ``image_paths`` are the unique images of the
pairs, sorted by relative name (the shared LFW copy: 6000 pairs → 7701 images). ``run``
reports:

* 10-fold accuracy by the configured convention (:func:`lrfr.metrics.verification.kfold_accuracy`:
  ``"sphereface"`` as C-Face's Tables 1/4 "evaluated by SphereFace", or ``"insightface"``),
  per fold with the threshold each fold used, mean and std (divisor ``n − std_ddof``);
* ``threshold_all_pairs``: the threshold the same rule picks on all pairs — the operating point
  to deploy (for ``"sphereface"`` it applies to cosine similarities after subtracting the mean
  feature of all pair images, see :func:`~lrfr.metrics.verification.fit_threshold`);
* VR at the configured FARs over all pairs, and the ROC curve, on plain cosine similarity of
  L2-normalized features (no mean subtraction: the score must not depend on a fold). With 3000
  impostor pairs FAR = 0.1% means 3 false accepts — a noisy figure; BLUFR is the protocol built
  for low FARs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lrfr.metrics.roc import roc_curve, vr_at_far
from lrfr.metrics.verification import CONVENTIONS, fit_threshold, kfold_accuracy, pair_scores
from lrfr.protocols.base import (
    Protocol,
    ProtocolData,
    ProtocolResult,
    check_features,
    find_first,
    mean_std,
    pct,
)


@dataclass
class LFWConfig:
    kind: str
    name: str
    description: str = ""
    image_dirs: list[str] = field(default_factory=lambda: ["lfw-112x96", "images"])
    pairs: str = "pairs.txt"
    convention: str = "sphereface"
    threshold_step: float = 0.0  # 0: the convention's own grid step
    std_ddof: int = 0
    fars: list[float] = field(default_factory=lambda: [0.001, 0.01])
    flip: str = "auto"


@dataclass
class PairsData(ProtocolData):
    """Pairs as indices into ``image_paths``: ``pair_index`` ``(n_pairs, 2)``, ``same``, ``folds``
    (0-based), ``pair_lines`` (1-based line of each pair in ``pairs_file``; 0 if unknown);
    ``positional_identities``: identity folders whose tokens were resolved by position (not LFW names)."""

    layout = "pairs"
    pair_index: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    same: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    folds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pairs_file: Path | None = None
    image_dir: Path | None = None
    pair_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    positional_identities: list[str] = field(default_factory=list)

    def without_images(self, bad) -> tuple["PairsData", dict]:
        """A copy without the images ``bad`` (indices into ``image_paths``) and every pair using one.

        Returns ``(data, removed)``; ``removed``: ``{"n_pairs_removed": int, "pairs_removed":
        [{"line", "fold", "same", "a", "b"}, ...]}`` (fold 1-based, ``a``/``b`` the image paths).
        """
        keep = np.ones(len(self.image_paths), bool)
        keep[np.asarray(list(bad), dtype=np.int64)] = False
        new_index = np.cumsum(keep) - 1
        ok = keep[self.pair_index].all(axis=1) if len(self.pair_index) else np.zeros(0, bool)
        lines = self.pair_lines if len(self.pair_lines) == len(self.pair_index) else np.zeros(len(self.pair_index), np.int64)
        removed = [
            {"line": int(lines[k]) or None, "fold": int(self.folds[k]) + 1, "same": bool(self.same[k]),
             "a": str(self.image_paths[self.pair_index[k, 0]]), "b": str(self.image_paths[self.pair_index[k, 1]])}
            for k in np.flatnonzero(~ok)
        ]
        data = dataclasses.replace(
            self,
            image_paths=[p for p, k in zip(self.image_paths, keep) if k],
            pair_index=new_index[self.pair_index[ok]].reshape(-1, 2),
            same=self.same[ok],
            folds=self.folds[ok],
            pair_lines=lines[ok],
        )
        return data, {"n_pairs_removed": len(removed), "pairs_removed": removed}

    def subset(self, n_pairs: int, seed: int = 0) -> "PairsData":
        """A seeded subset of about ``n_pairs`` pairs, as many of each fold and kind (same / different) — so
        the 10-fold protocol still runs — with only the images they use."""
        folds = np.unique(self.folds)
        per_cell = int(n_pairs) // (2 * len(folds))
        if per_cell < 1:
            raise ValueError(f"n_pairs={n_pairs}: at least {2 * len(folds)} (one same and one different pair per "
                             f"fold of {len(folds)})")
        rng = np.random.default_rng(seed)
        pick = []
        for f in folds:
            for same in (True, False):
                rows = np.flatnonzero((self.folds == f) & (self.same == same))
                pick.append(np.sort(rng.choice(rows, size=min(per_cell, len(rows)), replace=False)))
        chosen = np.concatenate(pick)
        keep = np.zeros(len(self.image_paths), bool)
        keep[self.pair_index[chosen].ravel()] = True
        drop = ~np.isin(np.arange(len(self.pair_index)), chosen)
        data, _ = dataclasses.replace(self, pair_index=self.pair_index[~drop], same=self.same[~drop],
                                      folds=self.folds[~drop],
                                      pair_lines=self.pair_lines[~drop] if len(self.pair_lines) == len(drop)
                                      else self.pair_lines).without_images(np.flatnonzero(~keep))
        data.conventions = dict(self.conventions, pairs=f"a seeded subset: {len(data.same)} of {len(self.same)} "
                                                         f"pairs (seed {seed}), as many of each fold and kind")
        return data


def pairs_data(protocol: str, root: Path, pairs_file: Path, image_dir: Path, resolver=None,
               positional: str = "warn") -> PairsData:
    """Read ``pairs_file`` and resolve it against ``image_dir`` (or ``resolver(identity, number) → relative name``).

    A token naming an image that is not there is an error naming the pairs file, its line and the
    image (:func:`lrfr.data.pairs.resolve_pairs`). ``positional`` goes to the default resolver
    (:class:`lrfr.data.pairs.PairImageResolver`).
    """
    from lrfr.data.pairs import PairImageResolver, read_pairs, resolve_pairs

    pf = read_pairs(pairs_file)
    resolve = resolver or PairImageResolver(image_dir, positional=positional)
    rel = resolve_pairs(pairs_file, pf.pairs, resolve)
    names = sorted({n for ab in rel for n in ab})
    pos = {n: i for i, n in enumerate(names)}
    idx = np.array([[pos[a], pos[b]] for a, b in rel], dtype=np.int64).reshape(-1, 2)
    return PairsData(
        protocol=protocol,
        root=Path(root),
        image_paths=[image_dir / n for n in names],
        pair_index=idx,
        same=np.array([p.same for p in pf.pairs], dtype=bool),
        folds=np.array([p.fold for p in pf.pairs], dtype=np.int64),
        pairs_file=Path(pairs_file),
        image_dir=image_dir,
        pair_lines=np.array([p.line for p in pf.pairs], dtype=np.int64),
        positional_identities=sorted(getattr(resolve, "positional_identities", ())),
    )


class LFWProtocol(Protocol):
    kind = "lfw"
    config_class = LFWConfig

    def __init__(self, config, source=None):
        super().__init__(config, source)
        if config.convention not in CONVENTIONS:
            raise ValueError(f"{source}: unknown convention {config.convention!r}; known: {', '.join(CONVENTIONS)}")

    @property
    def conventions(self) -> dict:
        step = self.config.threshold_step or None
        out = super().conventions
        out.update(
            convention=self.config.convention,
            threshold_step=step if step else "convention default",
            std_ddof=self.config.std_ddof,
            vr_score="cosine similarity of L2-normalized features (no mean subtraction), accept iff score >= threshold",
            vr_threshold="k-th highest impostor score, k = round(FAR * n_impostors); FAR=0: above the max; FAR=1: accept all",
        )
        return out

    def prepare(self, root, workdir=None) -> PairsData:
        root = Path(root)
        image_dir = find_first(root, self.config.image_dirs, f"{self.name}: image folder")
        pairs_file = find_first(root, [self.config.pairs], f"{self.name}: pairs file", kind="file")
        data = pairs_data(self.name, root, pairs_file, image_dir)
        data.conventions = self.conventions
        if data.positional_identities:
            n = len(data.positional_identities)
            data.conventions["image_numbering"] = (
                f"LFW names (Name/Name_NNNN.jpg); {n} identity folder(s) not named that way "
                f"(e.g. {data.positional_identities[0]}) resolved by position in sorted order"
            )
        return data

    def run(self, data: PairsData, features) -> ProtocolResult:
        return evaluate_pairs(self, data, features)


def evaluate_pairs(proto: Protocol, data: PairsData, features) -> ProtocolResult:
    """The LFW procedure on any :class:`PairsData` (shared by the LFW and CelebA protocols)."""
    cfg = proto.config
    f = check_features(data, features)
    a, b = f[data.pair_index[:, 0]], f[data.pair_index[:, 1]]
    step = cfg.threshold_step or None
    kf = kfold_accuracy(a, b, data.same, data.folds, cfg.convention, threshold_step=step, ddof=cfg.std_ddof)
    fit = fit_threshold(a, b, data.same, cfg.convention, threshold_step=step)
    cos = pair_scores(a, b, "cosine")
    vr = vr_at_far(cos[data.same], cos[~data.same], list(cfg.fars))
    far, tar, _ = roc_curve(cos, data.same)

    acc_mean, acc_std = mean_std(kf.accuracy, cfg.std_ddof)
    thr_mean, thr_std = mean_std(kf.threshold, cfg.std_ddof)
    summary = {
        "accuracy_mean": acc_mean,
        "accuracy_std": acc_std,
        "threshold_mean": thr_mean,
        "threshold_std": thr_std,
        "threshold_all_pairs": fit["threshold"],
        "accuracy_all_pairs_fit": fit["train_accuracy"],
    }
    for j, fa in enumerate(vr.far):
        summary[f"vr@far={pct(fa)}"] = float(vr.vr[j])
        summary[f"vr@far={pct(fa)}_threshold"] = float(vr.threshold[j])
    summary["n_pairs"] = float(len(data.same))
    per_fold = pd.DataFrame(
        {
            "fold": kf.folds + 1,
            "accuracy": kf.accuracy,
            "threshold": kf.threshold,
            "train_accuracy": kf.train_accuracy,
            "n_pairs": kf.n_pairs,
        }
    )
    image = [str(Path(q).relative_to(data.image_dir)) if data.image_dir and Path(q).is_relative_to(data.image_dir)
             else str(q) for q in data.image_paths]
    per_pair = pd.DataFrame({
        "line": data.pair_lines if len(data.pair_lines) == len(data.same) else np.zeros(len(data.same), np.int64),
        "fold": data.folds + 1,
        "same": data.same,
        "a": [image[i] for i in data.pair_index[:, 0]],
        "b": [image[i] for i in data.pair_index[:, 1]],
        "cosine": cos,
        "judged_score": kf.pair_score,
        "fold_threshold": kf.threshold[np.searchsorted(kf.folds, data.folds)],
        "correct": kf.pair_correct,
    })
    conventions = dict(proto.conventions)
    conventions.update(kf.conventions)
    conventions["threshold_all_pairs"] = (
        "the convention's threshold rule applied to all pairs"
        + (" (cosine after subtracting the mean feature of all pair images)" if CONVENTIONS[cfg.convention]["mean_subtraction"] else "")
    )
    return ProtocolResult(
        protocol=proto.name,
        summary=summary,
        per_fold=per_fold,
        curves={"roc": (far, tar)},
        conventions=conventions,
        headline=["accuracy_mean", "accuracy_std", "threshold_mean"] + [f"vr@far={pct(x)}" for x in vr.far[:1]],
        per_pair=per_pair,
    )
