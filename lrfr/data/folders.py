"""Face image folders as datasets, and a fast bulk loader.

Every dataset here is a :class:`torch.utils.data.Dataset` whose item is
``(image, label, name)`` (docs/architecture.md): ``image`` a float32 RGB tensor ``(3, H, W)``
in ``[0, 1]``, ``label`` an ``int`` identity index, ``name`` the image's path relative to
``.root`` with ``/``. Attributes: ``.root`` (the image folder, resolved), ``.paths`` (absolute
``Path``s), ``.names``, ``.labels`` (``np.int64``), ``.classes`` (``classes[label]`` is the
identity's name).

Layouts understood
------------------
* :class:`LFWFolder` — LFW's ``Name/Name_0001.jpg`` (any crop size). ``root`` may be the image
  folder itself, or an exported data set folder holding it as ``lfw-112x96/`` (the shared copy)
  or ``images/`` (SynthFaces' export), next to ``pairs.txt`` and the BLUFR ``.mat``. The
  resolved image folder is ``.root``; what was passed is ``.given_root``.
* :class:`CelebAFolder` — CelebA's official layout (a flat image folder, ``identity_CelebA.txt``
  with lines ``000001.jpg 2880`` and ``list_eval_partition.txt`` with lines ``000001.jpg 0``,
  0 = train, 1 = val, 2 = test) restricted to one partition, or a folder per identity (the shared
  copy's layout, ``7201/001085.jpg``; its ``index.txt`` is not needed).
* :class:`ImageFolderFaces` — CASIA-WebFace's layout: one folder per identity, any file names.

Identity-folder layouts take every sub-folder of the root (hidden ones, starting with ``.``,
excepted) as one identity, and every image file directly inside it (suffixes
``.jpg .jpeg .png .bmp``, any case) as one face. Classes are the folder names in sorted order,
images sorted by name within a class, so labels are reproducible across machines.

Nothing is resized silently: with ``size=(H, W)`` an image of any other size is a
:class:`~lrfr.errors.BadImageError` (a ``ValueError``) naming the file and both sizes (faces
preprocessed differently from training are the most common cause of poor accuracy; resize or
re-align them explicitly instead). Pass the recognizer's ``input_size`` as ``size`` wherever the
images go to a recognizer, so the odd file is the one named.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from lrfr.errors import BadImageError
from lrfr.io import read_image, to_tensor01

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

#: Sub-folder names that hold the images of an exported LFW-like data set (docs/architecture.md).
LFW_IMAGE_DIRS = ("lfw-112x96", "images")

CELEBA_IDENTITY_FILE = "identity_CelebA.txt"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
CELEBA_PARTITIONS = {"train": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def _check_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    if len(size) != 2 or not all(int(s) == s and s > 0 for s in size):
        raise ValueError(f"size must be (H, W) with positive integers; got {size!r}")
    return int(size[0]), int(size[1])


class FaceFolder(Dataset):
    """Base class: a list of image files under ``root`` with identity labels.

    Args:
        root: the folder the ``names`` are relative to.
        names: relative posix paths of the images.
        labels: identity index of each image (``classes[label]`` is its name).
        classes: identity names.
        transform: optional callable applied to the image tensor ``(3, H, W)`` in ``[0, 1]``.
        size: optional ``(H, W)`` every image must have (checked when an image is loaded).

    ``size_source`` (attribute, default None) says where ``size`` comes from in the error
    message, e.g. ``"the recognizer's input size"``.
    """

    size_source: str | None = None

    def __init__(
        self,
        root: str | Path,
        names: Sequence[str],
        labels: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        transform: Callable | None = None,
        size: tuple[int, int] | None = None,
    ):
        self.root = Path(root).resolve()
        self.names = list(names)
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.classes = list(classes)
        if len(self.names) != len(self.labels):
            raise ValueError(f"{len(self.names)} names but {len(self.labels)} labels")
        if not self.names:
            raise ValueError(f"no images found under {self.root}")
        if self.labels.min() < 0 or self.labels.max() >= len(self.classes):
            raise ValueError(f"labels must lie in [0, {len(self.classes)}); got [{self.labels.min()}, {self.labels.max()}]")
        self.paths = [self.root / n for n in self.names]
        self.transform = transform
        self.size = _check_size(size)

    def __len__(self) -> int:
        return len(self.names)

    def read(self, index: int) -> np.ndarray:
        """The image as RGB uint8 ``(H, W, 3)``, size-checked when ``size`` was given."""
        path = self.paths[index]
        rgb = read_image(path)
        if self.size is not None and rgb.shape[:2] != self.size:
            raise _size_error(path, rgb.shape[:2], self.size, self.size_source)
        return rgb

    def __getitem__(self, index: int):
        img = to_tensor01(self.read(index))
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[index]), self.names[index]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, images={len(self)}, identities={len(self.classes)})"


SIZE_HINT = "lrfr does not resize silently - align/resize these faces the same way as the training faces"


def _size_reason(got, expected, source: str | None = None) -> str:
    src = f" ({source})" if source else ""
    return f"image is {got[0]}x{got[1]} (HxW) but {expected[0]}x{expected[1]}{src} was expected"


def _size_error(path, got, expected, source: str | None = None) -> BadImageError:
    return BadImageError(path, _size_reason(got, expected, source), SIZE_HINT)


def _read_reason(path: Path, err: Exception) -> str:
    """Why an image could not be read, without its path (read_image's messages start with it)."""
    if isinstance(err, FileNotFoundError):
        return "image not found"
    cause = err.__cause__
    return f"cannot read image ({cause})" if cause is not None else str(err).replace(str(path), "").strip(": ")


def _require_dir(root: str | Path, what: str = "image folder") -> Path:
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{what} not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"{what} is not a folder: {root}")
    return root


