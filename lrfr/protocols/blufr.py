"""LFW-BLUFR (Liao, Lei, Yi, Li 2014: "A benchmark study of large-scale unconstrained face recognition").

Configured by ``protocols/blufr.toml``; the trials come from the official config file
(``blufr_lfw_config.mat``) read with :func:`lrfr.data.blufr.read_blufr_config`.
``image_paths`` are all of ``imageList`` (13,233 for LFW) in the file's order, so the file's
indices index ``features`` directly. For each of the 10 trials (``trials`` selects a subset):

* **verification**: every pair ``i < j`` of the trial's test set (~10.3k images, ~53M pairs);
  genuine = same label, impostor = different; score = cosine similarity of L2-normalized
  features (the BLUFR toolkit scores deep features by cosine similarity; its metric-learning
  baselines use the training set, which lrfr does not use: ``trainIndex`` is ignored). VR at
  the FAR grid, BLUFR's rule: threshold = k-th highest impostor score, ``k = round(FAR·n)``,
  accept ``score ≥ threshold`` (:mod:`lrfr.metrics.roc`). Headline: VR at FAR = 0.1%.
  Computed in float32 chunks, never an N×N float64 matrix; thresholds are exact. When the
  float32 similarity matrix of all images the trials use fits in ``similarity_cache_mb``
  (LFW: 13,233² × 4 B = 0.7 GB ≤ 1024 MB) it is computed once and every trial reads its scores
  from it (5× fewer multiply-adds than one matmul per trial); else each trial is chunked on its own.
* **open-set identification**: gallery ``galIndex`` (one image per identity in BLUFR), probes
  ``probIndex``; probes whose identity has no gallery image are the impostor probes.
  DIR(rank, FAR) and closed-set CMC (:mod:`lrfr.metrics.identification`). Headline: DIR at
  rank 1, FAR = 1%.

Reporting: mean and std over trials, and **mean − std**, BLUFR's official figure. The std
divisor is ``n − std_ddof``; BLUFR's MATLAB code calls ``std`` with its default
normalization ``N − 1``, hence ``std_ddof = 1`` in ``blufr.toml``.

FAR grids (BLUFR's): verification ``[0, kron(10.^(-8:-1), 1:9), 1]``, open-set
``[0, kron(10.^(-4:-1), 1:9), 1]``; ranks ``[1:10, 20:10:100]``. With ``full_grid = false``
only the report points are computed (faster; the headline numbers are identical).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lrfr.metrics.identification import cmc, open_set_identification, probe_scores, probe_scores_from_matrix
from lrfr.metrics.roc import (all_pairs_scores, all_pairs_scores_from_matrix, candidates_above, impostor_floor,
                              similarity_matrix, vr_at_far_from_candidates, vr_at_far_from_scores)
from lrfr.protocols.base import Protocol, ProtocolData, ProtocolResult, check_features, find_first, mean_std, pct


def far_grid(decades: list[int], include_zero: bool = True, include_one: bool = True) -> np.ndarray:
    """BLUFR's grid ``[0, kron(10.^(d0:d1), 1:9), 1]`` for ``decades = [d0, d1]``."""
    d0, d1 = decades
    pts = [m * 10.0 ** d for d in range(d0, d1 + 1) for m in range(1, 10)]
    pts = [float(f"{p:.12g}") for p in pts]  # 3e-3 rather than 0.0030000000000000005
    return np.array(([0.0] if include_zero else []) + pts + ([1.0] if include_one else []))


@dataclass
class BlufrProtocolConfig:
    kind: str
    name: str
    description: str = ""
    image_dirs: list[str] = field(default_factory=lambda: ["lfw-112x96", "images"])
    config_files: list[str] = field(default_factory=lambda: ["blufr_lfw_config.mat", "blufr_config.mat"])
    trials: list[int] = field(default_factory=list)  # 1-based; empty = all
    similarity: str = "cosine"
    flip: str = "concat"
    full_grid: bool = True
    veri_far_decades: list[int] = field(default_factory=lambda: [-8, -1])
    veri_report_fars: list[float] = field(default_factory=lambda: [0.001])
    osi_far_decades: list[int] = field(default_factory=lambda: [-4, -1])
    osi_report_fars: list[float] = field(default_factory=lambda: [0.01])
    osi_report_ranks: list[int] = field(default_factory=lambda: [1])
    ranks: list[int] = field(default_factory=lambda: list(range(1, 11)) + list(range(20, 101, 10)))
    rank_over: str = "identity"
    reporting: str = "mean_minus_std"
    std_ddof: int = 1
    chunk: int = 1024
    device: str = "cpu"
    similarity_cache_mb: int = 1024
    check_files: bool = True
    progress: bool = True


