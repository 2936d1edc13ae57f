"""A face data set decoded once into a uint8 file that every later run memory-maps.

Decoding JPEGs costs more CPU than a small training step; a recipe reading the same 5,000 or 500,000
faces every epoch should pay for it once. :func:`decoded` writes ``(N, 3, H, W)`` uint8 pixels to
``<cache_dir>/<name>-<fingerprint>.u8`` (+ a JSON sidecar with labels and classes) and maps it; the
operating system's page cache then shares it between epochs, runs and torchrun's processes.

The fingerprint covers what the pixels depend on — the loader, the image size, every file's relative
path, size and modification time (or SynthFaces' parameters) and lrfr's version — so an edited,
added or removed image, or another size, decodes anew instead of training on stale pixels.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from lrfr.errors import LrfrError

FORMAT = "lrfr-decoded/1"


class DecodedCacheError(LrfrError, ValueError):
    """A decoded-cache file that does not match its sidecar (truncated, or written by something else)."""


def source_fingerprint(dataset, size: tuple[int, int]) -> str:
    """A sha256 over what the decoded pixels of ``dataset`` at ``size`` (H, W) depend on."""
    import lrfr

    h = hashlib.sha256()
    h.update(f"{FORMAT}|{lrfr.__version__}|{type(dataset).__module__}.{type(dataset).__qualname__}|{tuple(size)}".encode())
    paths = getattr(dataset, "paths", None)
    if paths is not None:  # a face folder: every file's name, size and modification time
        for path, label in zip(paths, dataset.labels):
            st = os.stat(path)
            h.update(f"\n{Path(path).resolve()}|{int(label)}|{st.st_size}|{st.st_mtime_ns}".encode())
    elif hasattr(dataset, "identity_offset"):  # SynthFaces: the pixels are a function of its parameters
        h.update(f"synth|{dataset.n_identities}|{dataset.images_per_identity}|{dataset.seed}|"
                 f"{dataset.identity_offset}".encode())
    else:
        raise DecodedCacheError(f"cannot fingerprint a {type(dataset).__name__} (neither a face folder nor "
                                "SynthFaces): decode it in RAM instead ([data] cache_dir = \"\")")
    return h.hexdigest()


class DecodedFaces(torch.utils.data.Dataset):
    """Faces as one uint8 tensor ``(N, 3, H, W)`` (in RAM or memory-mapped) with integer labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes=None, path: Path | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != len(labels):
            raise ValueError("DecodedFaces needs uint8 images (N, 3, H, W) and one label per image")
        self.images, self.labels, self.classes, self.path = images, labels, classes, path

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i].float().div_(255), int(self.labels[i])

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float [0, 1] images and labels of ``indices`` (one gather, no per-image Python)."""
        return self.images[indices].float().div_(255), self.labels[indices]


def decode_all(dataset, progress: bool = True, desc: str = "decoding", out: torch.Tensor | None = None) -> tuple:
    """Every image of ``dataset`` as uint8 ``(N, 3, H, W)`` (into ``out`` when given) and its labels."""
    from tqdm.auto import tqdm

    n = len(dataset)
    first = dataset[0][0]
    images = out if out is not None else torch.empty((n, *first.shape), dtype=torch.uint8)
    labels = torch.empty(n, dtype=torch.long)
    for i in tqdm(range(n), desc=desc, disable=not progress, leave=False):
        img, label = dataset[i][:2]
        images[i] = img.mul(255).round_().to(torch.uint8)
        labels[i] = int(label)
    return images, labels


def decoded(dataset, size: tuple[int, int], cache_dir: str | Path | None = None, name: str = "faces",
            progress: bool = True) -> DecodedFaces:
    """``dataset`` decoded to uint8: in RAM (``cache_dir`` None/""), or in a memory-mapped file reused while
    its fingerprint matches. The file is written under a temporary name and renamed, so a killed decode
    never leaves a half file that a later run would trust."""
    classes = getattr(dataset, "classes", None)
    if not cache_dir:
        images, labels = decode_all(dataset, progress, "loading training set")
        return DecodedFaces(images, labels, classes)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fp = source_fingerprint(dataset, size)
    data_path = cache_dir / f"{name}-{fp[:16]}.u8"
    meta_path = data_path.with_suffix(".json")
    if not (data_path.exists() and meta_path.exists()):
        _write(dataset, data_path, meta_path, fp, classes, progress)
    return _open(data_path, meta_path, fp)


def _write(dataset, data_path: Path, meta_path: Path, fp: str, classes, progress: bool) -> None:
    n = len(dataset)
    shape = (n, *dataset[0][0].shape)
    tmp = data_path.with_name(f".{data_path.name}.{os.getpid()}.tmp")
    raw = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=shape)
    _, labels = decode_all(dataset, progress, f"decoding to {data_path.name}", out=torch.from_numpy(raw))
    raw.flush()
    del raw
    meta = {"format": FORMAT, "fingerprint": fp, "shape": list(shape), "labels": labels.tolist(),
            "classes": list(classes) if classes is not None else None}
    meta_tmp = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
    meta_tmp.write_text(json.dumps(meta))
    os.replace(tmp, data_path)
    os.replace(meta_tmp, meta_path)


def _open(data_path: Path, meta_path: Path, fp: str) -> DecodedFaces:
    try:
        meta = json.loads(meta_path.read_text())
        shape = tuple(int(s) for s in meta["shape"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DecodedCacheError(f"{meta_path} is not a readable lrfr decoded-cache sidecar ({err}); delete it "
                                f"and {data_path.name} to decode again") from err
    if meta.get("format") != FORMAT or meta.get("fingerprint") != fp:
        raise DecodedCacheError(f"{meta_path} does not describe this data set (format/fingerprint differ); delete it")
    expected = int(np.prod(shape))
    if data_path.stat().st_size != expected:
        raise DecodedCacheError(f"{data_path} holds {data_path.stat().st_size} bytes, not the {expected} of "
                                f"{shape}: it is truncated; delete it and its .json to decode again")
    # copy-on-write mapping: pages are shared read-only until something writes (nothing does)
    raw = np.memmap(data_path, dtype=np.uint8, mode="c", shape=shape)
    labels = torch.as_tensor(meta["labels"], dtype=torch.long)
    return DecodedFaces(torch.from_numpy(raw), labels, meta.get("classes"), path=data_path)


__all__ = ["DecodedFaces", "DecodedCacheError", "decoded", "decode_all", "source_fingerprint"]


def concat_faces(sets: list[DecodedFaces], names: list[str] | None = None) -> DecodedFaces:
    """Several decoded face sets as one (in RAM): images stacked in order, labels offset so that the
    identities of one set never merge with another's, classes kept (prefixed ``NAME/`` when ``names`` are given);
    label −1 (a face without identity) stays −1."""
    if len(sets) == 1:
        return sets[0]
    sizes = {tuple(s.images.shape[1:]) for s in sets}
    if len(sizes) != 1:
        raise ValueError(f"concat_faces: the sets hold faces of different sizes {sorted(sizes)}")
    offsets, labels, classes = 0, [], []
    for k, s in enumerate(sets):
        own_labels = torch.as_tensor(s.labels, dtype=torch.long)
        n_classes = len(s.classes) if s.classes is not None else int(own_labels.max()) + 1
        labels.append(torch.where(own_labels >= 0, own_labels + offsets, own_labels))  # -1: unlabelled, kept
        own = list(s.classes) if s.classes is not None else [str(i) for i in range(n_classes)]
        classes += [f"{names[k]}/{c}" for c in own] if names else own
        offsets += n_classes
    return DecodedFaces(torch.cat([s.images for s in sets]), torch.cat(labels), classes)
