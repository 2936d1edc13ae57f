"""Fingerprints that pin a result to the exact weights behind it.

``file_sha256`` hashes a weight file (memoized by path, size and modification time, so a table of
many rows hashes each file once). A model handed over as an ``nn.Module`` has no file: it is
pinned by ``module:`` + :func:`module_digest` of its parameters instead.

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
FINGERPRINT_KEYS = ("recognizer", "weights_sha256", "flip", "probe_recognizer", "probe_weights_sha256")


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


def recognizer_fingerprint(recognizer: str | None, weights_sha256: str, flip: str | None,
                           probe_recognizer: str | None = None, probe_weights_sha256: str | None = None) -> dict[str, str]:
    """``{"recognizer", "weights_sha256", "flip", "probe_recognizer", "probe_weights_sha256"}`` (flip
    ``None`` is written ``"none"``; the probe side — the LR faces' recognizer — is the reference's unless given)."""
    return {"recognizer": str(recognizer or "unknown"), "weights_sha256": str(weights_sha256),
            "flip": "none" if flip in (None, "none") else str(flip),
            "probe_recognizer": str(probe_recognizer or recognizer or "unknown"),
            "probe_weights_sha256": str(probe_weights_sha256 or weights_sha256)}


def _with_probe(fp: dict) -> dict:
    """A fingerprint written before probe recognizers (lrfr 0.1) had its probes embedded by its recognizer."""
    return {**fp, "probe_recognizer": fp.get("probe_recognizer", fp.get("recognizer")),
            "probe_weights_sha256": fp.get("probe_weights_sha256", fp.get("weights_sha256"))}


def describe(fp: dict) -> str:
    """The fingerprint as ``key=value, ...``; the probe side only where it is not the reference's."""
    fp = _with_probe(fp)
    same = (fp["probe_recognizer"], fp["probe_weights_sha256"]) == (fp.get("recognizer"), fp.get("weights_sha256"))
    keys = FINGERPRINT_KEYS[:3] if same else FINGERPRINT_KEYS
    return ", ".join(f"{k}={fp.get(k, '(not recorded)')}" for k in keys)


def check_fingerprint(recorded: dict | None, current: dict, what: str, hint: str = "") -> None:
    """Raise :class:`FingerprintMismatchError` naming both fingerprints when ``recorded`` (what
    ``what`` was made with) differs from ``current`` in any key. ``recorded=None`` (an older file
    without one) passes: there is nothing to compare."""
    if recorded is None:
        return
    recorded, current = _with_probe(recorded), _with_probe(current)
    diff = [k for k in FINGERPRINT_KEYS if str(recorded.get(k)) != str(current.get(k))]
    if diff:
        raise FingerprintMismatchError(
            f"{what} was made with another recognizer setup ({', '.join(diff)} differ): it holds "
            f"[{describe(recorded)}], but this run uses [{describe(current)}]" + (f"; {hint}" if hint else ""))


_PLAIN = (bool, int, float, str, tuple, type(None))


def module_digest(model) -> str:
    """A digest of everything that determines a module's output: class, ``repr``, plain public
    attributes of every submodule (``training`` excepted) and the bytes, dtype, shape and name of
    every parameter and buffer."""
    import torch

    h = hashlib.blake2b(digest_size=16)
    h.update(f"{type(model).__module__}.{type(model).__qualname__}\n{model!r}\n".encode())
    for name, sub in model.named_modules():
        attrs = sorted((k, repr(v)) for k, v in vars(sub).items()
                       if not k.startswith("_") and k != "training" and isinstance(v, _PLAIN))
        h.update(f"{name}:{type(sub).__qualname__}:{attrs}\n".encode())
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=False).items():
            if not torch.is_tensor(t):
                h.update(f"{name}={t!r}\n".encode())
                continue
            t = t.detach().cpu().contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