@dataclass
class BlufrData(ProtocolData):
    """``labels`` per image; per trial 0-based ``test_index``, ``gal_index``, ``prob_index`` into ``image_paths``."""

    layout = "gallery"
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    test_index: list[np.ndarray] = field(default_factory=list)
    gal_index: list[np.ndarray] = field(default_factory=list)
    prob_index: list[np.ndarray] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)  # 0-based numbers of all trials in the file
    config_file: Path | None = None
    image_dir: Path | None = None

    def without_images(self, bad) -> tuple["BlufrData", dict]:
        """A copy without the images ``bad`` (indices into ``image_paths``), removed from every
        trial's test, gallery and probe sets. A probe whose identity loses its gallery image
        becomes an impostor probe, as BLUFR defines them.

        Returns ``(data, removed)``; ``removed["trials"]``: per trial, the test images, verification
        pairs, gallery and probe entries removed; ``n_pairs_removed``: verification pairs removed,
        summed over the trials.
        """
        keep = np.ones(len(self.image_paths), bool)
        keep[np.asarray(list(bad), dtype=np.int64)] = False
        new_index = np.cumsum(keep) - 1

        def sub(idx):
            ok = keep[idx]
            return new_index[idx[ok]], int((~ok).sum())

        test, gal, prob, per_trial = [], [], [], []
        for t in range(len(self.test_index)):
            (te, n_te), (ga, n_ga), (pr, n_pr) = sub(self.test_index[t]), sub(self.gal_index[t]), sub(self.prob_index[t])
            n = len(self.test_index[t])
            pairs = n * (n - 1) // 2 - (n - n_te) * (n - n_te - 1) // 2
            test.append(te), gal.append(ga), prob.append(pr)
            per_trial.append({"trial": t + 1, "test_images": n_te, "verification_pairs": pairs,
                              "gallery": n_ga, "probes": n_pr})
        data = dataclasses.replace(
            self, image_paths=[p for p, k in zip(self.image_paths, keep) if k], labels=self.labels[keep],
            test_index=test, gal_index=gal, prob_index=prob,
        )
        return data, {"n_pairs_removed": sum(r["verification_pairs"] for r in per_trial), "trials": per_trial}


