"""LFW's ``pairs.txt`` format (View 2), read and written.

Format (Huang et al. 2007): a header line ``n_folds n_per_fold`` (``10 300`` for LFW), then for
each fold ``n_per_fold`` *same* lines ``name n1 n2`` followed by ``n_per_fold`` *different*
lines ``name1 n1 name2 n2``. Fields are separated by tabs or spaces; numbers are 1-based.

How an ``(identity, number)`` token becomes a file (:class:`PairImageResolver`): LFW's own name
``identity/identity_%04d.jpg`` (or ``.png``, ``.jpeg``, ``.bmp``). If that file does not exist:

* in a folder that follows LFW's naming (it holds ``identity_NNNN.*`` files) the image is
  missing, and that is an error naming the image (and, through :func:`resolve_pairs`, the pairs
  file and line) — never another image in its place;
* in a folder that does not (CelebA's ``7201/001085.jpg``, CASIA's ``0000045/001.jpg``) the
  token means the ``number``-th image (1-based) of the folder in sorted order. This positional
  rule is announced with an :class:`~lrfr.errors.LrfrWarning` (``positional="warn"``, the
  default) unless the caller wrote the pairs with that numbering itself (``"allow"``, as the
  CelebA protocol does), or refused (``"error"``).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from lrfr.errors import LrfrError, LrfrWarning

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
POSITIONAL = ("warn", "allow", "error")


@dataclass(frozen=True)
class Pair:
    """One comparison: ``(id_a, num_a)`` vs ``(id_b, num_b)``; ``fold`` is 0-based.

    ``line``: the 1-based line of the pairs file it was read from (0 when not read from a file;
    not part of equality).
    """

    id_a: str
    num_a: int
    id_b: str
    num_b: int
    same: bool
    fold: int
    line: int = field(default=0, compare=False)


@dataclass
class PairsFile:
    pairs: list[Pair]
    n_folds: int
    n_per_fold: int

    @property
    def folds(self) -> list[int]:
        return [p.fold for p in self.pairs]


class PairsFormatError(LrfrError, ValueError):
    """``pairs.txt`` does not follow LFW's format."""


class PairImageError(LrfrError, FileNotFoundError):
    """A pairs file names an image that is not there."""


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
                pairs.append(Pair(toks[0], int(toks[1]), toks[0], int(toks[2]), True, fold, lineno))
            else:
                if len(toks) != 4:
                    raise ValueError("a different-identity line is 'name1 n1 name2 n2'")
                pairs.append(Pair(toks[0], int(toks[1]), toks[2], int(toks[3]), False, fold, lineno))
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
    """Maps ``(identity, number)`` tokens to relative image names under ``root`` (rules in the module doc).

    ``positional``: what to do for a folder that does not follow LFW's naming — ``"warn"``
    (resolve by position and say so once, with an :class:`~lrfr.errors.LrfrWarning`),
    ``"allow"`` (resolve by position silently: the caller numbered the pairs that way) or
    ``"error"``. ``positional_identities`` lists the identities resolved by position so far.
    """

    def __init__(self, root: str | Path, positional: str = "warn"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.root}")
        if positional not in POSITIONAL:
            raise ValueError(f"positional must be one of {', '.join(POSITIONAL)}; got {positional!r}")
        self.positional = positional
        self.positional_identities: set[str] = set()
        self._listing: dict[str, list[str]] = {}
        self._lfw_named: dict[str, bool] = {}
        self._warned = False

    def _files(self, identity: str) -> list[str]:
        if identity not in self._listing:
            folder = self.root / identity
            if not folder.is_dir():
                raise PairImageError(f"identity folder not found: {folder}")
            files = sorted(
                f.name for f in folder.iterdir()
                if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
            )
            self._listing[identity] = files
            pattern = re.compile(re.escape(identity) + r"_\d{4}$")
            self._lfw_named[identity] = any(pattern.match(Path(f).stem) for f in files)
        return self._listing[identity]

    def __call__(self, identity: str, number: int) -> str:
        for suffix in IMAGE_SUFFIXES:
            name = lfw_file_name(identity, number, suffix)
            if (self.root / name).is_file():
                return name
        files = self._files(identity)
        folder = self.root / identity
        if self._lfw_named[identity]:
            raise PairImageError(
                f"image {lfw_file_name(identity, number)} not found: {folder} names its images like LFW "
                f"({identity}_NNNN.jpg) but has no {identity}_{number:04d}.* ({len(files)} images there)"
            )
        if self.positional == "error":
            raise PairImageError(
                f"image {lfw_file_name(identity, number)} not found, and {folder} does not follow LFW's "
                f"naming (positional resolution is off)"
            )
        if not 1 <= number <= len(files):
            raise PairImageError(
                f"pairs file names image {number} of {identity!r}, but {folder} has {len(files)} images "
                "(its files are not named like LFW's, so numbers count images in sorted order)"
            )
        if identity not in self.positional_identities:
            self.positional_identities.add(identity)
            if self.positional == "warn" and not self._warned:
                self._warned = True
                warnings.warn(
                    f"{self.root}: identity folders whose images are not named like LFW's (Name/Name_0001.jpg), "
                    f"e.g. {identity!r}, are resolved by position: number k is the k-th image in sorted order "
                    f"({identity} {number} -> {identity}/{files[number - 1]})",
                    LrfrWarning, stacklevel=2,
                )
        return f"{identity}/{files[number - 1]}"


def resolve_pairs(pairs_file: str | Path, pairs: list[Pair], resolve) -> list[tuple[str, str]]:
    """Relative image names ``(a, b)`` of each pair, by ``resolve(identity, number)``; an error names
    the pairs file, the line and the token that could not be resolved."""
    out = []
    for p in pairs:
        where = f"{pairs_file}:{p.line}" if p.line else f"{pairs_file}"
        names = []
        for ident, num in ((p.id_a, p.num_a), (p.id_b, p.num_b)):
            try:
                names.append(resolve(ident, num))
            except (FileNotFoundError, KeyError, IndexError) as err:
                msg = err.args[0] if err.args else str(err)
                raise PairImageError(f"{where}: {ident} {num}: {msg}") from None
        out.append((names[0], names[1]))
    return out
