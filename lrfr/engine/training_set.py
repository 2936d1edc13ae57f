"""The training faces a recipe's ``[data]`` section names: SynthFaces or an identity-labelled folder, and the
``also`` sources joined to it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from lrfr.config import ConfigError
from lrfr.data.decoded import concat_faces, decoded
from lrfr.engine.sections import DataConfig

#: the ``[data] also`` entry that mixes SynthFaces into a folder's faces
SYNTH = "synth"


def build_training_set(d: DataConfig, size: tuple[int, int], progress: bool = True):
    """The dataset, images at ``size`` (H, W): decoded once to uint8 when ``d.in_memory`` — into RAM, or
    into a memory-mapped file under ``d.cache_dir`` that later runs reuse (:mod:`lrfr.data.decoded`).

    With ``d.also``, each further source is decoded the same way and the sets are joined in RAM, in order,
    with their identities kept apart (:func:`lrfr.data.decoded.concat_faces`): the share of each source in an
    epoch is its share of the faces."""
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
    return SYNTH if d.source == SYNTH else Path(d.root).name


def _one_source(d: DataConfig, size: tuple[int, int], progress: bool):
    if d.source == SYNTH:
        from lrfr.data.synth import SynthFaces

        ds = SynthFaces(n_identities=d.n_identities, images_per_identity=d.images_per_identity,
                        size=tuple(size), seed=d.seed, identity_offset=d.identity_offset)
    elif d.source == "folder":
        from lrfr.data.folders import open_faces

        if not d.root:
            raise ValueError("[data] source = 'folder' needs root = 'path/to/identity/folders'")
        ds = open_faces(d.root, size=tuple(size))
    else:
        raise ValueError(f"[data] source must be 'synth' or 'folder'; got {d.source!r}")
    if not d.in_memory:
        return ds
    return decoded(ds, tuple(size), d.cache_dir or None, name=f"{d.source}-{len(ds)}", progress=progress)
