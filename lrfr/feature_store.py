"""Extracted features on disk, under a key of everything that made them.

``lrfr.evaluate(feature_dir=DIR)`` (``lrfr evaluate --feature-dir DIR``) keeps each set of features
:func:`lrfr.features.extract_features` computes — one image list through one front-end and one
recognizer — as one ``.npz`` in ``DIR``. Evaluating the same front-end again (another protocol over
the same images, a table re-run next week, another process) then reads them instead of reading,
degrading, super-resolving, measuring and embedding every face again.

The key is a digest of: lrfr's version (a new lrfr embeds afresh: its code may have changed), the
image paths in order with each file's size and modification time, the scale, the degradation spec
and its seed, the flip fusion, the embedding precision, ``on_bad_image``, and the cache keys of the
front-end and the recognizer (:func:`lrfr.features.model_key`: a model file's path, size and
modification time; a module's digest of its class, attributes, parameters and buffers). A front-end
that cannot be keyed (a plain callable) is never stored. The file repeats the paths and the key's
text, and a file that does not match them, or cannot be read, is ignored (and rewritten), never used.

Files are written atomically; nothing is ever deleted here (the folder is the user's to clear).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

FORMAT = "lrfr-features-1"


def store_key(paths: list[str], key, **settings) -> str | None:
    """The key text of one extraction: its in-memory :class:`lrfr.features.FeatureKey` ``key``, the files,
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
    """The stored :class:`lrfr.features.Extracted` for ``key``, or ``None`` (not stored, or not this key's)."""
    from lrfr.features import STAGES, Extracted

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
