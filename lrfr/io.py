"""Small file helpers shared by every layer: atomic writes and image reading with clear errors."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lrfr.errors import LrfrError


class FileWriteError(LrfrError, OSError):
    """A file could not be written (a full disk, a read-only folder, a file-size limit); any earlier file at
    that path is intact and nothing half-written is left under its name."""


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename.

    A crash mid-write leaves any earlier file at ``path`` intact (nothing already written is lost). A write
    that fails with an ``OSError`` (a full disk, a read-only folder) raises :class:`FileWriteError` naming
    ``path`` — not the temporary file — and removes the temporary file.
    """
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp_path, path)
    except OSError as err:
        raise FileWriteError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    import torch

    def save(p: Path) -> None:
        try:
            torch.save(obj, p)
        except RuntimeError as err:  # torch's zip writer reports a failed write (a full disk) as a RuntimeError
            if not any(s in str(err) for s in ("inline_container", "PytorchStreamWriter")):
                raise
            raise OSError(errno.EIO, f"the write failed, a full disk or a file-size limit? ({str(err).splitlines()[0]})") from err

    return atomic_write(path, save)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def replace_between(path: str | Path, begin: str, end: str, inner: str, what: str = "") -> bool:
    """Rewrite what lies between the marker lines ``begin`` and ``end`` of the text file ``path`` (a page's
    generated block) with ``inner``, atomically; True if the file changed. A file without both markers raises
    ``ValueError`` naming it and them (``what``: words added to that message)."""
    path = Path(path)
    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{path} lacks the markers {begin!r} … {end!r}{what}")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    new = f"{head}{begin}{inner}{end}{tail}"
    if new != text:
        atomic_write_text(path, new)
    return new != text


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); the error names the file and the reason."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err


def write_image(path: str | Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB uint8 (H, W, 3) array (JPEG or PNG by suffix)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, quality=quality, subsampling=0)
    else:
        img.save(path)


def to_tensor01(rgb: np.ndarray):
    """RGB uint8 (H, W, 3) → float32 tensor (3, H, W) in [0, 1]: lrfr's one image convention."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)


def to_uint8(img) -> np.ndarray:
    """float tensor (3, H, W) or (N, 3, H, W) in [0, 1] → uint8 (H, W, 3) / (N, H, W, 3)."""
    arr = img.detach().cpu().clamp(0, 1).mul(255).round().byte()
    return arr.movedim(-3, -1).numpy()
