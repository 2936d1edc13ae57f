"""What every protocol shares: configs from TOML, the ``Protocol`` interface, data and result types.

Contract (docs/architecture.md)::

    protocol = lrfr.protocols.get("blufr")        # configured by protocols/blufr.toml
    data = protocol.prepare(root, workdir=None)   # .image_paths: absolute, unique, fixed order
    result = protocol.run(data, features)         # features[i] belongs to data.image_paths[i]

Protocols never touch pixels or models: ``protocol.flip`` tells the caller which flip fusion
the protocol's convention expects (``"concat"`` or ``"sum"``) when it embeds the images.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from lrfr.config import ConfigError
from lrfr.errors import LrfrError


@dataclass
class ProtocolData:
    """What :meth:`Protocol.prepare` found: the images to embed plus protocol-specific arrays, and
    ``conventions``: how the protocol reads them (every built-in ``prepare`` records its protocol's)."""

    protocol: str
    root: Path
    image_paths: list[Path]
    conventions: dict[str, Any] = field(default_factory=dict)

    #: what the data is laid out as: "pairs" (verification pairs: ``pair_index``, ``same``, ``folds``),
    #: "gallery" (trials of gallery and probe indices: BLUFR's ``gal_index``, ``prob_index``), or "images"
    layout = "images"

    def __len__(self) -> int:
        return len(self.image_paths)

    @property
    def has_pairs(self) -> bool:
        return self.layout == "pairs"

    @property
    def has_gallery(self) -> bool:
        return self.layout == "gallery"


@dataclass
class ProtocolResult:
    """Outcome of :meth:`Protocol.run`.

    ``summary``: flat ``{str: float}`` (headline metrics with ``_mean``/``_std`` suffixes, the
    thresholds used); ``per_fold``: one row per fold/trial; ``curves``: ``"roc": (far, tar)``,
    ``"cmc": (ranks, rate)``, … where meaningful; ``conventions``: how everything was computed;
    ``headline``: the summary keys a paper's table would show, in order; ``per_pair``: pairs protocols'
    outcome of every pair.
    """

    protocol: str
    summary: dict[str, float]
    per_fold: pd.DataFrame
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    conventions: dict[str, Any] = field(default_factory=dict)
    headline: list[str] = field(default_factory=list)
    #: pairs protocols: one row per pair — its pairs-file line, fold, kind, images, plain cosine, the score and
    #: fold threshold it was judged with, and whether it was judged right (what ``lrfr results failures`` reads)
    per_pair: pd.DataFrame | None = None

    def __str__(self) -> str:
        lines = [f"{self.protocol}:"]
        for k in self.headline or list(self.summary)[:6]:
            v = self.summary.get(k, float("nan"))
            lines.append(f"  {k} = {v:.4f}")
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None):
        """ROC (log FAR axis) and, where present, CMC; saved to ``path`` if given. Returns the figure."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        keys = [k for k in ("roc", "cmc", "dir") if k in self.curves]
        fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4.5 * max(len(keys), 1), 3.8), squeeze=False)
        for ax, k in zip(axes[0], keys):
            x, y = self.curves[k]
            if k in ("roc", "dir"):
                m = np.asarray(x) > 0
                ax.semilogx(np.asarray(x)[m], np.asarray(y)[m], marker=".")
                ax.set_xlabel("false accept rate")
                ax.set_ylabel("verification rate" if k == "roc" else "DIR at rank 1")
            else:
                ax.plot(x, y, marker=".")
                ax.set_xlabel("rank")
                ax.set_ylabel("identification rate")
            ax.set_title(f"{self.protocol}: {k.upper()}")
            ax.grid(True, alpha=0.3)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def pct(far: float) -> str:
    """``0.001`` → ``"0.1%"`` (the spelling used in summary keys)."""
    return f"{far * 100:g}%"


def find_first(root: Path, candidates, what: str, kind: str = "dir") -> Path:
    """The first of ``root/candidate`` that exists (``kind`` "dir" or "file"); a clear error listing them otherwise."""
    tried = []
    for c in candidates:
        p = (root / c) if c not in ("", ".") else root
        tried.append(str(p))
        if (p.is_dir() if kind == "dir" else p.is_file()):
            return p.resolve()
    raise FileNotFoundError(f"{what} not found under {root}; tried: {', '.join(tried)}")


def check_features(data: ProtocolData, features) -> np.ndarray:
    f = np.asarray(features)
    if f.ndim != 2 or f.shape[0] != len(data.image_paths):
        raise ValueError(
            f"{data.protocol}: features must be (n_images, dim) with n_images = len(data.image_paths) = "
            f"{len(data.image_paths)}; got shape {f.shape}"
        )
    if not np.issubdtype(f.dtype, np.floating):
        f = f.astype(np.float32)
    if not np.isfinite(f).all():
        bad = int((~np.isfinite(f).all(axis=1)).sum())
        raise ValueError(f"{data.protocol}: {bad} feature rows hold NaN/inf (first: {data.image_paths[int(np.flatnonzero(~np.isfinite(f).all(axis=1))[0])]})")
    return f


def mean_std(values, ddof: int) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), (float(v.std(ddof=ddof)) if v.size > ddof else float("nan"))


class Protocol:
    """Base class: a configured protocol. Subclasses set ``kind`` and ``config_class``."""

    kind: ClassVar[str] = ""
    config_class: ClassVar[type] = object

    def __init__(self, config, source: Path | None = None):
        self.config = config
        self.source = source

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def flip(self) -> str | None:
        """Flip fusion expected of the features, as :func:`lrfr.recognition.embed` takes it:
        ``"concat"``, ``"sum"`` or ``None`` (config value ``"none"``)."""
        f = getattr(self.config, "flip", "auto")
        if f not in ("auto", "concat", "sum", "none"):
            raise ConfigError(f"{self.source}: flip must be auto, concat, sum or none; got {f!r}")
        if f == "none":
            return None
        if f == "auto":
            return {"sphereface": "concat", "insightface": "sum"}.get(getattr(self.config, "convention", ""), "concat")
        return f

    @property
    def conventions(self) -> dict[str, Any]:
        return {"protocol": self.name, "config": str(self.source) if self.source else None, "flip": self.flip}

    def set_progress(self, on: bool) -> None:
        """Turn the protocol's progress bars off unless ``on`` (a caller's one switch for every bar of its call);
        bars its config turned off stay off. A protocol without progress bars has nothing to do."""

    def prepare(self, root: str | Path, workdir: str | Path | None = None) -> ProtocolData:  # pragma: no cover
        raise NotImplementedError

    def run(self, data: ProtocolData, features) -> ProtocolResult:  # pragma: no cover
        raise NotImplementedError

    def without_images(self, data: ProtocolData, bad) -> tuple[ProtocolData, dict]:
        """``data`` without the images ``bad`` (indices into ``data.image_paths``) and whatever
        uses them; returns ``(data, removed)`` with ``removed["n_pairs_removed"]`` and details."""
        drop = getattr(data, "without_images", None)
        if drop is None:
            raise LrfrError(f"{self.name}: this protocol cannot leave images out ({type(data).__name__})")
        return drop(bad)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config)
                           if f.name not in ("description",))
        return f"{type(self).__name__}({fields})"