class BlufrProtocol(Protocol):
    kind = "blufr"
    config_class = BlufrProtocolConfig

    def __init__(self, config, source=None):
        super().__init__(config, source)
        if config.similarity != "cosine":
            raise ValueError(f"{source}: similarity must be 'cosine' (the only one implemented); got {config.similarity!r}")
        if config.reporting not in ("mean_minus_std", "mean"):
            raise ValueError(f"{source}: reporting must be 'mean_minus_std' or 'mean'; got {config.reporting!r}")
        if config.rank_over not in ("identity", "entry"):
            raise ValueError(f"{source}: rank_over must be 'identity' or 'entry'; got {config.rank_over!r}")

    def set_progress(self, on: bool) -> None:
        self.config.progress = self.config.progress and on

    @property
    def conventions(self) -> dict:
        c = self.config
        out = super().conventions
        out.update(
            score="cosine similarity of L2-normalized features (float32)",
            verification_pairs="all pairs i<j of each trial's test set; genuine: same label",
            threshold="k-th highest impostor score, k = round(FAR*n) (halves up); accept iff score >= threshold; "
            "FAR=0: only scores above every impostor; FAR=1: accept all",
            open_set="impostor probes (identity not in gallery) scored by their best gallery score; DIR counts a "
            "genuine probe if its mate score >= threshold and its rank <= r",
            rank=f"over gallery {c.rank_over}s; ties with a non-mate count as a miss",
            reporting=f"{c.reporting} over trials; std with divisor n - {c.std_ddof}",
            std_ddof=c.std_ddof,
            full_grid=c.full_grid,
            train_index="unused (no metric learning)",
            curves="roc: (nominal FAR grid, VR averaged over trials); dir: (open-set FAR grid, DIR at the lowest "
            "rank asked, averaged); cmc: (ranks, closed-set rate averaged)",
            similarity_cache_mb=c.similarity_cache_mb,
        )
        return out

    def _fars(self, report: list[float], decades: list[int]) -> np.ndarray:
        pts = list(report) + (list(far_grid(decades)) if self.config.full_grid else [])
        return np.unique(np.asarray(pts, dtype=np.float64))

    def verification_fars(self) -> np.ndarray:
        return self._fars(self.config.veri_report_fars, self.config.veri_far_decades)

    def open_set_fars(self) -> np.ndarray:
        return self._fars(self.config.osi_report_fars, self.config.osi_far_decades)

    def open_set_ranks(self) -> np.ndarray:
        c = self.config
        r = list(c.osi_report_ranks) + (list(c.ranks) if c.full_grid else [])
        return np.unique(np.asarray(r, dtype=np.int64))

    def prepare(self, root, workdir=None) -> BlufrData:
        from lrfr.data.blufr import read_blufr_config

        root = Path(root)
        cfg_file = find_first(root, self.config.config_files, f"{self.name}: BLUFR config", kind="file")
        image_dir = find_first(root, self.config.image_dirs, f"{self.name}: image folder")
        bc = read_blufr_config(cfg_file)
        rel = bc.relative_paths()
        if len(set(rel)) != len(rel):
            raise ValueError(f"{cfg_file}: imageList names some images twice")
        paths = [image_dir / r for r in rel]
        if self.config.check_files:
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} of {len(paths)} images of {cfg_file.name} are not in {image_dir} (e.g. {', '.join(missing[:3])})"
                )
        data = BlufrData(
            protocol=self.name, root=root, image_paths=paths, conventions=self.conventions,
            labels=bc.labels, test_index=bc.test_index, gal_index=bc.gal_index, prob_index=bc.prob_index,
            trials=list(range(bc.n_trials)), config_file=cfg_file, image_dir=image_dir,
        )
        self.selected_trials(data)  # fail early on a bad `trials`
        return data

    def without_images(self, data: BlufrData, bad) -> tuple[BlufrData, dict]:
        """As :meth:`BlufrData.without_images`, counting removed pairs over the trials this protocol runs."""
        new, removed = data.without_images(bad)
        chosen = {t + 1 for t in self.selected_trials(data)}
        removed["trials"] = [r for r in removed["trials"] if r["trial"] in chosen]
        removed["n_pairs_removed"] = sum(r["verification_pairs"] for r in removed["trials"])
        return new, removed

    def selected_trials(self, data: BlufrData) -> list[int]:
        """0-based trials to run: the config's ``trials`` (1-based), or all of the data's."""
        n = len(data.test_index)
        if not self.config.trials:
            return list(range(n))
        bad = [t for t in self.config.trials if not 1 <= t <= n]
        if bad:
            raise ValueError(f"{self.name}: trials {bad} out of range; the BLUFR config has trials 1..{n}")
        return [t - 1 for t in self.config.trials]

    def run(self, data: BlufrData, features) -> ProtocolResult:
        from tqdm.auto import tqdm

        c = self.config
        f = check_features(data, features).astype(np.float32, copy=False)
        vfars, ofars, oranks = self.verification_fars(), self.open_set_fars(), self.open_set_ranks()
        cranks = np.unique(np.r_[oranks, np.asarray(c.ranks)]) if c.full_grid else oranks
        rows, roc_vr, dir_r1, cmc_rates = [], [], [], []
        trials = self.selected_trials(data)
        # Trials share most images (LFW: every trial's ~10k test images come from the same 13,233):
        # when the float32 similarity matrix of all images the trials use fits in
        # `similarity_cache_mb`, compute it once and read every trial's scores out of it.
        used = np.unique(np.concatenate([data.test_index[t] for t in trials])) if trials else np.zeros(0, np.int64)
        sim, where, candidates = None, None, None
        if len(trials) > 1 and 4 * len(used) ** 2 <= c.similarity_cache_mb * 2**20:
            sim = similarity_matrix(f[used], chunk=c.chunk, device=c.device)
            where = np.full(len(f), -1, np.int64)
            where[used] = np.arange(len(used))
            if not c.full_grid:  # the headline's small FARs: one pass keeps every trial's candidate scores
                floors = [impostor_floor(sim, where[data.test_index[t]], data.labels[data.test_index[t]], vfars)
                          for t in trials]
                if None not in floors:
                    candidates = candidates_above(sim, min(floors))
        for t in tqdm(trials, desc=f"{self.name} trials", unit="trial", disable=not c.progress):
            test = data.test_index[t]
            gal, prb = data.gal_index[t], data.prob_index[t]
            ver = None
            if sim is not None:
                if candidates is not None:  # exact from the candidates; None (too few of them) → the full path
                    ver = vr_at_far_from_candidates(candidates, where[test], data.labels[test], vfars)
                if ver is None:
                    ver = vr_at_far_from_scores(all_pairs_scores_from_matrix(sim, where[test], data.labels[test],
                                                                             chunk=c.chunk), vfars)
                # sim is symmetric: copy the gallery's rows (contiguous), then the probes' columns of
                # those (np.take: faster than fancy indexing) — the (probes, gallery) block, faster than an
                # np.ix_ gather of it (lrfr bench protocols)
                block = np.take(sim[where[gal]], where[prb], axis=1).T
                ps = probe_scores_from_matrix(block, data.labels[gal], data.labels[prb], rank_over=c.rank_over)
            else:
                ver = vr_at_far_from_scores(all_pairs_scores(f[test], data.labels[test], chunk=c.chunk,
                                                             device=c.device), vfars)
                ps = probe_scores(f[gal], data.labels[gal], f[prb], data.labels[prb], rank_over=c.rank_over, device=c.device)
            osi = open_set_identification(ps, ofars, oranks)
            rates = cmc(ps, cranks)
            row = {"trial": t + 1, "n_genuine_pairs": ver.n_genuine, "n_impostor_pairs": ver.n_impostor,
                   "n_gallery": len(gal), "n_genuine_probes": osi.n_genuine, "n_impostor_probes": osi.n_impostor}
            for fa in c.veri_report_fars:
                j = int(np.flatnonzero(vfars == fa)[0])
                row[f"vr@far={pct(fa)}"] = ver.vr[j]
                row[f"vr@far={pct(fa)}_threshold"] = ver.threshold[j]
            for fa in c.osi_report_fars:
                j = int(np.flatnonzero(ofars == fa)[0])
                for r in c.osi_report_ranks:
                    k = int(np.flatnonzero(oranks == r)[0])
                    row[f"dir@rank={r},far={pct(fa)}"] = osi.dir[j, k]
                row[f"dir@far={pct(fa)}_threshold"] = osi.threshold[j]
            for r in c.osi_report_ranks:
                row[f"cmc@rank={r}"] = rates[int(np.flatnonzero(cranks == r)[0])]
            rows.append(row)
            roc_vr.append(ver.vr)
            dir_r1.append(osi.dir[:, 0])
            cmc_rates.append(rates)
        per_fold = pd.DataFrame(rows)
        summary: dict[str, float] = {}
        headline: list[str] = []
        metric_cols = [k for k in rows[0] if k != "trial" and not k.startswith("n_")] if rows else []
        for col in metric_cols:
            m, s = mean_std(per_fold[col], c.std_ddof)
            summary[f"{col}_mean"] = m
            if not col.endswith("_threshold"):
                summary[f"{col}_std"] = s
                summary[f"{col}_mean_minus_std"] = m - s
        report = "_mean_minus_std" if c.reporting == "mean_minus_std" else "_mean"
        if c.veri_report_fars:
            headline.append(f"vr@far={pct(c.veri_report_fars[0])}{report}")
        if c.osi_report_fars and c.osi_report_ranks:
            headline.append(f"dir@rank={c.osi_report_ranks[0]},far={pct(c.osi_report_fars[0])}{report}")
        summary["n_trials"] = float(len(rows))
        curves = {
            "roc": (vfars, np.mean(roc_vr, axis=0)),
            "dir": (ofars, np.mean(dir_r1, axis=0)),
            "cmc": (cranks, np.mean(cmc_rates, axis=0)),
        }
        return ProtocolResult(self.name, summary, per_fold, curves, dict(self.conventions), headline)
