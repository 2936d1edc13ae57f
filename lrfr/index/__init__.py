"""Search over face features with FAISS.

* :class:`GalleryIndex` — a gallery of features with identity labels and names: exact cosine search
  by default (``IndexFlatIP``), optional IVF-Flat / HNSW for large galleries, open-set
  ``identify``, ``save``/``load`` to one checksummed ``.npz``; GPU when FAISS has one.
* :class:`CompareFaceMiner` — C-Face's compare-face table (papers/004 §3.3): the k nearest
  same-identity images of every training image, drawn uniformly at training time.

Names resolve lazily so ``import lrfr.index`` does not import FAISS until it is used.
"""
import importlib

_EXPORTS = {
    "GalleryIndex": "gallery",
    "SearchResult": "gallery",
    "Identification": "gallery",
    "CompareFaceMiner": "miner",
}


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"lrfr.index.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'lrfr.index' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
