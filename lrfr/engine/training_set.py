"""The training faces a recipe's ``[data]`` section names: SynthFaces or an identity-labelled folder."""
from __future__ import annotations

from lrfr.data.decoded import decoded
from lrfr.engine.sections import DataConfig


def build_training_set(d: DataConfig, size: tuple[int, int], progress: bool = True):
    """The dataset, images at ``size`` (H, W): decoded once to uint8 when ``d.in_memory`` — into RAM, or
    into a memory-mapped file under ``d.cache_dir`` that later runs reuse (:mod:`lrfr.data.decoded`)."""
    if d.source == "synth":
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
