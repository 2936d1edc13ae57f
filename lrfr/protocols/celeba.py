"""CelebA verification (C-Face §4.4): LFW's procedure on 3000 genuine + 3000 impostor pairs drawn
from an identity-labelled face folder, in 10 disjoint folds of 300 + 300.

The paper gives only the counts and the 10 disjoint folds; how the pairs are drawn is
reconstructed here (configured by ``protocols/celeba.toml``), by :func:`draw_pairs`, a pure,
seeded function of ``(names, labels, seed)``:

1. With ``disjoint_identities = true`` (default) identities are split into the folds first, so
   **no identity (hence no image) appears in two folds**, as in LFW's View 2: identities are
   shuffled, then dealt greedily (largest number of possible genuine pairs first) to the fold
   with the fewest possible genuine pairs so far; single-image identities are dealt round-robin.
   If some fold cannot hold ``n_per_fold`` genuine and impostor pairs, a ``ValueError`` says so
   (set ``disjoint_identities = false`` or lower ``n_per_fold``).
2. Genuine pairs of a fold: the fold's identities in random order, each with its own shuffled
   list of image pairs, taken round-robin (one pair per identity per round) — spreads the pairs
   over identities instead of favouring those with many images.
3. Impostor pairs of a fold: two distinct identities of the fold uniformly, then one image of
   each uniformly; a pair already drawn is drawn again.
4. **No pair is repeated** (unordered, over the whole file). With ``disjoint_identities = false``
   all identities form one pool, pairs are drawn as above over it and dealt to folds in order:
   pairs stay unique, identities may span folds.

The pairs are written in LFW's ``pairs.txt`` format (:func:`lrfr.data.pairs.write_pairs`) into
``workdir`` (default: ``$LRFR_CACHE`` or ``~/.cache/lrfr``, ``protocols/<name>-<hash of root>/``;
the data folder is treated as read-only), with ``(identity, number)`` tokens where ``number`` is
the 1-based position of the image in its identity's sorted file listing — what
:class:`lrfr.data.pairs.PairImageResolver` resolves — and read back through it, so the file
alone reproduces the evaluation. Then :func:`lrfr.protocols.lfw.evaluate_pairs` runs exactly
as for LFW. The folder is opened with :func:`lrfr.data.open_faces` (the shared
``celeba-train-112x96`` copy: 241 identities, 5,034 images).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lrfr.data.pairs import Pair
from lrfr.protocols.lfw import LFWProtocol, PairsData, evaluate_pairs, pairs_data


@dataclass
class CelebAConfig:
    kind: str
    name: str
    description: str = ""
    seed: int = 0
    n_folds: int = 10
    n_per_fold: int = 300
    disjoint_identities: bool = True
    pairs_file: str = "{name}_pairs_seed{seed}.txt"
    convention: str = "sphereface"
    threshold_step: float = 0.0
    std_ddof: int = 0
    fars: list[float] = field(default_factory=lambda: [0.001, 0.01])
    flip: str = "auto"


def _identity_tokens(names, labels, identities=None) -> list[str]:
    if identities is not None:
        return [str(i) for i in identities]
    return [n.split("/", 1)[0] if "/" in n else str(lab) for n, lab in zip(names, labels)]


def identity_listing(names, labels, identities=None) -> dict[str, list[int]]:
    """Identity token → indices of its images in sorted-name order: position k (1-based) is the
    ``number`` of that image in a pairs file written by :func:`draw_pairs`."""
    tokens = _identity_tokens(names, labels, identities)
    listing: dict[str, list[int]] = {}
    for i in sorted(range(len(names)), key=lambda i: names[i]):
        listing.setdefault(tokens[i], []).append(i)
    return listing


def draw_pairs(names, labels, seed: int = 0, n_folds: int = 10, n_per_fold: int = 300,
               disjoint_identities: bool = True, identities=None) -> list[Pair]:
    """Draw ``n_folds × (n_per_fold same + n_per_fold different)`` pairs (rules in the module doc).

    ``names``: relative image names (``identity/file.jpg``); ``labels``: identity per image;
    ``identities``: the identity token per image for the pairs file (default: the folder part of
    the name, else the label). Returns :class:`~lrfr.data.pairs.Pair` s in LFW's order (fold by
    fold, same before different), ``num`` = 1-based position in the identity's sorted names.
    """
    names = [str(n) for n in names]
    labels = np.asarray(labels)
    if len(names) != len(labels):
        raise ValueError(f"draw_pairs: {len(names)} names but {len(labels)} labels")
    tokens = _identity_tokens(names, labels, identities)
    rng = np.random.default_rng(seed)
    # images per identity, sorted by name; number = 1-based position
    by_id: dict = {}
    for i in sorted(range(len(names)), key=lambda i: names[i]):
        by_id.setdefault(labels[i].item(), []).append(i)
    number = {i: k + 1 for imgs in by_id.values() for k, i in enumerate(imgs)}
    ids = sorted(by_id)
    cap = {l: len(by_id[l]) * (len(by_id[l]) - 1) // 2 for l in ids}

    def pair(i, j, same, fold):
        if (names[i], number[i]) > (names[j], number[j]):
            i, j = j, i
        return Pair(tokens[i], number[i], tokens[j], number[j], same, fold)

    if disjoint_identities:
        order = [ids[k] for k in rng.permutation(len(ids))]
        multi = sorted([l for l in order if cap[l] > 0], key=lambda l: -cap[l])  # stable: shuffled among equals
        single = [l for l in order if cap[l] == 0]
        groups: list[list] = [[] for _ in range(n_folds)]
        load = [0] * n_folds
        for l in multi:
            f = min(range(n_folds), key=lambda f: (load[f], len(groups[f]), f))
            groups[f].append(l)
            load[f] += cap[l]
        for k, l in enumerate(single):
            groups[k % n_folds].append(l)
        for f, g in enumerate(groups):
            n_img = sum(len(by_id[l]) for l in g)
            n_imp = (n_img * n_img - sum(len(by_id[l]) ** 2 for l in g)) // 2
            if load[f] < n_per_fold or n_imp < n_per_fold:
                raise ValueError(
                    f"draw_pairs: with identities disjoint across {n_folds} folds, fold {f + 1} has {len(g)} identities "
                    f"allowing {load[f]} genuine and {n_imp} impostor pairs, fewer than n_per_fold={n_per_fold} "
                    f"({len(ids)} identities, {len(names)} images in all); set disjoint_identities = false or lower n_per_fold"
                )
        pools = [[l for l in g] for g in groups]
    else:
        total_gen = sum(cap.values())
        n_img = len(names)
        n_imp = (n_img * n_img - sum(len(v) ** 2 for v in by_id.values())) // 2
        need = n_folds * n_per_fold
        if total_gen < need or n_imp < need:
            raise ValueError(
                f"draw_pairs: {len(ids)} identities / {n_img} images allow {total_gen} genuine and {n_imp} impostor pairs; "
                f"{need} of each are needed (lower n_per_fold or n_folds)"
            )
        pools = [list(ids)]

    def genuine(pool, count):
        order = [pool[k] for k in rng.permutation(len(pool)) if cap[pool[k]] > 0]
        lists = {}
        for l in order:
            imgs = by_id[l]
            combos = [(imgs[a], imgs[b]) for a in range(len(imgs)) for b in range(a + 1, len(imgs))]
            lists[l] = [combos[k] for k in rng.permutation(len(combos))]
        out = []
        while len(out) < count:
            for l in order:
                if lists[l] and len(out) < count:
                    out.append(lists[l].pop())
        return out

    def impostor(pool, count, used):
        out = []
        pool = [l for l in pool]
        attempts = 0
        while len(out) < count:
            attempts += 1
            if attempts > 1000 * count + 10000:
                raise ValueError("draw_pairs: could not draw enough distinct impostor pairs")
            a, b = rng.choice(len(pool), size=2, replace=False)
            ia, ib = by_id[pool[a]], by_id[pool[b]]
            i, j = ia[rng.integers(len(ia))], ib[rng.integers(len(ib))]
            key = (min(i, j), max(i, j))
            if key not in used:
                used.add(key)
                out.append((i, j))
        return out

    result: list[Pair] = []
    used: set = set()
    if disjoint_identities:
        for f, pool in enumerate(pools):
            result += [pair(i, j, True, f) for i, j in genuine(pool, n_per_fold)]
            result += [pair(i, j, False, f) for i, j in impostor(pool, n_per_fold, used)]
    else:
        gen = genuine(pools[0], n_folds * n_per_fold)
        imp = impostor(pools[0], n_folds * n_per_fold, used)
        gen = [gen[k] for k in rng.permutation(len(gen))]
        for f in range(n_folds):
            s = slice(f * n_per_fold, (f + 1) * n_per_fold)
            result += [pair(i, j, True, f) for i, j in gen[s]]
            result += [pair(i, j, False, f) for i, j in imp[s]]
    return result


def default_workdir(root: Path, name: str) -> Path:
    base = Path(os.environ.get("LRFR_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lrfr"))
    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]
    return base / "protocols" / f"{name}-{digest}"


class CelebAProtocol(LFWProtocol):
    kind = "celeba"
    config_class = CelebAConfig

    @property
    def conventions(self) -> dict:
        out = super().conventions
        c = self.config
        out.update(
            pairs=f"{c.n_folds} folds x ({c.n_per_fold} genuine + {c.n_per_fold} impostor), drawn with seed {c.seed}; "
            + ("identities disjoint across folds" if c.disjoint_identities else "pairs unique, identities may span folds"),
        )
        return out

    def prepare(self, root, workdir=None) -> PairsData:
        from lrfr.data import open_faces
        from lrfr.data.pairs import PairImageResolver, write_pairs

        c = self.config
        root = Path(root)
        ds = open_faces(root)
        names, labels = list(ds.names), np.asarray(ds.labels)
        image_dir = Path(ds.root).resolve()
        folders = all("/" in n for n in names)
        identities = None if folders else [ds.classes[l] for l in labels]
        try:
            pairs = draw_pairs(names, labels, c.seed, c.n_folds, c.n_per_fold, c.disjoint_identities, identities)
        except ValueError as err:  # too few identities/images: say which folder and which protocol file
            raise ValueError(f"{self.name} protocol ({self.source}) on {root}: {err}") from None
        out_dir = Path(workdir) if workdir is not None else default_workdir(root, self.name)
        pairs_path = out_dir / c.pairs_file.format(name=self.name, seed=c.seed)
        write_pairs(pairs_path, pairs, c.n_folds, c.n_per_fold)
        # (identity, number) → image name, as draw_pairs numbered them
        listing = {t: [names[i] for i in idx] for t, idx in identity_listing(names, labels, identities).items()}
        if folders:  # numbered by position by draw_pairs itself: no need to announce it
            resolver = PairImageResolver(image_dir, positional="allow")
        else:  # a flat folder (CelebA's official layout): the same numbering, from the listing

            def resolver(ident, num):
                return listing[ident][num - 1]
        data = pairs_data(self.name, root, pairs_path, image_dir, resolver)
        # the file alone must reproduce the intended pairs: check the round trip
        got = [str(p.relative_to(image_dir)).replace(os.sep, "/") for p in data.image_paths]
        for k, (p, (ia, ib)) in enumerate(zip(pairs, data.pair_index)):
            want = (listing[p.id_a][p.num_a - 1], listing[p.id_b][p.num_b - 1])
            if (got[ia], got[ib]) != want:
                raise ValueError(
                    f"{pairs_path}: pair {k + 1} resolves to {got[ia]}, {got[ib]} but was drawn as {want[0]}, {want[1]}: "
                    f"the folder's listing differs from the data set's (non-image files? filtered images?)"
                )
        data.conventions = self.conventions
        return data

    def run(self, data: PairsData, features):
        return evaluate_pairs(self, data, features)