def scan_identity_folders(root: str | Path) -> tuple[list[str], list[int], list[str]]:
    """List ``root/<identity>/<image>``: returns ``(names, labels, classes)``.

    An identity folder without images is a ``ValueError`` naming it (an empty folder usually
    means a failed copy or alignment, which would otherwise shift every later label).
    """
    root = _require_dir(root)
    with os.scandir(root) as it:
        identities = sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
    if not identities:
        raise ValueError(f"no identity folders (one folder per identity holding its images) found in {root}")
    names: list[str] = []
    labels: list[int] = []
    for label, ident in enumerate(identities):
        with os.scandir(root / ident) as it:
            files = sorted(e.name for e in it if _is_image(e.name) and e.is_file())
        if not files:
            raise ValueError(f"identity folder without images: {root / ident} (suffixes {', '.join(IMAGE_SUFFIXES)})")
        names.extend(f"{ident}/{f}" for f in files)
        labels.extend([label] * len(files))
    return names, labels, identities


def resolve_lfw_images(root: str | Path) -> Path:
    """The image folder of an LFW-like data set: ``root/lfw-112x96``, ``root/images`` or ``root``."""
    root = _require_dir(root, "LFW folder")
    for sub in LFW_IMAGE_DIRS:
        if (root / sub).is_dir():
            return root / sub
    return root


class ImageFolderFaces(FaceFolder):
    """One folder per identity, any image names (CASIA-WebFace: ``0000045/001.jpg``)."""

    def __init__(self, root: str | Path, transform: Callable | None = None, size: tuple[int, int] | None = None):
        names, labels, classes = scan_identity_folders(root)
        super().__init__(root, names, labels, classes, transform=transform, size=size)


class UnlabelledFaces(FaceFolder):
    """Faces without identity labels (UTKFace, a folder of camera crops): every image file under ``root``,
    at any depth (hidden folders excepted), sorted by path. ``labelled`` is False; ``labels`` are all 0 and
    ``classes`` is ``["(unlabelled)"]``, so the face-folder contract holds, but no identity may be read from
    them: training uses such faces for embedding terms only (:mod:`lrfr.engine.training_set`)."""

    labelled = False

    def __init__(self, root: str | Path, transform: Callable | None = None, size: tuple[int, int] | None = None):
        root = _require_dir(root, "unlabelled face folder")
        names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.is_file() and _is_image(p.name)
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        if not names:
            raise ValueError(f"{root}: no image files ({' '.join(IMAGE_SUFFIXES)}) found in this unlabelled face folder")
        super().__init__(root, names, np.zeros(len(names), np.int64), ["(unlabelled)"], transform=transform, size=size)


