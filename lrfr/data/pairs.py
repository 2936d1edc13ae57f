"""LFW's ``pairs.txt`` format (View 2), read and written.

Format (Huang et al. 2007): a header line ``n_folds n_per_fold`` (``10 300`` for LFW), then for
each fold ``n_per_fold`` *same* lines ``name n1 n2`` followed by ``n_per_fold`` *different*
lines ``name1 n1 name2 n2``. Fields are separated by tabs or spaces; numbers are 1-based.

How an ``(identity, number)`` token becomes a file (:func:`pair_image_name`): LFW's own name
``identity/identity_%04d.jpg`` when that file exists, else the ``number``-th file (1-based) of
the identity's folder in sorted order. For LFW both rules agree (its numbering is contiguous);
the second one lets any identity-per-folder data set (CelebA, SynthFaces) use the same format.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class Pair:
    """One comparison: ``(id_a, num_a)`` vs ``(id_b, num_b)``; ``fold`` is 0-based."""

    id_a: str
    num_a: int
    id_b: str
    num_b: int
    same: bool
    fold: int


@dataclass
class PairsFile:
    pairs: list[Pair]
    n_folds: int
    n_per_fold: int

    @property
    def folds(self) -> list[int]:
        return [p.fold for p in self.pairs]


class PairsFormatError(ValueError):
    """``pairs.txt`` does not follow LFW's format."""


def read_pairs(path: str | Path) -> PairsFile:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs file not found: {path}")
    lines = [ln.split() for ln in path.read_text().splitlines()]
    lines = [(i + 1, toks) for i, toks in enumerate(lines) if toks]
    if not lines:
        raise PairsFormatError(f"{path}: empty; expected a header 'n_folds n_per_fold' (e.g. '10 300')")
    lineno, header = lines[0]
    if len(header) != 2 or not all(t.isdigit() for t in header):
        raise PairsFormatError(f"{path}:{lineno}: header must be 'n_folds n_per_fold' (e.g. '10 300'); got {' '.join(header)!r}")
    n_folds, n_per_fold = int(header[0]), int(header[1])
    body = lines[1:]
    expected = 2 * n_folds * n_per_fold
    if len(body) != expected:
        raise PairsFormatError(
            f"{path}: header says {n_folds} folds × ({n_per_fold} same + {n_per_fold} different) = "
            f"{expected} pair lines; found {len(body)}"
        )
    pairs = []
    for k, (lineno, toks) in enumerate(body):
        fold, within = divmod(k, 2 * n_per_fold)
        same = within < n_per_fold
        try:
            if same:
                if len(toks) != 3:
                    raise ValueError("a same-identity line is 'name n1 n2'")
                pairs.append(Pair(toks[0], int(toks[1]), toks[0], int(toks[2]), True, fold))
            else:
                if len(toks) != 4:
                    raise ValueError("a different-identity line is 'name1 n1 name2 n2'")
                pairs.append(Pair(toks[0], int(toks[1]), toks[2], int(toks[3]), False, fold))
        except ValueError as err:
            kind = "same" if same else "different"
            raise PairsFormatError(
                f"{path}:{lineno}: fold {fold + 1}, expected a {kind} line: {err}; got {' '.join(toks)!r}"
            ) from None
    return PairsFile(pairs, n_folds, n_per_fold)


def write_pairs(path: str | Path, pairs: list[Pair], n_folds: int, n_per_fold: int) -> Path:
    """Write ``pairs`` in LFW's format; they must come fold by fold, same lines before different."""
    from lrfr.io import atomic_write_text

    if len(pairs) != 2 * n_folds * n_per_fold:
        raise ValueError(f"write_pairs: need {2 * n_folds * n_per_fold} pairs for {n_folds}×(2×{n_per_fold}); got {len(pairs)}")
    out = [f"{n_folds}\t{n_per_fold}"]
    for k, p in enumerate(pairs):
        fold, within = divmod(k, 2 * n_per_fold)
        if p.fold != fold or p.same != (within < n_per_fold):
            raise ValueError(f"write_pairs: pair {k} is out of LFW order (fold {p.fold}, same={p.same})")
        if p.same:
            if p.id_a != p.id_b:
                raise ValueError(f"write_pairs: same pair {k} has two identities {p.id_a!r}, {p.id_b!r}")
            out.append(f"{p.id_a}\t{p.num_a}\t{p.num_b}")
        else:
            out.append(f"{p.id_a}\t{p.num_a}\t{p.id_b}\t{p.num_b}")
    return atomic_write_text(path, "\n".join(out) + "\n")


def lfw_file_name(identity: str, number: int, suffix: str = ".jpg") -> str:
    """LFW's naming: ``Abel_Pacheco/Abel_Pacheco_0001.jpg``."""
    return f"{identity}/{identity}_{number:04d}{suffix}"


class PairImageResolver:
    """Maps ``(identity, number)`` tokens to relative image names under ``root`` (rule in the module doc)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.root}")
        self._listing: dict[str, list[str]] = {}

    def _files(self, identity: str) -> list[str]:
        if identity not in self._listing:
            folder = self.root / identity
            if not folder.is_dir():
                raise FileNotFoundError(f"identity folder not found: {folder}")
            self._listing[identity] = sorted(
                f.name for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES
            )
        return self._listing[identity]

    def __call__(self, identity: str, number: int) -> str:
        for suffix in (".jpg", ".png"):
            name = lfw_file_name(identity, number, suffix)
            if (self.root / name).is_file():
                return name
        files = self._files(identity)
        if not 1 <= number <= len(files):
            raise FileNotFoundError(
                f"pairs file names image {number} of {identity!r}, but {self.root / identity} has {len(files)} images"
            )
        return f"{identity}/{files[number - 1]}"
