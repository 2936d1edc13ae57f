"""The BLUFR protocol's config file (Liao et al. 2014, ``blufr_lfw_config.mat``), read and written.

Fields, as in the official file: ``imageList`` (N×1 cell of file names such as
``Aaron_Eckhart_0001.jpg``), ``labels`` (N×1), and for each of the 10 trials (10×1 cells)
``trainIndex``, ``testIndex``, ``galIndex``, ``probIndex``; plus ``devTrainIndex`` and
``devTestIndex``. All indices in the file are **1-based** into ``imageList``; this module turns
them into 0-based ``int64`` arrays on reading and back to 1-based on writing. A trial's gallery
and probe sets partition its test set; :func:`read_blufr_config` checks that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lrfr.errors import LrfrError

TRIAL_FIELDS = ("trainIndex", "testIndex", "galIndex", "probIndex")
REQUIRED_FIELDS = ("imageList", "labels") + TRIAL_FIELDS


class BlufrFormatError(LrfrError, ValueError):
    """A BLUFR config file is missing a field or holds inconsistent indices."""


@dataclass
class BlufrConfig:
    image_list: list[str]
    labels: np.ndarray
    train_index: list[np.ndarray]
    test_index: list[np.ndarray]
    gal_index: list[np.ndarray]
    prob_index: list[np.ndarray]
    dev_train_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dev_test_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_trials(self) -> int:
        return len(self.test_index)

    def relative_paths(self) -> list[str]:
        """``imageList`` as relative paths in LFW's layout (``Name/Name_0001.jpg``)."""
        return [blufr_relative_path(n) for n in self.image_list]


def blufr_relative_path(file_name: str) -> str:
    """``Aaron_Eckhart_0001.jpg`` → ``Aaron_Eckhart/Aaron_Eckhart_0001.jpg`` (entries with a folder are kept)."""
    if "/" in file_name:
        return file_name
    identity = file_name.rsplit("_", 1)[0]
    return f"{identity}/{file_name}"


def _cell_strings(arr: np.ndarray) -> list[str]:
    out = []
    for item in np.asarray(arr, dtype=object).ravel():
        while isinstance(item, np.ndarray):
            item = item.ravel()[0] if item.size else ""
        out.append(str(item))
    return out


def _index_array(value, where: str, n_images: int) -> np.ndarray:
    arr = np.asarray(value).ravel()
    if arr.size and not np.issubdtype(arr.dtype, np.number):
        raise BlufrFormatError(f"{where}: expected numeric indices, got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 1 or arr.max() > n_images):
        raise BlufrFormatError(
            f"{where}: indices must be 1-based into imageList (1..{n_images}); found range {arr.min()}..{arr.max()}"
        )
    return arr - 1


def _trials(m: dict, name: str, path: Path, n_images: int) -> list[np.ndarray]:
    cells = np.asarray(m[name], dtype=object).ravel()
    return [_index_array(c, f"{path}: {name}{{{t + 1}}}", n_images) for t, c in enumerate(cells)]


def read_blufr_config(path: str | Path, check: bool = True) -> BlufrConfig:
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BLUFR config not found: {path}")
    try:
        m = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types for a corrupt file
        raise BlufrFormatError(f"{path}: not a readable MATLAB .mat file ({err})") from err
    missing = [f for f in REQUIRED_FIELDS if f not in m]
    if missing:
        raise BlufrFormatError(f"{path}: missing field(s) {', '.join(missing)}; a BLUFR config has {', '.join(REQUIRED_FIELDS)}")
    image_list = _cell_strings(m["imageList"])
    n = len(image_list)
    labels = np.asarray(m["labels"]).ravel().astype(np.int64)
    if labels.size != n:
        raise BlufrFormatError(f"{path}: labels has {labels.size} entries but imageList has {n}")
    trials = {f: _trials(m, f, path, n) for f in TRIAL_FIELDS}
    counts = {f: len(v) for f, v in trials.items()}
    if len(set(counts.values())) != 1:
        raise BlufrFormatError(f"{path}: trial fields disagree on the number of trials: {counts}")
    dev = {f: _index_array(m[f], f"{path}: {f}", n) if f in m else np.zeros(0, np.int64) for f in ("devTrainIndex", "devTestIndex")}
    cfg = BlufrConfig(
        image_list, labels, trials["trainIndex"], trials["testIndex"], trials["galIndex"], trials["probIndex"],
        dev["devTrainIndex"], dev["devTestIndex"],
    )
    if check:
        for t in range(cfg.n_trials):
            test, gal, prob = cfg.test_index[t], cfg.gal_index[t], cfg.prob_index[t]
            if len(np.intersect1d(gal, prob)) or not np.array_equal(np.sort(np.concatenate([gal, prob])), np.sort(test)):
                raise BlufrFormatError(f"{path}: trial {t + 1}: galIndex and probIndex must partition testIndex")
    return cfg


def write_blufr_config(path: str | Path, cfg: BlufrConfig) -> Path:
    """Write ``cfg`` with the official field names and shapes, indices 1-based."""
    import scipy.io
    from lrfr.io import atomic_write

    def cell(arrays: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(arrays), 1), dtype=object)
        for i, a in enumerate(arrays):
            out[i, 0] = (np.asarray(a, np.int64) + 1).reshape(-1, 1).astype(np.float64)
        return out

    names = np.empty((len(cfg.image_list), 1), dtype=object)
    for i, n in enumerate(cfg.image_list):
        names[i, 0] = n
    data = {
        "imageList": names,
        "labels": np.asarray(cfg.labels, np.float64).reshape(-1, 1),
        "trainIndex": cell(cfg.train_index),
        "testIndex": cell(cfg.test_index),
        "galIndex": cell(cfg.gal_index),
        "probIndex": cell(cfg.prob_index),
        "devTrainIndex": (np.asarray(cfg.dev_train_index, np.int64) + 1).reshape(-1, 1).astype(np.float64),
        "devTestIndex": (np.asarray(cfg.dev_test_index, np.int64) + 1).reshape(-1, 1).astype(np.float64),
    }
    return atomic_write(path, lambda p: scipy.io.savemat(p, data, format="5"))
