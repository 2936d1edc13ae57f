"""Super-resolution front-ends, built by name: ``lrfr.sr.build("bicubic", scale=8)``.

Every generator maps LR tensors (N, 3, h, w) in [0, 1] to HR tensors (N, 3, h·scale, w·scale)
in [0, 1], the recognizer's input size. Families register themselves by explicit import below;
later generators (srresnet/srgan, gafh_ridn, pfsr, prior_attention) join the same registry.
"""
from lrfr.registry import Registry

SR_REGISTRY = Registry("SR model")

from lrfr.sr import bicubic as _bicubic  # noqa: E402,F401  (registers "bicubic")


def build(name: str, **kwargs):
    """Build a registered SR model; an unknown name raises ``KeyError`` listing the known ones."""
    return SR_REGISTRY.build(name, **kwargs)


def names() -> list[str]:
    return SR_REGISTRY.names()


__all__ = ["SR_REGISTRY", "build", "names"]
