"""``lrfr.Gallery``: enrolment photos in, a searchable watchlist out; low-resolution probes in, identities out.

    g = lrfr.Gallery.build("enrol/", preset="camera")           # one sub-folder per identity, HR photos
    g.save("watchlist.lrfr")
    table = lrfr.Gallery.load("watchlist.lrfr").search("probes/", preset="camera", k=5, threshold=0.45)
    table.attrs["summary"]                                         # probes, accepted, rejected, rank-1 ...

A gallery holds one feature per enrolment image, embedded by the pipeline's **gallery recognizer**
(:class:`lrfr.probe.ProbePipeline`), in a FAISS index (:class:`lrfr.index.gallery.GalleryIndex`), with the
identity names and the gallery fingerprint. A search ranks **identities** (an identity's score is its best
image's), so a person enrolled with five photos counts once.

Search output, one row per probe (a person acts on it): ``probe``; ``decision`` (the identity, or
``"unknown"`` when the best score is below the threshold; the best identity when no threshold is set);
``accepted``; ``score`` and ``best_identity``, ``best_match`` (the gallery image) — kept for a rejected probe
too —; ``identity_2``/``score_2`` … up to ``k``; ``feature_norm`` and ``face_check`` (``"not a face?"`` when the
probe's feature norm is below :data:`NORM_MARGIN` × the lowest norm of the gallery's own faces put through the
same pipeline at 14×12 — a recognizer's features of noise, a blank or an unaligned crop are short, as
AdaFace's use of the norm as image quality relies on);
and, when the probe folder has one sub-folder per identity, ``true_identity``, ``enrolled`` and ``rank``
(of the true identity; 0 when not enrolled or not within the ranks searched).

Probe images: a folder (searched recursively), files, or tensors; any size from 8 px to the recognizer's
input (:data:`lrfr.probe.LR_RULE`); grey, palette and CMYK files are read as RGB. An unreadable file stops the
search naming it, or with ``on_bad_image="skip"`` is listed in ``table.attrs["skipped"]``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from lrfr.errors import LrfrError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
ON_BAD_IMAGE = ("error", "skip")
UNKNOWN = "unknown"
#: a probe whose feature norm is below this share of the lowest reference norm is flagged (lrfr's choice)
NORM_MARGIN = 0.8
#: gallery faces degraded and embedded to set the norm reference
NORM_SAMPLE = 128


class GalleryError(LrfrError, ValueError):
    """A gallery, probe set or search setting that cannot work, named."""


# -- reading images of any size -------------------------------------------------------------------------------

@dataclass
class Faces:
    """Face images read from disk: ``images`` (each ``(3, h, w)`` float in [0, 1], any size), their ``names``
    (relative to the folder given), ``identities`` (the first folder of the name when the images sit in
    identity sub-folders, else None) and the files that could not be used (``skipped``: name → reason)."""

    images: list[torch.Tensor]
    names: list[str]
    identities: list[str] | None
    skipped: dict[str, str] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)


def list_images(items: "str | Path | Sequence[str | Path]", what: str = "probe") -> tuple[list[Path], list[str]]:
    """Image files of ``items`` (folders searched recursively, hidden entries skipped) and their names."""
    items = [items] if isinstance(items, (str, Path)) else list(items)
    if not items:
        raise GalleryError(f"no {what} images given")
    paths, names = [], []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES
                           and not any(part.startswith(".") for part in q.relative_to(p).parts))
            if not found:
                raise GalleryError(f"{what} folder {p} holds no images ({' '.join(IMAGE_SUFFIXES)})")
            paths += found
            names += [q.relative_to(p).as_posix() for q in found]
        elif p.is_file():
            paths.append(p)
            names.append(p.name)
        else:
            raise GalleryError(f"{what} image or folder not found: {p}")
    return paths, names


def read_faces(items, what: str = "probe", on_bad_image: str = "error", max_size: tuple[int, int] | None = None,
               progress: bool = False) -> Faces:
    """Read every image of ``items`` (folders searched recursively, or files) as RGB (:class:`Faces`); identities
    from identity sub-folders when one folder is given and every image sits in one."""
    paths, names = list_images(items, what)
    faces = read_listed(paths, names, what, on_bad_image, max_size, progress)
    labelled = all("/" in n for n in faces.names) and len(items if isinstance(items, (list, tuple)) else [items]) == 1
    faces.identities = [n.split("/", 1)[0] for n in faces.names] if labelled else None
    return faces


def read_listed(paths: list[Path], names: list[str], what: str = "probe", on_bad_image: str = "error",
                max_size: tuple[int, int] | None = None, progress: bool = False, aligned: bool = False) -> Faces:
    """Read the images ``paths`` (named ``names``) as RGB; what cannot be used stops the read naming it, or with
    ``on_bad_image="skip"`` is listed in ``Faces.skipped``.

    ``aligned`` (enrolment photos): an image must be in the proportions of ``max_size`` (the recognizer's
    input; any size, resized later) — a photo in other proportions is not an aligned face crop, and is refused
    naming both sizes rather than cropped (``lrfr align`` makes aligned crops)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    from lrfr.io import read_image, to_tensor01

    if on_bad_image not in ON_BAD_IMAGE:
        raise GalleryError(f"on_bad_image must be one of {', '.join(ON_BAD_IMAGE)}; got {on_bad_image!r}")

    def work(path: Path):
        try:
            return read_image(path)
        except (ValueError, OSError) as err:  # "cannot read image PATH: why"
            return str(err)

    with ThreadPoolExecutor(max_workers=2) as pool:
        decoded = list(tqdm(pool.map(work, paths), total=len(paths), desc=f"reading {what}s", unit="img",
                            disable=not progress))
    images, kept, kept_paths, skipped = [], [], [], {}
    for path, name, rgb in zip(paths, names, decoded):
        reason = rgb if isinstance(rgb, str) else None
        if reason is None and min(rgb.shape[:2]) < 8:
            reason = f"{what} image {path}: {rgb.shape[0]}x{rgb.shape[1]} px, below 8 px on a side"
        if reason is None and aligned and max_size is not None and not _in_proportion(rgb.shape[:2], max_size):
            from lrfr.data.folders import _size_reason

            reason = (f"{what} image {path}: {_size_reason(rgb.shape[:2], max_size, 'the recognizer' + chr(39) + 's input size')}"
                      " (or any size in its proportions; align photos with lrfr align)")
        if reason is None and max_size is not None and (rgb.shape[0] > 4 * max_size[0] or rgb.shape[1] > 4 * max_size[1]):
            reason = (f"{what} image {path}: {rgb.shape[0]}x{rgb.shape[1]} px, over 4x the recognizer's input "
                      f"{max_size[0]}x{max_size[1]}; give aligned face crops, not whole photos")
        if reason is not None:
            if on_bad_image == "error":
                raise GalleryError(f"{reason} (on_bad_image='skip' / --on-bad-image skip leaves such files out "
                                   "and lists them)")
            skipped[name] = reason
            continue
        images.append(to_tensor01(rgb))
        kept.append(name)
        kept_paths.append(path)
    if not images:
        raise GalleryError(f"none of the {len(paths)} {what} images could be used (first: "
                           f"{next(iter(skipped.values()), '')})")
    return Faces(images, kept, None, skipped, kept_paths)