class LFWFolder(FaceFolder):
    """LFW: ``Name/Name_0001.jpg`` under ``root``, ``root/lfw-112x96`` or ``root/images``.

    ``.root`` is the resolved image folder (what ``names`` are relative to, and what
    :class:`lrfr.data.pairs.PairImageResolver` expects); ``.given_root`` what was passed.
    """

    def __init__(self, root: str | Path, transform: Callable | None = None, size: tuple[int, int] | None = None):
        self.given_root = Path(root)
        images = resolve_lfw_images(root)
        names, labels, classes = scan_identity_folders(images)
        super().__init__(images, names, labels, classes, transform=transform, size=size)


def _find_file(explicit, candidates: Iterable[Path], what: str) -> Path | None:
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise FileNotFoundError(f"{what} not found: {p}")
        return p
    for c in candidates:
        if c.is_file():
            return c
    return None


def _read_two_columns(path: Path) -> dict[str, str]:
    out = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        toks = line.split()
        if not toks:
            continue
        if len(toks) != 2:
            raise ValueError(f"{path}:{lineno}: expected 'image_name value'; got {line!r}")
        out[toks[0]] = toks[1]
    return out


def _celeba_image_dir(root: Path) -> Path:
    """Official CelebA: images in ``root``, ``root/img_align_celeba`` or ``root/Img/img_align_celeba``."""
    for cand in (root / "img_align_celeba", root / "Img" / "img_align_celeba"):
        if cand.is_dir():
            return cand
    return root


def _celeba_candidates(root: Path, images: Path, filename: str, sub: str) -> list[Path]:
    return [root / filename, root / sub / filename, images / filename, images.parent / filename, images.parent / sub / filename]


def find_celeba_identity_file(root: str | Path) -> Path | None:
    root = Path(root)
    return _find_file(None, _celeba_candidates(root, _celeba_image_dir(root), CELEBA_IDENTITY_FILE, "Anno"), "")


class CelebAFolder(FaceFolder):
    """CelebA, official layout (one partition) or one folder per identity.

    Official layout: ``root`` is the flat image folder (or a folder holding ``img_align_celeba/``
    or ``Img/img_align_celeba/``); ``identity_file`` defaults to ``identity_CelebA.txt`` found in
    ``root``, ``root/Anno``, or beside the image folder; ``partition_file`` likewise
    (``list_eval_partition.txt``, ``root/Eval``). ``partition`` is ``"train"`` (0), ``"val"`` (1),
    ``"test"`` (2) or ``None`` for every listed image. Identity numbers become ``classes`` (sorted
    numerically); names are the file names. Images listed but absent on disk are an error naming
    a few of them, unless ``missing="skip"`` (e.g. a folder from ``lrfr align`` whose report lists
    the faces that were not found).

    Identity-folder layout (the shared ``celeba-train-112x96``): used when no identity file is
    found and ``root`` has sub-folders; ``partition`` does not apply (the folder is whatever
    partition it was built from) and ``index.txt`` is ignored.
    """

    def __init__(
        self,
        root: str | Path,
        identity_file: str | Path | None = None,
        partition_file: str | Path | None = None,
        partition: str | int | None = "train",
        transform: Callable | None = None,
        size: tuple[int, int] | None = None,
        missing: str = "error",
    ):
        root = _require_dir(root, "CelebA folder")
        if missing not in ("error", "skip"):
            raise ValueError(f"missing must be 'error' or 'skip'; got {missing!r}")
        images = _celeba_image_dir(root)
        ident_path = _find_file(identity_file, _celeba_candidates(root, images, CELEBA_IDENTITY_FILE, "Anno"), "CelebA identity file")
        if ident_path is None:
            self.layout = "folders"
            self.partition = None
            names, labels, classes = scan_identity_folders(root)
            super().__init__(root, names, labels, classes, transform=transform, size=size)
            return

        self.layout = "official"
        identities = _read_two_columns(ident_path)
        selected = sorted(identities)
        if partition is not None:
            if isinstance(partition, str):
                if partition.lower() not in CELEBA_PARTITIONS:
                    raise ValueError(f"unknown CelebA partition {partition!r}; use train, val, test or None")
                part_id = CELEBA_PARTITIONS[partition.lower()]
            else:
                part_id = int(partition)
                if part_id not in (0, 1, 2):
                    raise ValueError(f"CelebA partition must be 0, 1 or 2; got {partition!r}")
            part_path = _find_file(
                partition_file, _celeba_candidates(root, images, CELEBA_PARTITION_FILE, "Eval"), "CelebA partition file"
            )
            if part_path is None:
                raise FileNotFoundError(
                    f"{CELEBA_PARTITION_FILE} not found near {root}; pass partition_file=..., or partition=None for all images"
                )
            parts = _read_two_columns(part_path)
            selected = [n for n in selected if parts.get(n) == str(part_id)]
        self.partition = partition
        with os.scandir(images) as it:
            on_disk = {e.name for e in it if _is_image(e.name)}
        absent = [n for n in selected if n not in on_disk]
        if absent and missing == "error":
            raise FileNotFoundError(
                f"{len(absent)} of {len(selected)} images listed in {ident_path} are not in {images} "
                f"(e.g. {', '.join(absent[:3])}); pass missing='skip' to use the ones present"
            )
        selected = [n for n in selected if n in on_disk]
        if not selected:
            raise ValueError(f"no CelebA images of partition {partition!r} found in {images}")

        def key(ident: str):
            return (0, int(ident), "") if ident.isdigit() else (1, 0, ident)

        classes = sorted({identities[n] for n in selected}, key=key)
        index = {c: i for i, c in enumerate(classes)}
        labels = [index[identities[n]] for n in selected]
        self.identity_file = ident_path
        super().__init__(images, selected, labels, classes, transform=transform, size=size)


