"""A seeded split of an identity-per-folder face set into training and held-out identities.

Real-data recipes (``pipelines/*_celeba.toml``) train on part of ``celeba-train-112x96`` and hold
the other identities out for the CelebA verification protocol, so no face is both trained on and
scored. The split is a pure function of ``(identity names, n_heldout, seed)``; it is written to a
small text file (``train``/``heldout`` and the identity, one per line) that is committed beside the
results, and :func:`materialize` lays the two halves out as folders of symbolic links to the
identity folders (the source stays read-only), which every loader and protocol opens as it is.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lrfr.data.folders import scan_identity_folders

SPLIT_HEADER = "# lrfr identity split: <train|heldout> <identity folder>"


@dataclass(frozen=True)
class IdentitySplit:
    train: tuple[str, ...]
    heldout: tuple[str, ...]

    def write(self, path: str | Path) -> Path:
        from lrfr.io import atomic_write_text

        lines = [SPLIT_HEADER] + [f"train {i}" for i in self.train] + [f"heldout {i}" for i in self.heldout]
        return atomic_write_text(path, "\n".join(lines) + "\n")


def split_identities(identities, n_heldout: int, seed: int = 0) -> IdentitySplit:
    """Hold out ``n_heldout`` identities drawn uniformly (numpy ``default_rng(seed)``) from the sorted
    names; both halves are returned sorted."""
    names = sorted(set(identities))
    if not 0 < n_heldout < len(names):
        raise ValueError(f"n_heldout must be between 1 and {len(names) - 1} for {len(names)} identities; got {n_heldout}")
    picked = set(np.random.default_rng(seed).choice(len(names), size=n_heldout, replace=False).tolist())
    heldout = tuple(n for k, n in enumerate(names) if k in picked)
    train = tuple(n for k, n in enumerate(names) if k not in picked)
    return IdentitySplit(train=train, heldout=heldout)


def read_split(path: str | Path) -> IdentitySplit:
    """Read a file written by :meth:`IdentitySplit.write`; a malformed line is an error naming it."""
    path = Path(path)
    halves: dict[str, list[str]] = {"train": [], "heldout": []}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in halves:
            raise ValueError(f"{path}:{number}: expected 'train IDENTITY' or 'heldout IDENTITY'; got {line!r}")
        halves[parts[0]].append(parts[1])
    overlap = set(halves["train"]) & set(halves["heldout"])
    if overlap:
        raise ValueError(f"{path}: identities both trained on and held out: {', '.join(sorted(overlap)[:5])}")
    return IdentitySplit(train=tuple(halves["train"]), heldout=tuple(halves["heldout"]))


def materialize(root: str | Path, split: IdentitySplit, out: str | Path) -> dict[str, Path]:
    """Lay out ``out/train`` and ``out/heldout`` as folders of links to ``root``'s identity folders.

    An existing layout is checked and rebuilt where it differs (a stale link is replaced). Returns
    ``{"train": path, "heldout": path}``.
    """
    root = Path(root).resolve()
    _, _, present = scan_identity_folders(root)
    missing = sorted(set(split.train + split.heldout) - set(present))
    if missing:
        raise ValueError(f"{root}: the split names identity folders that are not there: {', '.join(missing[:5])}")
    folders = {}
    for half, identities in (("train", split.train), ("heldout", split.heldout)):
        folder = Path(out) / half
        folder.mkdir(parents=True, exist_ok=True)
        wanted = set(identities)
        entries = list(os.scandir(folder))
        for entry in entries:  # checked before anything is removed: never delete what this function did not make
            if not entry.is_symlink():
                raise ValueError(f"{entry.path}: not a link made by materialize; move it out of {folder}")
        for entry in entries:
            if entry.name not in wanted:  # a link of a previous, different split
                os.unlink(entry.path)
        for ident in identities:
            link = folder / ident
            target = root / ident
            if link.is_symlink() and Path(os.readlink(link)) == target:
                continue
            if link.is_symlink():
                link.unlink()
            link.symlink_to(target, target_is_directory=True)
        folders[half] = folder
    return folders