def _in_proportion(size, target) -> bool:
    """Whether ``size`` (h, w) has ``target``'s proportions up to a pixel of rounding."""
    from lrfr.data.resample import crop_to_aspect

    h, w = size
    return tuple(crop_to_aspect(torch.empty(0, h, w), target).shape[-2:]) == (h, w)


# -- the gallery ---------------------------------------------------------------------------------------------

FORMAT_KEY = "lrfr_gallery"


class Gallery:
    """A watchlist: enrolment features (one per image) with identities, searched by identity (module doc)."""

    def __init__(self, index, pipeline=None):
        self.index = index
        self.pipeline = pipeline  # the ProbePipeline that embedded it (None after load until a search gives one)

    # -- making one --------------------------------------------------------------------------------------

    @classmethod
    def build(cls, folder, recognizer=None, weights=None, *, preset: str | None = None, pipeline=None,
              flip: str | None = "concat", kind: str = "flat", device=None, batch_size: int = 128,
              on_bad_image: str = "error", progress: bool = True, **index_kw) -> "Gallery":
        """Embed ``folder`` (one sub-folder per identity; aligned faces, any size — resized by the native-LR
        rule when they are not the recognizer's input size) with the gallery recognizer of ``pipeline``, of a
        ``preset``, or of ``recognizer``/``weights``."""
        from lrfr.index.gallery import GalleryIndex

        pipe = _pipeline(pipeline, preset, dict(recognizer=recognizer, weights=weights, flip=flip, device=device,
                                                batch_size=batch_size))
        from lrfr.data.folders import open_faces

        listing = open_faces(Path(folder))  # any layout lrfr reads: identity folders, LFW's, CelebA's
        faces = read_listed(listing.paths, listing.names, "enrolment", on_bad_image, pipe.input_size, progress,
                            aligned=True)
        identity = dict(zip(listing.names, (listing.classes[i] for i in listing.labels)))
        faces.identities = [identity[n] for n in faces.names]
        folder = Path(folder)
        size = pipe.input_size
        resized = sum(tuple(f.shape[-2:]) != size for f in faces.images)
        from lrfr.data.resample import fit_to_size

        hr = torch.stack([f if tuple(f.shape[-2:]) == size else fit_to_size(f, size) for f in faces.images])
        feats = pipe.embed_gallery(hr, progress)
        classes = sorted(set(faces.identities))
        labels = np.array([classes.index(i) for i in faces.identities], np.int64)
        index = GalleryIndex(feats.shape[1], kind=kind, **index_kw)
        index.add(feats, labels, faces.names)
        index.meta = {FORMAT_KEY: 1, "classes": classes, "fingerprint": pipe.gallery_fingerprint(),
                      "weights": pipe.gallery.weights or None,
                      "data": str(folder.resolve()), "n_resized": int(resized),
                      "skipped": faces.skipped}
        return cls(index, pipe)

    def save(self, path) -> Path:
        return self.index.save(path)

    @classmethod
    def load(cls, path) -> "Gallery":
        from lrfr.index.gallery import GalleryIndex

        path = Path(path)
        if not path.is_file():
            raise GalleryError(f"gallery file not found: {path}")
        index = GalleryIndex.load(path)
        if "classes" not in index.meta:
            raise GalleryError(f"{path} holds no identity names: build it with lrfr index build / lrfr.Gallery.build")
        gallery = cls(index)
        gallery.path = path
        return gallery

    def save_npz(self, path) -> Path:
        """The gallery for a deployment without lrfr, FAISS or PyTorch (numpy + onnxruntime, docs/deployment.md):
        ``vectors`` (L2-normalised float32, one per enrolment image), ``labels`` (their identity index), ``classes``
        (identity names), ``names`` (image names) and ``fingerprint`` (JSON text)."""
        from lrfr.io import atomic_write

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, vectors=self.index.vectors().astype(np.float32), labels=self.index.labels,
                         classes=np.array(self.classes), names=np.array(self.index.names),
                         fingerprint=np.array(json.dumps(self.index.meta.get("fingerprint", {}))))

        return atomic_write(Path(path), write)

    # -- what it holds -----------------------------------------------------------------------------------

    @property
    def classes(self) -> list[str]:
        return list(self.index.meta["classes"])

    @property
    def n_identities(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        fp = self.index.meta.get("fingerprint", {})
        return (f"Gallery({len(self)} images of {self.n_identities} identities, recognizer "
                f"{fp.get('recognizer')} {str(fp.get('weights_sha256'))[:12]}, flip {fp.get('flip')})")

    # -- searching ---------------------------------------------------------------------------------------

    #: probes scored against every image at once, at most (bounds the similarity block's memory)
    CHUNK = 64

    def _normalized(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)

    def _identity_scores(self, sim: np.ndarray) -> np.ndarray:
        """Per-identity best image score ``(n, n_identities)`` of a probes × images similarity block."""
        labels = self.index.labels
        if len(labels) == self.n_identities and np.array_equal(labels, np.arange(len(labels))):
            return sim  # one image per identity, in order
        out = np.full((len(sim), self.n_identities), -np.inf, np.float32)
        np.maximum.at(out.T, labels, sim.T)
        return out

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Every probe's score against every identity ``(n_probes, n_identities)``: its best image's cosine (a
        calibration's impostor scores; a gallery of thousands of identities — not millions)."""
        vecs, x = self.index.vectors(), self._normalized(features)
        return np.concatenate([self._identity_scores(x[s:s + self.CHUNK] @ vecs.T)
                               for s in range(0, len(x), self.CHUNK)]) if len(x) else np.zeros((0, self.n_identities))

    def ranked(self, features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(identities (n, k), scores (n, k), best image index (n,))``, best identity first: the index's nearest
        images (up to ``k`` × the most images an identity has), one entry per identity — exact for a flat index,
        approximate for ivf/hnsw. Missing entries (a gallery of fewer identities) are −1 / −inf."""
        k = min(k, self.n_identities)
        per_id = int(np.bincount(self.index.labels).max())
        res = self.index.search(features, k=min(len(self), k * per_id))
        ids = np.full((len(features), k), -1, np.int64)
        sc = np.full((len(features), k), -np.inf, np.float32)
        best = np.full(len(features), -1, np.int64)
        for i in range(len(features)):
            seen = []
            for lab, score, idx in zip(res.labels[i], res.scores[i], res.indices[i]):
                if lab < 0 or lab in seen:
                    continue
                if not seen:
                    best[i] = idx
                seen.append(lab)
                ids[i, len(seen) - 1], sc[i, len(seen) - 1] = lab, score
                if len(seen) == k:
                    break
        return ids, sc, best

    def true_ranks(self, features: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """The rank of each probe's own identity among all identities (1 = first; 0 where ``truth`` is −1: not
        enrolled), exact, whatever the index kind: 1 + the identities scoring above it."""
        vecs, x = self.index.vectors(), self._normalized(features)
        ranks = np.zeros(len(x), np.int64)
        for s in range(0, len(x), self.CHUNK):
            block = self._identity_scores(x[s:s + self.CHUNK] @ vecs.T)
            t = truth[s:s + self.CHUNK]
            known = t >= 0
            own = np.where(known, block[np.arange(len(block)), np.maximum(t, 0)], np.inf)
            ranks[s:s + self.CHUNK] = np.where(known, 1 + (block > own[:, None]).sum(1), 0)
        return ranks

    def check_probes(self, pipe) -> None:
        """Refuse a pipeline whose gallery recognizer is not the one this gallery was embedded with."""
        where = getattr(self, "path", None)
        pipe.check_gallery(self.index.meta.get("fingerprint"), f"gallery {where}" if where else "this gallery")

    def search(self, probes, *, preset: str | None = None, pipeline=None, front_end="bicubic", probe_recognizer=None,
               probe_weights=None, k: int = 5, threshold: float | None = None, calibration=None,
               fpir: float | None = None, far: float | None = None, on_bad_image: str = "error", device=None,
               batch_size: int = 128, progress: bool = True) -> pd.DataFrame:
        """Search ``probes`` (a folder, files, or a list of ``(3, h, w)`` tensors); one row per probe (module doc).

        The pipeline: ``pipeline``, or a ``preset``, or ``front_end`` + ``probe_recognizer``/``probe_weights``
        with the gallery recognizer this gallery was built with (its weights must be at hand: a packaged or
        recorded file). ``threshold``: accept the best identity when its score reaches it; or ``calibration``
        (an :class:`lrfr.openset.OpenSetCalibration`, a file or the dict a gallery keeps) with ``fpir``, its
        threshold for that open-set false-positive identification rate — or a per-pair verification calibration
        (:class:`lrfr.calibration.Calibration`) with ``far``, with a warning that FAR is not FPIR. ``k``
        identities are listed per probe either way."""
        from lrfr.openset import resolve_threshold

        if k < 1:
            raise GalleryError(f"k must be >= 1; got {k}")
        pipe = pipeline or self.pipeline_for(preset, front_end, probe_recognizer, probe_weights, device, batch_size)
        self.check_probes(pipe)
        thr, thr_source = resolve_threshold(threshold, calibration, fpir, pipe, self.n_identities, far=far)
        if isinstance(probes, torch.Tensor) or (isinstance(probes, (list, tuple)) and probes
                                                and isinstance(probes[0], torch.Tensor)):
            images = list(probes) if not isinstance(probes, torch.Tensor) or probes.dim() == 4 else [probes]
            faces = Faces(images, [str(i) for i in range(len(images))], None)
        else:
            faces = read_faces(probes, "probe", on_bad_image, pipe.input_size, progress)
        feats = pipe.embed_probes(faces.images, progress)
        table = self.table(feats, faces, k, thr, self.norm_floor(pipe))
        table.attrs.update(summary=summarize(table, thr, len(faces.skipped)), skipped=faces.skipped,
                           threshold=thr, threshold_source=thr_source, pipeline=pipe.fingerprint(),
                           gallery={"identities": self.n_identities, "images": len(self)})
        return table

    def pipeline_for(self, preset, front_end, probe_recognizer, probe_weights, device, batch_size):
        """The probe pipeline of a search: a preset, or this gallery's recognizer with the given probe side."""
        if preset is not None:
            return _pipeline(None, preset, dict(device=device, batch_size=batch_size))
        if self.pipeline is not None and front_end == "bicubic" and probe_recognizer is None and probe_weights is None:
            return self.pipeline
        meta = self.index.meta
        weights = meta.get("weights")
        if weights is None:
            raise GalleryError("this gallery does not record its recognizer's weights file: give a preset or a "
                               "pipeline (lrfr.ProbePipeline.create(weights=...))")
        from lrfr.probe import ProbePipeline

        fp = meta.get("fingerprint", {})
        return ProbePipeline.create(front_end=front_end, weights=weights, probe_recognizer=probe_recognizer,
                                    probe_weights=probe_weights, flip=fp.get("flip", "concat"), device=device,
                                    batch_size=batch_size)

    def norm_floor(self, pipe) -> float:
        """:data:`NORM_MARGIN` × the lowest feature norm of up to :data:`NORM_SAMPLE` gallery faces, read again from
        the enrolment folder, degraded ×8 (bicubic) and put through ``pipe`` (NaN, no check, when the folder is gone)."""
        from lrfr.data.resample import downsample, fit_to_size
        from lrfr.io import read_image, to_tensor01

        key = json.dumps(pipe.fingerprint(), sort_keys=True)
        cache = self.__dict__.setdefault("_norm_floor", {})
        if key not in cache:
            root = Path(self.index.meta.get("data", ""))
            names = self.index.names[:: max(1, len(self) // NORM_SAMPLE)][:NORM_SAMPLE]
            paths = [root / n for n in names if (root / n).is_file()]
            if not paths:
                cache[key] = float("nan")  # the enrolment photos are not at hand: no check
            else:
                size = pipe.input_size
                hr = torch.stack([fit_to_size(to_tensor01(read_image(p)), size) for p in paths])
                feats = pipe.embed_probes(downsample(hr, 8) if size[0] % 8 == 0 and size[1] % 8 == 0 else hr)
                cache[key] = float(NORM_MARGIN * np.linalg.norm(feats, axis=1).min())
        return cache[key]

    def table(self, features: np.ndarray, faces: Faces, k: int, threshold: float | None,
              norm_floor: float = float("nan")) -> pd.DataFrame:
        """The per-probe table of :meth:`search` (module doc) from the probes' features."""
        classes = self.classes
        ids, sc, best_img = self.ranked(features, k)
        names = np.asarray(self.index.names, dtype=object)
        best = [classes[i] if i >= 0 else None for i in ids[:, 0]]
        accepted = sc[:, 0] >= threshold if threshold is not None else np.ones(len(ids), bool)
        norms = np.linalg.norm(features, axis=1)
        cols = {
            "probe": faces.names,
            "decision": [b if a else UNKNOWN for b, a in zip(best, accepted)],
            "accepted": accepted if threshold is not None else pd.array([pd.NA] * len(ids), dtype="boolean"),
            "score": sc[:, 0],
            "best_identity": best,
            "best_match": [names[i] if i >= 0 else None for i in best_img],
        }
        for r in range(1, ids.shape[1]):
            cols[f"identity_{r + 1}"] = [classes[i] if i >= 0 else None for i in ids[:, r]]
            cols[f"score_{r + 1}"] = sc[:, r]
        cols["feature_norm"] = norms
        cols["face_check"] = np.where(norms < norm_floor, "not a face?", "")
        table = pd.DataFrame(cols)
        if faces.identities is not None:
            truth = np.array(faces.identities, dtype=object)
            index_of = {c: i for i, c in enumerate(classes)}
            truth_idx = np.array([index_of.get(t, -1) for t in truth], np.int64)
            table["true_identity"], table["enrolled"] = truth, truth_idx >= 0
            table["rank"] = self.true_ranks(features, truth_idx)
        return table


def summarize(table: pd.DataFrame, threshold: float | None, n_skipped: int = 0) -> dict:
    """Counts and, for labelled probes, rank-1/5 and the open-set rates at the threshold."""
    out = {"probes": int(len(table)), "skipped": int(n_skipped)}
    if threshold is not None:
        acc = table["accepted"].astype(bool)
        out.update(accepted=int(acc.sum()), rejected_as_unknown=int((~acc).sum()), threshold=float(threshold))
    out["not_a_face"] = int((table["face_check"] != "").sum())
    if "rank" in table:
        known = table["enrolled"].to_numpy(bool)
        rank = table["rank"].to_numpy()
        out.update(known_probes=int(known.sum()), unknown_probes=int((~known).sum()))
        if known.any():
            for r in (1, 5):
                out[f"rank{r}"] = float(((rank[known] >= 1) & (rank[known] <= r)).mean())
        if threshold is not None:
            acc = table["accepted"].to_numpy(bool)
            if known.any():
                out["dir"] = float((acc[known] & (rank[known] == 1)).mean())
                out["wrong_person_accepted"] = int((acc[known] & (rank[known] != 1)).sum())
            if (~known).any():
                out["fpir"] = float(acc[~known].mean())
    return out


def summary_line(summary: dict) -> str:
    """The summary as one line a person reads first."""
    parts = [f"{summary['probes']} probes"]
    if summary.get("skipped"):
        parts.append(f"{summary['skipped']} skipped")
    if "accepted" in summary:
        parts.append(f"{summary['accepted']} accepted, {summary['rejected_as_unknown']} rejected as unknown "
                     f"(threshold {summary['threshold']:.4f})")
    if "known_probes" in summary:
        parts.append(f"{summary['known_probes']} of enrolled people, {summary['unknown_probes']} of others")
        if "rank1" in summary:
            parts.append(f"rank-1 {100 * summary['rank1']:.1f}%, rank-5 {100 * summary['rank5']:.1f}%")
        if "dir" in summary:
            parts.append(f"DIR {100 * summary['dir']:.1f}% ({summary['wrong_person_accepted']} accepted as the wrong "
                         "person)")
        if "fpir" in summary:
            parts.append(f"FPIR {100 * summary['fpir']:.1f}%")
    if summary.get("not_a_face"):
        parts.append(f"{summary['not_a_face']} flagged 'not a face?' (feature norm below the gallery's own faces "
                     "at 14x12: noise, blank or unaligned?)")
    return "; ".join(parts)


def _pipeline(pipeline, preset, kwargs):
    from lrfr.probe import ProbePipeline

    if pipeline is not None:
        return pipeline
    if preset is not None:
        return ProbePipeline.preset(preset, **{k: v for k, v in kwargs.items() if k in ("device", "batch_size")})
    return ProbePipeline.create(**kwargs)


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The columns a person reads first, the other listed identities folded into one ``next`` column."""
    k = sum(c.startswith("identity_") for c in table.columns)
    view = table[[c for c in ("probe", "decision", "score", "best_identity") if c in table]].copy()
    if k:
        view["next"] = [", ".join(f"{table[f'identity_{r}'].iat[i]} {table[f'score_{r}'].iat[i]:.2f}"
                                  for r in range(2, k + 2) if table[f"identity_{r}"].iat[i] is not None)
                        for i in range(len(table))]
    for c in ("face_check", "true_identity", "rank"):
        if c in table:
            view[c] = table[c]
    return view


def write_json(table: pd.DataFrame, path) -> Path:
    """The search as JSON: ``{"summary", "pipeline", "threshold", "skipped", "probes": [row, ...]}``."""
    from lrfr.io import atomic_write_text

    rows = json.loads(table.to_json(orient="records"))
    doc = {k: table.attrs.get(k) for k in ("summary", "pipeline", "gallery", "threshold", "threshold_source", "skipped")}
    return atomic_write_text(Path(path), json.dumps({**doc, "probes": rows}, indent=1) + "\n")