def open_faces(path: str | Path, **kwargs) -> FaceFolder:
    """Open a face folder with the loader its layout calls for (used by the CLI).

    * an official CelebA layout (``identity_CelebA.txt`` found) → :class:`CelebAFolder`
      (``partition`` etc. may be passed as keyword arguments);
    * a folder holding ``lfw-112x96/`` or ``images/`` (an exported LFW-like data set) →
      :class:`LFWFolder`;
    * identity folders with an ``index.txt`` (the shared CelebA copy) → :class:`CelebAFolder`;
    * a folder of identity folders → :class:`LFWFolder` when the files follow LFW's
      ``Name/Name_0001.jpg`` naming, else :class:`ImageFolderFaces`.

    Keyword arguments (``transform``, ``size``, …) go to the loader.
    """
    path = _require_dir(path, "face folder")
    if find_celeba_identity_file(path) is not None:
        return CelebAFolder(path, **kwargs)
    if any((path / sub).is_dir() for sub in LFW_IMAGE_DIRS):
        return LFWFolder(path, **kwargs)
    if (path / "index.txt").is_file():  # the shared CelebA copy's layout (folders + index.txt)
        return CelebAFolder(path, **kwargs)
    with os.scandir(path) as it:
        subdirs = sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
    if not subdirs:
        flat = any(_is_image(p.name) for p in path.iterdir())
        raise ValueError(
            f"{path}: not a face data set: expected identity folders (Name/Name_0001.jpg, id/*.jpg), "
            f"an LFW export ({' or '.join(LFW_IMAGE_DIRS)}/ inside), or CelebA's {CELEBA_IDENTITY_FILE}"
            + ("; it holds images without identity folders: for faces without identity labels, name it "
               f"'unlabelled:{path}' in a training [data] also list" if flat else "")
        )
    first = subdirs[0]
    with os.scandir(path / first) as it:
        files = [e.name for e in it if _is_image(e.name)]
    if files and all(f.startswith(first + "_") for f in files):
        return LFWFolder(path, **kwargs)
    return ImageFolderFaces(path, **kwargs)


def _stack_dataset(dataset: Dataset, size, progress: bool, desc: str) -> torch.Tensor:
    from tqdm.auto import tqdm

    n = len(dataset)
    first = dataset[0][0]
    out = torch.empty((n, *first.shape), dtype=torch.float32)
    for i in tqdm(range(n), desc=desc, unit="img", disable=not progress):
        out[i] = dataset[i][0]
    if size is not None and tuple(out.shape[-2:]) != tuple(size):
        raise ValueError(f"{type(dataset).__name__} yields {tuple(out.shape[-2:])} images; expected {tuple(size)}")
    return out


