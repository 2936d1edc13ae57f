"""Probe sets on disk: an HR folder written as low-resolution files (``lrfr degrade``), and a watchlist split
of an identity folder (``lrfr watchlist make``).

:func:`write_lr_set` degrades every image of a folder (same relative names, written as PNG so nothing is
lost again) by a degradation spec (:mod:`lrfr.data.degradations`) at a scale or to a size, each image's draws
seeded by :func:`lrfr.data.degradations.image_seed` ``(seed, "identity/file")`` — the seed
``lrfr.evaluate`` gives the same image — and records the spec beside the files (``degradation.json``). The
folder is written under a temporary name and renamed when complete: a failed run leaves nothing half-written.

:func:`make_watchlist` picks, with a seed, ``enrolled`` identities of an identity folder that have at least
two images: the first image of each (sorted) is enrolled, up to ``probes_per_identity`` of the others are
probes; and ``unknown`` other identities give one probe each (people not enrolled). Written as
``OUT/enrol/NAME/…`` and ``OUT/probes-hr/NAME/…`` (copies), with ``watchlist.json`` saying how.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from lrfr.errors import LrfrError

RECORD = "degradation.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class ProbeSetError(LrfrError, ValueError):
    """A probe set that cannot be written as asked, named."""


def _images(src: Path) -> list[Path]:
    if not src.is_dir():
        raise ProbeSetError(f"source folder not found: {src}")
    found = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(src).parts))
    if not found:
        raise ProbeSetError(f"{src} holds no images ({' '.join(IMAGE_SUFFIXES)})")
    return found


def _fresh_target(dst: Path, overwrite: bool) -> Path:
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise ProbeSetError(f"{dst} exists and is not empty: choose another folder, or pass overwrite "
                            "(--overwrite) to replace it")
    if not dst.parent.is_dir():
        raise ProbeSetError(f"the folder that would hold {dst} does not exist: {dst.parent}")
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _publish(tmp: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def write_lr_set(src, dst, *, scale: int | None = None, size: tuple[int, int] | None = None,
                 degrade: str = "bicubic", seed: int = 0, overwrite: bool = False, progress: bool = True) -> dict:
    """Write every image of ``src`` degraded to ``dst`` (module doc); returns the record written beside them.

    Give ``scale`` (every image's sides must divide by it) or ``size`` ``(h, w)`` (any HR size)."""
    from tqdm.auto import tqdm

    import lrfr
    from lrfr.data.degradations import apply_degradation, canonical
    from lrfr.data.degradations import degradation_seed
    from lrfr.io import read_image, to_tensor01, to_uint8, write_image

    if (scale is None) == (size is None):
        raise ProbeSetError("give a scale (--scale 8) or a size (--size 14x12), not both and not neither")
    spec = canonical(degrade)
    src, dst = Path(src), Path(dst)
    paths = _images(src)
    if dst.resolve().is_relative_to(src.resolve()):
        raise ProbeSetError(f"{dst} lies inside the source folder {src}: write the LR set elsewhere")
    tmp = _fresh_target(dst, overwrite)
    sizes = set()
    try:
        for path in tqdm(paths, desc="degrading", unit="img", disable=not progress):
            rel = path.relative_to(src)
            try:
                hr = to_tensor01(read_image(path))[None]
            except ValueError as err:
                raise ProbeSetError(str(err)) from None
            if scale is not None and (hr.shape[-2] % scale or hr.shape[-1] % scale):
                raise ProbeSetError(f"{path}: {hr.shape[-2]}x{hr.shape[-1]} px does not divide by scale {scale}; "
                                    "give --size HxW instead")
            seeds = [degradation_seed(seed, path)]
            lr = (apply_degradation(hr, scale, spec, seeds) if size is None
                  else apply_degradation(hr, None, spec, seeds, size=tuple(size)))
            sizes.add(tuple(lr.shape[-2:]))
            out = tmp / rel.with_suffix(".png")
            write_image(out, to_uint8(lr[0]))
        record = {"source": str(src.resolve()), "images": len(paths), "scale": scale,
                  "size": list(size) if size is not None else None, "degrade": spec, "seed": int(seed),
                  "seed_rule": "lrfr.data.degradations.image_seed(seed, 'parent/file') of each source image",
                  "lr_sizes": sorted(f"{h}x{w}" for h, w in sizes), "format": "png (lossless)",
                  "lrfr_version": lrfr.__version__}
        (tmp / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        _publish(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def make_watchlist(data, out, *, enrolled: int = 200, unknown: int = 200, probes_per_identity: int = 2,
                   unknown_per_identity: int = 1, exclude: "list[str] | None" = None, seed: int = 0,
                   overwrite: bool = False) -> dict:
    """Split an identity folder into ``OUT/enrol`` and ``OUT/probes-hr`` (module doc); returns the record.

    ``unknown_per_identity``: probes of each person not enrolled (their first images); ``exclude``: identity
    names never used (e.g. another watchlist's, so that a calibration and its check share nobody)."""
    from lrfr.data.folders import open_faces

    ds = open_faces(Path(data))
    excluded = set(exclude or ())
    by_id: dict[int, list[int]] = {}
    for i, lab in enumerate(ds.labels.tolist()):
        if ds.classes[lab] not in excluded:
            by_id.setdefault(lab, []).append(i)
    multi = sorted(c for c, rows in by_id.items() if len(rows) >= 2)
    if len(multi) < enrolled:
        raise ProbeSetError(f"{data}: {len(multi)} identities have two or more images; {enrolled} enrolled asked for")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(multi, size=enrolled, replace=False).tolist())
    others = sorted(set(by_id) - set(chosen))
    if len(others) < unknown:
        raise ProbeSetError(f"{data}: {len(others)} identities left for {unknown} unknown probes")
    strangers = sorted(rng.choice(others, size=unknown, replace=False).tolist()) if unknown else []
    out = Path(out)
    tmp = _fresh_target(out, overwrite)
    try:
        n_probes = 0
        for c in chosen:
            rows = sorted(by_id[c], key=lambda i: ds.names[i])
            _copy(ds.paths[rows[0]], tmp / "enrol" / ds.names[rows[0]])
            for i in rows[1:1 + probes_per_identity]:
                _copy(ds.paths[i], tmp / "probes-hr" / ds.names[i])
                n_probes += 1
        n_unknown = 0
        for c in strangers:
            for i in sorted(by_id[c], key=lambda i: ds.names[i])[:unknown_per_identity]:
                _copy(ds.paths[i], tmp / "probes-hr" / ds.names[i])
                n_unknown += 1
        record = {"source": str(Path(data).resolve()), "seed": seed, "enrolled": enrolled, "known_probes": n_probes,
                  "unknown_identities": unknown, "unknown_probes": n_unknown, "probes_per_identity": probes_per_identity,
                  "excluded_identities": len(excluded),
                  "rule": "enrolled: identities with >= 2 images, drawn with the seed; first image (sorted) enrolled, "
                          "the next ones probes; unknown: other identities, their first image"}
        (tmp / "watchlist.json").write_text(json.dumps(record, indent=2) + "\n")
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
