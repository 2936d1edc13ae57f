"""Watchlist protocols on a user's own folders, and on TinyFace's layout: native low-resolution probes against
a gallery, scored as identification.

``protocol="watchlist"`` (:func:`evaluate_watchlist`; ``lrfr.evaluate(protocol="watchlist", data=ROOT)``):
``ROOT/enrol/`` — one sub-folder per identity, HR photos — and ``ROOT/probes/`` — sub-folders named by
identity; a probe whose identity is not enrolled is an *unknown* probe. Both any size (:data:`lrfr.probe.LR_RULE`).
Probes smaller than the recognizer's input are **native LR** and used as they are; probes at the recognizer's
input are HR and, when a ``scale`` is given, degraded in memory by ``degrade`` (seeded per image name), as
``lrfr degrade`` would write them. Reported (lrfr's definitions): rank-1/5/10 and the CMC over the known
probes (identity ranks: an identity scores its best image); DIR at FPIR 1% and 10% — the threshold set on the
unknown probes' top scores so that that share of them pass, DIR the share of known probes whose best identity
is theirs and passes it; the per-probe table.

:func:`calibrate_open_set` (``lrfr calibrate --open-set``): thresholds for a target FPIR against a gallery of a
stated size, from an enrolment folder and a labelled probe folder (:mod:`lrfr.openset`).

``protocol="tinyface"`` (:func:`evaluate_tinyface`; Cheng et al., ACCV 2018): ``ROOT/Probe/``,
``ROOT/Gallery_Match/``, ``ROOT/Gallery_Distractor/`` and the lists ``probe_img_ID_pairs.mat`` (``probe_set``,
``probe_ids``) and ``gallery_match_img_ID_pairs.mat`` (``gallery_set``, ``gallery_ids``), as the dataset ships
them (``ROOT`` may also be the folder holding ``Testing_Set/``). As TinyFace's evaluation defines it: every
probe is ranked against every gallery image (matches and distractors, the distractors' identity −100) and
scored by rank-1/5/20 (the share of probes with a same-identity image within the first r) and mAP (mean over
probes of the average precision of their same-identity images in the ranking, each precision step the mean
of the precisions before and after it, as in the Market-1501 code TinyFace's uses). TinyFace's images are all
native LR, so gallery and probes both go through the front-end and the probe recognizer; lrfr ranks by cosine
(TinyFace's script by Euclidean distance of features; the same ranking for L2-normalised features).
lrfr itself has not run on TinyFace (it is not here): the reader is tested on a miniature in its layout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lrfr.errors import LrfrError
from lrfr.openset import OpenSetCalibration, OpenSetError, impostor_scores, threshold_for_fpir

WATCHLIST_FPIRS = (0.01, 0.1)
WATCHLIST_RANKS = (1, 5, 10)
TINYFACE_RANKS = (1, 5, 20)


class WatchlistDataError(LrfrError, ValueError):
    """Protocol data (a watchlist root, a TinyFace folder) that is not laid out as expected, named."""


@dataclass
class GalleryResult:
    """``summary`` (flat numbers), ``cmc`` ``(ranks, rate)``, the per-probe ``table`` and what the probes were."""

    protocol: str
    summary: dict
    cmc: tuple[np.ndarray, np.ndarray]
    table: pd.DataFrame
    probe_side: str
    skipped: dict = field(default_factory=dict)


def _prepare_probes(images: list[torch.Tensor], names: list[str], size: tuple[int, int], scale: int | None,
                    degrade: str, seed: int) -> tuple[list[torch.Tensor], str]:
    """Native LR probes as they are; HR ones (the recognizer's size) degraded at ``scale`` when given."""
    from lrfr.data.degradations import apply_degradation, canonical, image_seed

    hr = [i for i, im in enumerate(images) if tuple(im.shape[-2:]) == tuple(size)]
    sizes = sorted({tuple(im.shape[-2:]) for im in images})
    if not hr or scale is None:
        side = "native LR" if len(hr) < len(images) else "HR (not degraded: no scale given)"
        return images, f"{side}; sizes {', '.join(f'{h}x{w}' for h, w in sizes[:6])}{' ...' if len(sizes) > 6 else ''}"
    if len(hr) < len(images):
        raise WatchlistDataError(f"the probes mix HR images ({size[0]}x{size[1]}) with native LR ones, and a scale was "
                                 "given: give HR probes and a scale, or native LR probes and no scale")
    spec = canonical(degrade)
    out = [apply_degradation(im[None], scale, spec, [image_seed(seed, n)])[0] for im, n in zip(images, names)]
    return out, f"HR degraded in memory: x{scale} by {spec} (seed {seed})"


def evaluate_watchlist(root, pipeline, *, scale: int | None = None, degrade: str = "bicubic", seed: int = 0,
                       fpirs=WATCHLIST_FPIRS, ranks=WATCHLIST_RANKS, on_bad_image: str = "error",
                       progress: bool = True) -> GalleryResult:
    """The watchlist protocol (module doc) on ``root`` (``enrol/`` and ``probes/``) through ``pipeline``."""
    from lrfr.gallery import Gallery, read_faces
    from lrfr.openset import empirical_threshold

    root = Path(root)
    enrol, probes = root / "enrol", root / "probes"
    for need in (enrol, probes):
        if not need.is_dir():
            raise WatchlistDataError(f"watchlist data {root}: no {need.name}/ folder (expected {root}/enrol/NAME/*.jpg "
                                     f"and {root}/probes/NAME/*.png; lrfr watchlist make writes one)")
    g = Gallery.build(enrol, pipeline=pipeline, on_bad_image=on_bad_image, progress=progress)
    faces = read_faces(probes, "probe", on_bad_image, pipeline.input_size, progress)
    if faces.identities is None:
        raise WatchlistDataError(f"{probes}: probes must sit in sub-folders named by identity")
    faces.images, side = _prepare_probes(faces.images, faces.names, pipeline.input_size, scale, degrade, seed)
    feats = pipeline.embed_probes(faces.images, progress)
    table = g.table(feats, faces, k=min(max(ranks), g.n_identities), threshold=None)
    known = table["enrolled"].to_numpy(bool)
    if not known.any():
        raise WatchlistDataError(f"{probes}: no probe sub-folder names an enrolled identity")
    rank = table["rank"].to_numpy()
    cmc_ranks = np.arange(1, g.n_identities + 1)
    cmc = np.array([((rank[known] >= 1) & (rank[known] <= r)).mean() for r in cmc_ranks])
    summary = {f"rank{r}": float(cmc[min(r, len(cmc)) - 1]) for r in ranks}
    top = table["score"].to_numpy()
    if (~known).any():
        for f in fpirs:
            t = empirical_threshold(top[~known], f)
            summary[f"dir@fpir={f:g}"] = float(((rank[known] == 1) & (top[known] >= t)).mean())
            summary[f"threshold@fpir={f:g}"] = t
    summary.update(n_enrolled=g.n_identities, n_gallery_images=len(g), n_known_probes=int(known.sum()),
                   n_unknown_probes=int((~known).sum()))
    return GalleryResult("watchlist", summary, (cmc_ranks, cmc), table, side, {**g.index.meta.get("skipped", {}),
                                                                                    **faces.skipped})


def calibrate_open_set(enrol, probes, pipeline, fpirs=WATCHLIST_FPIRS, gallery_size: int | None = None,
                       on_bad_image: str = "error", progress: bool = True) -> OpenSetCalibration:
    """Open-set thresholds at ``fpirs`` for a gallery of ``gallery_size`` identities (default: the enrolment
    folder's), from an enrolment folder and a labelled probe folder, through ``pipeline`` (:mod:`lrfr.openset`
    says how and why)."""
    import lrfr
    from lrfr.gallery import Gallery, read_faces

    g = Gallery.build(enrol, pipeline=pipeline, on_bad_image=on_bad_image, progress=progress)
    faces = read_faces(probes, "probe", on_bad_image, pipeline.input_size, progress)
    if faces.identities is None:
        raise OpenSetError(f"probe folder {probes}: calibration needs one sub-folder per identity (named as the "
                           "enrolment folder names the enrolled people; other names are unknown people)")
    scores = g.scores(pipeline.embed_probes(faces.images, progress))
    classes = g.classes
    truth = np.array([classes.index(t) if t in classes else -1 for t in faces.identities])
    impostors = impostor_scores(scores, truth)
    n = int(gallery_size or g.n_identities)
    points = [{"fpir": float(f), "threshold": threshold_for_fpir(impostors, float(f), n)}
              for f in sorted({float(f) for f in fpirs})]
    unknown = truth < 0
    source = {"enrol": str(Path(enrol).resolve()), "probes": str(Path(probes).resolve()),
              "calibration_identities": g.n_identities, "probes_used": int(len(truth)),
              "unknown_probes": int(unknown.sum()), "skipped": len(faces.skipped),
              "extrapolated": n > min(len(a) for a in impostors),
              "method": "per-probe impostor identity scores: galleries of N drawn without replacement, or a normal "
                        "model beyond the calibration's identities (lrfr.openset)"}
    return OpenSetCalibration(pipeline.fingerprint(), n, points, source, lrfr.__version__)


# -- TinyFace --------------------------------------------------------------------------------------------------

TINYFACE_LISTS = {"probe": ("probe_img_ID_pairs.mat", "probe_set", "probe_ids", "Probe"),
                  "match": ("gallery_match_img_ID_pairs.mat", "gallery_set", "gallery_ids", "Gallery_Match")}
DISTRACTOR = "Gallery_Distractor"
DISTRACTOR_ID = -100


def _tinyface_root(root: Path) -> Path:
    if (root / "Testing_Set").is_dir():
        root = root / "Testing_Set"
    missing = [n for n in ("Probe", "Gallery_Match", DISTRACTOR, *(v[0] for v in TINYFACE_LISTS.values()))
               if not (root / n).exists()]
    if missing:
        raise WatchlistDataError(f"{root}: not TinyFace's layout (missing {', '.join(missing)}; expected Probe/, "
                                 f"Gallery_Match/, {DISTRACTOR}/, probe_img_ID_pairs.mat, gallery_match_img_ID_pairs.mat)")
    return root


def read_tinyface_list(path: Path, set_key: str, id_key: str, folder: Path) -> tuple[list[Path], np.ndarray]:
    """Image paths and identities of one TinyFace list (``.mat``: a cell of names, a column of ids)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        names = [str(np.asarray(c).ravel()[0]) for c in np.asarray(mat[set_key]).ravel()]
        ids = np.asarray(mat[id_key]).astype(np.int64).ravel()
    except (KeyError, ValueError, OSError, IndexError) as err:
        raise WatchlistDataError(f"{path}: not a TinyFace list with {set_key!r} and {id_key!r} ({err})") from None
    if len(names) != len(ids):
        raise WatchlistDataError(f"{path}: {len(names)} images but {len(ids)} ids")
    paths = [folder / n for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise WatchlistDataError(f"{path} names {len(missing)} image(s) missing from {folder} (first: {missing[0].name})")
    return paths, ids


def average_precision(good: np.ndarray, order: np.ndarray) -> tuple[float, np.ndarray]:
    """(AP, CMC) of one query: ``good`` a boolean per gallery image, ``order`` the gallery ranked best first.

    Each hit adds ``(recall step) × (precision before + precision after) / 2`` (module doc)."""
    hits = good[order]
    n_good = int(good.sum())
    cmc = np.zeros(len(order))
    if n_good == 0:
        return 0.0, cmc
    pos = np.flatnonzero(hits)
    cmc[pos[0]:] = 1.0
    k = np.arange(1, len(pos) + 1)
    after = k / (pos + 1)
    before = np.where(pos > 0, (k - 1) / np.maximum(pos, 1), 1.0)
    return float(np.sum((after + before) / 2 / n_good)), cmc


def evaluate_tinyface(root, pipeline, *, ranks=TINYFACE_RANKS, on_bad_image: str = "error",
                      progress: bool = True) -> GalleryResult:
    """TinyFace's identification protocol (module doc) through ``pipeline`` (both sides native LR)."""
    from lrfr.gallery import read_faces

    root = _tinyface_root(Path(root))
    lists = {k: read_tinyface_list(root / f, s, i, root / d) for k, (f, s, i, d) in TINYFACE_LISTS.items()}
    distractors = read_faces(root / DISTRACTOR, "distractor", on_bad_image, pipeline.input_size, progress)
    probe_faces = read_faces(lists["probe"][0], "probe", on_bad_image, pipeline.input_size, progress)
    match_faces = read_faces(lists["match"][0], "gallery", on_bad_image, pipeline.input_size, progress)
    keep_p = [p.name in set(probe_faces.names) for p in lists["probe"][0]]
    keep_m = [p.name in set(match_faces.names) for p in lists["match"][0]]
    probe_ids, match_ids = lists["probe"][1][keep_p], lists["match"][1][keep_m]
    gal = np.concatenate([pipeline.embed_probes(match_faces.images, progress),
                          pipeline.embed_probes(distractors.images, progress)])
    gal_ids = np.concatenate([match_ids, np.full(len(distractors.images), DISTRACTOR_ID)])
    prb = pipeline.embed_probes(probe_faces.images, progress)
    g = gal / np.linalg.norm(gal, axis=1, keepdims=True)
    p = prb / np.linalg.norm(prb, axis=1, keepdims=True)
    aps, cmcs, first = [], [], []
    for s in range(0, len(p), 512):
        sim = p[s:s + 512] @ g.T
        for row, pid in zip(sim, probe_ids[s:s + 512]):
            order = np.argsort(-row, kind="stable")
            ap, cmc = average_precision(gal_ids == pid, order)
            aps.append(ap)
            cmcs.append(cmc[:max(ranks)])
            first.append(int(np.argmax(cmc)) + 1 if cmc.any() else 0)
    cmc = np.mean(cmcs, axis=0)
    summary = {f"rank{r}": float(cmc[r - 1]) for r in ranks if r <= len(cmc)}
    summary.update(map=float(np.mean(aps)), n_probes=len(p), n_gallery_match=len(match_ids),
                   n_distractors=len(distractors.images))
    table = pd.DataFrame({"probe": probe_faces.names, "identity": probe_ids, "rank": first, "ap": aps})
    sizes = sorted({tuple(im.shape[-2:]) for im in probe_faces.images})
    return GalleryResult("tinyface", summary, (np.arange(1, len(cmc) + 1), cmc), table,
                         f"native LR; probe sizes {sizes[0][0]}x{sizes[0][1]} to {sizes[-1][0]}x{sizes[-1][1]}",
                         {**distractors.skipped, **probe_faces.skipped, **match_faces.skipped})