def read_images(
    paths: Sequence[str | Path],
    size: tuple[int, int] | None = None,
    *,
    size_source: str | None = None,
    on_error: str = "error",
    num_workers: int = 2,
) -> tuple[torch.Tensor, list[int], dict[int, str]]:
    """Decode a batch of images, telling usable from unusable ones.

    Returns ``(images, ok, bad)``: ``images`` float32 ``(len(ok), 3, H, W)`` in ``[0, 1]`` for
    the indices ``ok`` (in order), ``bad`` ``{index: reason}`` for the images that cannot be read
    or do not have ``size`` (``None``: the size of the first readable image). With
    ``on_error="error"`` the first unusable image (in order) raises
    :class:`~lrfr.errors.BadImageError` naming it; with ``"skip"`` it is only reported in ``bad``.
    """
    if on_error not in ("error", "skip"):
        raise ValueError(f"on_error must be 'error' or 'skip'; got {on_error!r}")
    size = _check_size(size)
    paths = [Path(p) for p in paths]

    def work(i: int):
        try:
            return read_image(paths[i])
        except (ValueError, OSError) as err:
            return _read_reason(paths[i], err)

    if num_workers > 1 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=num_workers) as pool:
            decoded = list(pool.map(work, range(len(paths))))
    else:
        decoded = [work(i) for i in range(len(paths))]
    ok: list[int] = []
    bad: dict[int, str] = {}
    arrays = []
    for i, rgb in enumerate(decoded):
        if isinstance(rgb, str):
            bad[i] = rgb
        elif size is not None and rgb.shape[:2] != size:
            bad[i] = _size_reason(rgb.shape[:2], size, size_source)
        else:
            if size is None:
                size = rgb.shape[:2]
                size_source = size_source or f"the size of the first image, {paths[i].name}"
            ok.append(i)
            arrays.append(rgb)
        if on_error == "error" and i in bad:
            raise BadImageError(paths[i], bad[i], SIZE_HINT if isinstance(rgb, np.ndarray) else "")
    if not arrays:
        h, w = size if size is not None else (0, 0)
        return torch.empty(0, 3, h, w), ok, bad
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous().float().div_(255.0)
    return images, ok, bad


def load_images(
    paths_or_dataset,
    size: tuple[int, int] | None = None,
    num_workers: int = 2,
    progress: bool = True,
    desc: str = "loading images",
    size_source: str | None = None,
) -> torch.Tensor:
    """Decode many images into one float32 tensor ``(N, 3, H, W)`` in ``[0, 1]``.

    ``paths_or_dataset``: a list of paths or a :class:`FaceFolder` (its ``paths``, and its
    ``size`` when ``size`` is not given; its ``transform`` is *not* applied), or any other
    face Dataset (such as SynthFaces), whose items' images are stacked. Every image must
    have the same size (``size`` when given, else the first image's); a different one is a
    :class:`~lrfr.errors.BadImageError` (``ValueError``) naming the file and both sizes
    (``size_source`` says where ``size`` came from, e.g. ``"the recognizer's input size"``). Decoding runs on ``num_workers`` threads (PIL releases the
    GIL while decoding JPEG), writing straight into the preallocated result.
    """
    from tqdm.auto import tqdm

    if isinstance(paths_or_dataset, FaceFolder):
        paths = list(paths_or_dataset.paths)
        if size is None:
            size = paths_or_dataset.size
    elif isinstance(paths_or_dataset, Dataset):  # e.g. SynthFaces: items are (image, label, name)
        return _stack_dataset(paths_or_dataset, size, progress, desc)
    else:
        paths = [Path(p) for p in paths_or_dataset]
    size = _check_size(size)
    n = len(paths)
    if n == 0:
        h, w = size if size is not None else (0, 0)
        return torch.empty(0, 3, h, w)
    first = read_image(paths[0])
    if size is None:
        size = first.shape[:2]
    if first.shape[:2] != tuple(size):
        raise _size_error(paths[0], first.shape[:2], size, size_source)
    out = torch.empty(n, 3, size[0], size[1], dtype=torch.float32)
    out[0] = to_tensor01(first)

    def work(i: int) -> None:
        rgb = read_image(paths[i])
        if rgb.shape[:2] != tuple(size):
            raise _size_error(paths[i], rgb.shape[:2], size, size_source)
        out[i] = torch.from_numpy(rgb).permute(2, 0, 1)
        out[i].div_(255.0)

    bar = tqdm(total=n, desc=desc, unit="img", disable=not progress)
    bar.update(1)
    try:
        if num_workers <= 1:
            for i in range(1, n):
                work(i)
                bar.update(1)
        else:
            with ThreadPoolExecutor(max_workers=num_workers) as pool:
                # Chunks keep the number of pending futures small and the bar moving.
                chunk = 256
                for start in range(1, n, chunk):
                    for _ in pool.map(work, range(start, min(start + chunk, n))):
                        bar.update(1)
    finally:
        bar.close()
    return out
