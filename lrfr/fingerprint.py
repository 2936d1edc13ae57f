"""Fingerprints that pin a result to the exact weights behind it.

``file_sha256`` hashes a weight file (memoized by path, size and modification time, so a table of
many rows hashes each file once). A model handed over as an ``nn.Module`` has no file: it is
pinned by ``module:`` + :func:`lrfr.features.module_digest`-style digest of its parameters instead.

A *recognizer fingerprint* is what must match for two sets of features to be comparable: the
recognizer's architecture, the sha256 of its weights and the flip fusion of its features. A
gallery records it at build time; a calibrated threshold records it too; search refuses a
mismatch (:func:`check_fingerprint`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from lrfr.errors import LrfrError

_SHA_CACHE: dict[tuple[str, int, int], str] = {}

#: the keys of a recognizer fingerprint, in the order messages show them
FINGERPRINT_KEYS = ("recognizer", "weights_sha256", "flip")


class FingerprintMismatchError(LrfrError, ValueError):
    """Features (a gallery, a calibrated threshold) made with another recognizer, weights or flip fusion."""


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def recognizer_fingerprint(recognizer: str | None, weights_sha256: str, flip: str | None) -> dict[str, str]:
    """``{"recognizer", "weights_sha256", "flip"}`` (flip ``None`` is written ``"none"``)."""
    return {"recognizer": str(recognizer or "unknown"), "weights_sha256": str(weights_sha256),
            "flip": "none" if flip in (None, "none") else str(flip)}


def describe(fp: dict) -> str:
    return ", ".join(f"{k}={fp.get(k, '(not recorded)')}" for k in FINGERPRINT_KEYS)


def check_fingerprint(recorded: dict | None, current: dict, what: str, hint: str = "") -> None:
    """Raise :class:`FingerprintMismatchError` naming both fingerprints when ``recorded`` (what
    ``what`` was made with) differs from ``current`` in any key. ``recorded=None`` (an older file
    without one) passes: there is nothing to compare."""
    if recorded is None:
        return
    diff = [k for k in FINGERPRINT_KEYS if str(recorded.get(k)) != str(current.get(k))]
    if diff:
        raise FingerprintMismatchError(
            f"{what} was made with another recognizer setup ({', '.join(diff)} differ): it holds "
            f"[{describe(recorded)}], but this run uses [{describe(current)}]" + (f"; {hint}" if hint else ""))
