"""Datasets and what is done to pixels: loaders, SynthFaces, degradation, alignment, file formats.

Names resolve lazily so that ``import lrfr.data`` does not import facenet-pytorch (alignment)
until it is used.
"""
import importlib

_EXPORTS = {
    "LFWFolder": "folders",
    "CelebAFolder": "folders",
    "ImageFolderFaces": "folders",
    "FaceFolder": "folders",
    "open_faces": "folders",
    "load_images": "folders",
    "SynthFaces": "synth",
    "downsample": "resample",
    "upsample": "resample",
    "degrade": "resample",
    "FaceAligner": "align",
    "align_folder": "align",
    "read_pairs": "pairs",
    "write_pairs": "pairs",
    "Pair": "pairs",
    "PairsFile": "pairs",
    "PairImageResolver": "pairs",
    "read_blufr_config": "blufr",
    "write_blufr_config": "blufr",
    "BlufrConfig": "blufr",
}


# Submodules reachable as attributes (none is named like a function exported above: a package
# attribute named like a submodule is replaced by the submodule as soon as it is imported).
_SUBMODULES = {"align", "blufr", "degradations", "folders", "pairs", "resample", "synth"}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"lrfr.data.{name}")
    if name in _EXPORTS:
        module = importlib.import_module(f"lrfr.data.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'lrfr.data' has no attribute {name!r}")


__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)
