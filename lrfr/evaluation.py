"""``lrfr.evaluate``: the one entry point from an SR model to a table of protocol numbers.

    import lrfr
    table = lrfr.evaluate("bicubic", protocol=["lfw", "blufr"], data="/data/lfw",
                          recognizer="mobilefacenet", weights="mobilefacenet_casia_068.ckpt", scale=8)

One call degrades the HR test images, super-resolves them, embeds them with the recognizer,
runs each protocol on the features, and reports PSNR/SSIM of SR vs HR beside the protocol's
numbers. Every convention a protocol used is in ``table.attrs["conventions"]``; curves (ROC,
CMC) and per-fold tables in ``table.attrs["results"]``.

Nothing is dropped silently: an image of a protocol that cannot be read (or has another size than
the recognizer's input) stops the evaluation with an error naming it, unless
``on_bad_image="skip"``; then the table gains the columns ``n_images_skipped`` and
``n_pairs_removed``, and ``table.attrs["skipped"][protocol]`` lists the images (path, reason) and
the pairs (or, for BLUFR, per-trial counts) they removed.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from lrfr.devices import resolve_device
from lrfr.features import HR, ON_BAD_IMAGE, extract_features, model_key, sr_name

#: the narrow sphere20a shipped in the package, trained on SynthFaces (see README)
PACKAGED_RECOGNIZER = "sphere20a_synth.pt"


def packaged_recognizer_path() -> Path:
    path = Path(str(resources.files("lrfr.weights").joinpath(PACKAGED_RECOGNIZER)))
    if not path.is_file():
        raise FileNotFoundError(f"the packaged recognizer {path} is missing (reinstall lrfr, or pass recognizer=...)")
    return path


def resolve_recognizer(recognizer: nn.Module | str | None, weights: str | Path | None) -> tuple[nn.Module, str]:
    """(model, cache key). ``None`` with no weights → the packaged SynthFaces sphere20a."""
    from lrfr import recognition

    if isinstance(recognizer, nn.Module):
        return recognizer, model_key(recognizer, getattr(recognizer, "arch", None))
    if recognizer is None and weights is None:
        weights = packaged_recognizer_path()
    if weights is None:
        raise ValueError(f"recognizer {recognizer!r} needs weights=PATH (lrfr downloads nothing at run time)")
    model = recognition.load(recognizer, weights=weights)
    key = f"{recognizer or 'auto'}:{Path(weights).resolve()}:{Path(weights).stat().st_mtime_ns}"
    return model, key


def default_synth_data(workdir: Path | None = None, progress: bool = True) -> Path:
    """The held-out SynthFaces test set (identities never used in training), exported once."""
    from lrfr.data.synth import SynthFaces

    root = Path(workdir or Path.home() / ".cache" / "lrfr") / "synthfaces-test"
    if not (root / "pairs.txt").is_file():
        SynthFaces(**SYNTH_TEST).export(root, progress=progress)
    return root


#: the SynthFaces evaluation set: identities from 1,000,000 on, disjoint from any training range
SYNTH_TEST = dict(n_identities=60, images_per_identity=10, seed=2024, identity_offset=1_000_000)


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (str, nn.Module)) or not isinstance(x, Iterable):
        return [x]
    return list(x)


def evaluate(
    sr_model: object | Sequence[object] = "bicubic",
    protocol: str | Sequence[str] = "blufr",
    recognizer: nn.Module | str | None = None,
    weights: str | Path | None = None,
    data: str | Path | None = None,
    scale: int = 8,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    degrade: str = "bicubic",
    workdir: str | Path | None = None,
    progress: bool = True,
    cache: bool = True,
    on_bad_image: str = "error",
) -> pd.DataFrame:
    """Evaluate one or more SR front-ends on one or more protocols; one row per (SR model, protocol).

    Parameters
    ----------
    sr_model: an ``nn.Module`` (LR → HR, [0, 1]), a registry name (``"bicubic"``, ...), ``"hr"``
        for the upper bound (HR images, no degradation), or a list of these.
    protocol: ``"lfw"``, ``"blufr"``, ``"celeba"``, a path to a protocol TOML, or a list.
    recognizer: a :class:`lrfr.recognition.base.Recognizer`, or a registry name with ``weights``.
        ``None`` with no weights uses the packaged SynthFaces sphere20a (meaningful on SynthFaces only).
    data: the protocol's data root (e.g. a folder with ``lfw-112x96/``, ``pairs.txt`` and
        ``blufr_lfw_config.mat``; an identity-per-folder tree for ``celeba``). ``None`` → the
        held-out SynthFaces test set, exported under ``workdir``.
    scale: the degradation factor (HR → HR/scale → SR). ``degrade``: ``"bicubic"`` (antialiased,
        C-Face's chain) or ``"bilinear_steps"`` (PFSR's chain).
    on_bad_image: ``"error"`` (default): an image that cannot be read, or is not of the
        recognizer's input size, stops the run naming it. ``"skip"``: such images are left out
        with every pair that uses them, and reported (module doc).
    """
    from lrfr import protocols as protocol_registry

    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(f"on_bad_image must be one of {', '.join(ON_BAD_IMAGE)}; got {on_bad_image!r}")
    device = resolve_device(device)
    workdir = Path(workdir) if workdir is not None else None
    root = Path(data) if data is not None else default_synth_data(workdir, progress)
    if not root.exists():
        raise FileNotFoundError(f"data root not found: {root}")
    rec, rec_key = resolve_recognizer(recognizer, weights)
    srs = _as_list(sr_model) or ["bicubic"]
    protos = [protocol_registry.get(p) for p in _as_list(protocol)]
    if not protos:
        raise ValueError("evaluate: no protocol given")
    for proto in protos:  # one switch for every progress bar of the call
        if hasattr(proto.config, "progress"):
            proto.config.progress = proto.config.progress and progress

    rows, results, conventions, headline, skipped = [], {}, {}, {}, {}
    for proto in protos:
        prepared = proto.prepare(root, workdir=workdir)
        conventions[proto.name] = getattr(prepared, "conventions", None) or getattr(proto, "conventions", {})
        for sr in srs:
            ex = extract_features(
                prepared.image_paths, sr, rec, scale=scale, flip=proto.flip, degrade=degrade,
                batch_size=batch_size, device=device, progress=progress, cache=cache, recognizer_key=rec_key,
                on_bad_image=on_bad_image,
            )
            data, feats, q_psnr, q_ssim = prepared, ex.features, ex.psnr, ex.ssim
            removed = {"n_pairs_removed": 0}
            if ex.skipped:
                bad = [i for i, p in enumerate(prepared.image_paths) if str(Path(p)) in ex.skipped]
                data, removed = proto.without_images(prepared, bad)
                keep = np.ones(len(prepared.image_paths), bool)
                keep[bad] = False
                feats, q_psnr, q_ssim = feats[keep], q_psnr[keep], q_ssim[keep]
                skipped[proto.name] = {
                    "images": [{"path": p, "reason": r} for p, r in ex.skipped.items()],
                    **removed,
                }
            result = proto.run(data, feats)
            name = sr_name(sr)
            results[(name, proto.name)] = result
            headline[proto.name] = list(result.headline)
            row = {
                "sr": name,
                "protocol": proto.name,
                "scale": 1 if sr == HR else scale,
                "recognizer": getattr(rec, "arch", type(rec).__name__),
                "n_images": len(data.image_paths),
                "psnr": float(np.nanmean(q_psnr)) if np.isfinite(q_psnr).any() else np.nan,
                "ssim": float(np.nanmean(q_ssim)) if np.isfinite(q_ssim).any() else np.nan,
            }
            if on_bad_image == "skip":
                row["n_images_skipped"] = len(ex.skipped)
                row["n_pairs_removed"] = int(removed["n_pairs_removed"])
            row.update(result.summary)
            rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["results"] = results
    table.attrs["conventions"] = conventions
    table.attrs["headline"] = headline
    table.attrs["data"] = str(root)
    if on_bad_image == "skip":
        table.attrs["skipped"] = skipped
    return table
