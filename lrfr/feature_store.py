"""Extracted features on disk, under a key of everything that made them.

``lrfr.evaluate(feature_dir=DIR)`` (``lrfr evaluate --feature-dir DIR``) keeps each set of features
:func:`lrfr.embedding.extract_features` computes — one image list through one front-end and one
recognizer — as one ``.npz`` in ``DIR``. Evaluating the same front-end again (another protocol over
the same images, a table re-run next week, another process) then reads them instead of reading,
degrading, super-resolving, measuring and embedding every face again.

The key is a digest of: lrfr's version (a new lrfr embeds afresh: its code may have changed), the
image paths in order with each file's size and modification time, the scale, the degradation spec
and its seed, the flip fusion, the embedding precision, ``on_bad_image``, and the cache keys of the
front-end and the recognizer (:func:`lrfr.embedding.model_key`: a model file's path, size and
modification time; a module's digest of its class, attributes, parameters and buffers). A front-end
that cannot be keyed (a plain callable) is never stored. The file repeats the paths and the key's
text, and a file that does not match them, or cannot be read, is ignored (and rewritten), never used.

Files are written atomically; nothing is ever deleted here (the folder is the user's to clear).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "lrfr-features-1"


@dataclass(frozen=True)
class FeatureKey:
    scale: int
    degrade: str  # canonical degradation spec and its base seed
    sr: str
    recognizer: str
    flip: str | None
    precision: str = "fp32"
    backend: str = "torch"


@dataclass
class Extracted:
    """What :func:`extract_features` returns: ``features`` ``(N, D)`` float32, ``psnr``/``ssim``
    ``(N,)`` (NaN for ``"hr"``), row ``i`` for ``paths[i]``; rows of ``skipped`` images are NaN.
    ``skipped``: path → reason, in the order of ``paths``. ``seconds``: wall time of each stage of
    this call (``read``, ``degrade``, ``sr``, ``quality``, ``embed``); images found in the feature
    cache cost nothing, so a fully cached call reports zeros. ``check``: for a ``"bf16"`` call, the
    cosine between the bf16 and the fp32 features of the first :data:`FAST_CHECK_FACES` faces
    embedded under its cache key (empty for fp32)."""

    features: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    check: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


#: the stages :attr:`Extracted.seconds` times
STAGES = ("read", "degrade", "sr", "quality", "embed")


def store_key(paths: list[str], key, **settings) -> str | None:
    """The key text of one extraction: its in-memory :class:`FeatureKey` ``key``, the files,
    lrfr's version and ``settings`` (``on_bad_image``); ``None`` when the front-end or recognizer has no key."""
    import dataclasses

    import lrfr

    if not key.sr or not key.recognizer:
        return None
    files = []
    for p in paths:
        try:
            st = os.stat(p)
            files.append([p, st.st_size, st.st_mtime_ns])
        except OSError:
            files.append([p, None, None])  # a missing file is part of the key (on_bad_image="skip" lists it)
    return json.dumps({"format": FORMAT, "lrfr": lrfr.__version__, **dataclasses.asdict(key), **settings,
                       "files": files}, sort_keys=True)


def _file(folder: Path, key: str) -> Path:
    return Path(folder) / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.npz"


def load(folder: str | Path, key: str | None):
    """The stored :class:`Extracted` for ``key``, or ``None`` (not stored, or not this key's)."""
    if key is None:
        return None
    path = _file(Path(folder), key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            skipped = json.loads(str(z["skipped"]))
            return Extracted(z["features"], z["psnr"], z["ssim"], skipped, dict.fromkeys(STAGES, 0.0), z["check"])
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None  # unreadable or from another format: computed again and rewritten


def save(folder: str | Path, key: str | None, extracted) -> Path | None:
    """Store ``extracted`` under ``key`` (atomically); ``None`` when the key is ``None``."""
    from lrfr.io import atomic_write

    if key is None:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"key": np.array(key), "features": extracted.features, "psnr": extracted.psnr, "ssim": extracted.ssim,
              "check": extracted.check, "skipped": np.array(json.dumps(extracted.skipped))}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return atomic_write(_file(folder, key), write)
