"""The training faces a recipe's ``[data]`` section names: SynthFaces or an identity-labelled folder, and the
``also`` sources joined to it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from lrfr.config import ConfigError
import torch

from lrfr.data.decoded import DecodedFaces, concat_faces, decoded
from lrfr.engine.sections import DataConfig

#: the ``[data] also`` entry that mixes SynthFaces into a folder's faces
SYNTH = "synth"
#: the prefix of an ``also`` entry (or ``root``) whose faces carry no identity labels: ``"unlabelled:PATH"``
UNLABELLED = "unlabelled:"


def build_training_set(d: DataConfig, size: tuple[int, int], progress: bool = True, *, needs_labels: bool = True):
    """The dataset, images at ``size`` (H, W): decoded once to uint8 when ``d.in_memory`` — into RAM, or
    into a memory-mapped file under ``d.cache_dir`` that later runs reuse (:mod:`lrfr.data.decoded`).

    With ``d.also``, each further source is decoded the same way and the sets are joined in RAM, in order,
    with their identities kept apart (:func:`lrfr.data.decoded.concat_faces`): the share of each source in an
    epoch is its share of the faces. A source written ``"unlabelled:PATH"`` is a folder of faces without
    identities (:class:`lrfr.data.folders.UnlabelledFaces`): its faces get label −1, which only a recipe that
    says so (``needs_labels=False``: distillation, whose margin term skips them) accepts."""
    entries = [d.root if d.source == "folder" else SYNTH] + list(d.also)
    unlabelled = [e for e in entries if e.startswith(UNLABELLED)]
    if unlabelled and needs_labels:
        raise ConfigError(f"[data] {unlabelled[0]!r} has no identity labels, and this recipe trains on identities "
                          "(only kind = 'distill' takes unlabelled faces)")
    if not d.also:
        return _one_source(d, size, progress)
    if not d.in_memory:
        raise ConfigError("[data] also joins decoded faces: it needs in_memory = true")
    if d.source == SYNTH and SYNTH in d.also:
        raise ConfigError("[data] also = ['synth'] mixes SynthFaces into a folder; the source is SynthFaces already")
    if len(set(d.also)) != len(d.also):
        raise ConfigError(f"[data] also names a source twice: {list(d.also)}")
    sources = [d] + [dataclasses.replace(d, source=SYNTH, also=[]) if entry == SYNTH
                     else dataclasses.replace(d, source="folder", root=entry, also=[]) for entry in d.also]
    return concat_faces([_one_source(c, size, progress) for c in sources], names=[_source_name(c) for c in sources])


def _source_name(d: DataConfig) -> str:
    """How a joined source prefixes its identities' names: ``synth``, or the folder's name."""
    return SYNTH if d.source == SYNTH else Path(d.root.removeprefix(UNLABELLED)).name


def _one_source(d: DataConfig, size: tuple[int, int], progress: bool):
    labelled = True
    if d.source == SYNTH:
        from lrfr.data.synth import SynthFaces

        ds = SynthFaces(n_identities=d.n_identities, images_per_identity=d.images_per_identity,
                        size=tuple(size), seed=d.seed, identity_offset=d.identity_offset)
    elif d.source == "folder":
        from lrfr.data.folders import UnlabelledFaces, open_faces

        if not d.root or d.root == UNLABELLED:
            raise ValueError("[data] source = 'folder' needs root = 'path/to/identity/folders'")
        labelled = not d.root.startswith(UNLABELLED)
        ds = open_faces(d.root, size=tuple(size)) if labelled else UnlabelledFaces(d.root[len(UNLABELLED):], size=tuple(size))
    else:
        raise ValueError(f"[data] source must be 'synth' or 'folder'; got {d.source!r}")
    if not d.in_memory:
        if not labelled:
            raise ConfigError(f"[data] {d.root!r}: unlabelled faces are joined decoded: set in_memory = true")
        return ds
    faces = decoded(ds, tuple(size), d.cache_dir or None, name=f"{d.source}-{len(ds)}", progress=progress)
    if not labelled:  # no identity: label -1, no classes (concat_faces keeps -1 as it is)
        faces = DecodedFaces(faces.images, torch.full((len(faces),), -1, dtype=torch.long), [], faces.path)
    return faces
