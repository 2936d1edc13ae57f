"""Super-resolution front-ends and their discriminators, built by name or loaded from model files.

    import lrfr.sr
    g = lrfr.sr.build("srresnet", scale=8, channels=64, blocks=16)   # random init (training)
    lrfr.sr.save(g, "runs/srresnet/generator.pt", meta={"pipeline": "srresnet"}, dtype="float16")
    g = lrfr.sr.load("runs/srresnet/generator.pt")                   # eval mode, strict
    hr = g.super_resolve(lr)                                         # (N,3,8h,8w) in [0, 1]
    d = lrfr.sr.build_discriminator("srgan", channels=64)

Every generator is an :class:`~lrfr.sr.base.SRModel`: LR ``(N, 3, h, w)`` in [0, 1] →
``(N, 3, h·scale, w·scale)``, any h × w (see :mod:`lrfr.sr.base`). Generators: ``bicubic``
(not learned), ``srresnet``, ``gafh_ridn`` (papers/001) and ``prior_attention`` (papers/003);
discriminators: ``srgan`` and ``gafh_rad``. Families register by explicit import
below; factories refuse unknown keyword arguments, naming the accepted ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lrfr.modelfile import ModelFileError, load_state_dict_checked, read_model, save_model
from lrfr.registry import Registry
from lrfr.sr.base import DISCRIMINATOR_REGISTRY, SR_REGISTRY, Discriminator, SRModel

from lrfr.sr import bicubic as _bicubic  # noqa: E402,F401  (registers "bicubic")
from lrfr.sr import srresnet as _srresnet  # noqa: E402,F401  (registers "srresnet")
from lrfr.sr import pfsr as _pfsr  # noqa: E402,F401  (registers "pfsr" generator and discriminator)
from lrfr.sr import discriminators as _discriminators  # noqa: E402,F401  (registers "srgan", "gafh_rad")
from lrfr.sr import gafh_ridn as _gafh_ridn  # noqa: E402,F401  (registers "gafh_ridn")
from lrfr.sr import prior_attention as _prior_attention  # noqa: E402,F401  (registers "prior_attention")


def _build(registry: Registry, name: str, kwargs: dict[str, Any]) -> Any:
    return registry.build(name, **kwargs)  # unknown names and keywords refused by the registry


def build(name: str, **kwargs: Any) -> SRModel:
    """Build a registered SR generator (random init, train mode). An unknown name raises
    ``KeyError`` listing the known ones; an unknown argument ``TypeError`` listing the accepted."""
    return _build(SR_REGISTRY, name, kwargs)


def names() -> list[str]:
    """Registered SR generators."""
    return SR_REGISTRY.names()


def build_discriminator(name: str, **kwargs: Any) -> Discriminator:
    """Build a registered discriminator (errors as in :func:`build`)."""
    return _build(DISCRIMINATOR_REGISTRY, name, kwargs)


def discriminator_names() -> list[str]:
    """Registered discriminators."""
    return DISCRIMINATOR_REGISTRY.names()


def is_learned(name: str) -> bool:
    """Whether the generator ``name`` has trained parameters (False for ``bicubic``): a learned
    front-end is only meaningful loaded from a model file. Built on the meta device (free)."""
    factory = SR_REGISTRY.get(name)
    with torch.device("meta"):
        return bool(factory().learned)


def _load(path: str | Path, family: str, registry: Registry, device: str | torch.device | None):
    from lrfr.weights import resolve

    info = read_model(resolve(path), family=family)
    path, arch = info["path"], info["arch"]
    if arch not in registry:
        raise ModelFileError(f"{path} holds {registry.kind} architecture {arch!r}, which is not registered "
                             f"here; known: {', '.join(registry.names())}")
    try:
        model = _build(registry, arch, info["kwargs"])
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: cannot rebuild {registry.kind} {arch!r} from the file's kwargs "
                             f"{info['kwargs']}: {err}") from err
    load_state_dict_checked(model, info["state_dict"], path, arch)
    model.name = info["meta"].get("pipeline") or arch
    model.weights_path = str(path)
    model.weights_meta = info["meta"]
    if device is not None:
        model.to(device)
    return model.eval()


def load(path: str | Path, device: str | torch.device | None = None) -> SRModel:
    """Load an SR generator from an lrfr model file (family ``"sr"``; see :mod:`lrfr.modelfile`), a path or
    ``"packaged:NAME"`` (a file shipped in ``lrfr/weights``).

    Rebuilds the stored architecture with its stored kwargs, loads the state dict strictly (fp16
    files into the model's fp32), returns it in eval mode on ``device``. ``model.name`` is the
    training pipeline's name from the file's meta (else the arch); ``model.weights_path`` and
    ``model.weights_meta`` record where it came from. Every failure names the file: missing
    (``FileNotFoundError``), truncated, a recognizer or discriminator file, unknown keys or an
    unknown architecture (:class:`~lrfr.modelfile.ModelFileError`).
    """
    return _load(path, "sr", SR_REGISTRY, device)


def load_discriminator(path: str | Path, device: str | torch.device | None = None) -> Discriminator:
    """Load a discriminator from an lrfr model file of family ``"discriminator"`` (as :func:`load`)."""
    return _load(path, "discriminator", DISCRIMINATOR_REGISTRY, device)


def save(model: SRModel, path: str | Path, meta: dict[str, Any] | None = None,
         dtype: str | torch.dtype | None = None) -> Path:
    """Write an SR generator as an lrfr model file (family ``"sr"``), atomically; ``dtype="float16"``
    halves it. ``meta``: provenance (``pipeline``, steps, training data, ``config_sha256``, ...)."""
    if not isinstance(model, SRModel):
        raise TypeError(f"lrfr.sr.save expects an SRModel generator; got {type(model).__name__}"
                        + (" (use save_discriminator)" if isinstance(model, Discriminator) else ""))
    return save_model(model, path, family="sr", meta=meta, dtype=dtype)


def save_discriminator(model: Discriminator, path: str | Path, meta: dict[str, Any] | None = None,
                       dtype: str | torch.dtype | None = None) -> Path:
    """Write a discriminator as an lrfr model file (family ``"discriminator"``), atomically."""
    if not isinstance(model, Discriminator):
        raise TypeError(f"lrfr.sr.save_discriminator expects a Discriminator; got {type(model).__name__}")
    return save_model(model, path, family="discriminator", meta=meta, dtype=dtype)


__all__ = [
    "SR_REGISTRY", "DISCRIMINATOR_REGISTRY", "SRModel", "Discriminator", "build", "names",
    "build_discriminator", "discriminator_names", "is_learned", "load", "load_discriminator", "save",
    "save_discriminator",
]
