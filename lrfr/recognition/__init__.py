"""Face recognizers, built or loaded by name, and the batched feature extractor.

    import lrfr.recognition as rec
    net = rec.build("sphere20a")                                   # random init (training)
    net = rec.load("mobilefacenet", weights="mobilefacenet_casia_068.ckpt")  # eval mode
    net = rec.load(weights="my_sphere.pt")                         # lrfr file: arch read from it
    feats = rec.embed(net, images, flip="concat")                  # float32 numpy (N, 2·D)

Every recognizer subclasses :class:`lrfr.recognition.base.Recognizer`: it declares its
``input_size`` and pixel normalization and checks its input ([0, 1] RGB at that size).

Registered: ``sphere20a``, ``sphere36a``, ``sphere64a`` (SphereFace), ``mobilefacenet`` and,
when facenet-pytorch imports, ``inception_resnet_v1`` (weights supplied by the user).
Families register by explicit import below; the facenet adapter is guarded so its absence
cannot break ``import lrfr.recognition``.

Note: the package attribute ``lrfr.recognition.embed`` is the *function* (re-exported from the
module of the same name), so ``import lrfr.recognition.embed as m`` also yields the function;
use ``from lrfr.recognition.embed import embed`` or ``lrfr.recognition.embed(...)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lrfr.registry import Registry

RECOGNIZER_REGISTRY = Registry("recognizer")

from lrfr.recognition import mobilefacenet as _mobilefacenet  # noqa: E402
from lrfr.recognition import sphereface as _sphereface  # noqa: E402
from lrfr.recognition.base import Recognizer  # noqa: E402
from lrfr.recognition.embed import embed  # noqa: E402
from lrfr.recognition.margins import AngleLinear, AngleSoftmaxLoss  # noqa: E402
from lrfr.recognition.weights import (  # noqa: E402
    WeightsError,
    load_state_dict_checked,
    read_weights,
    save_recognizer,
)

RECOGNIZER_REGISTRY.register("sphere20a")(_sphereface.sphere20a)
RECOGNIZER_REGISTRY.register("sphere36a")(_sphereface.sphere36a)
RECOGNIZER_REGISTRY.register("sphere64a")(_sphereface.sphere64a)
RECOGNIZER_REGISTRY.register("mobilefacenet")(_mobilefacenet.mobilefacenet)

try:  # optional: facenet-pytorch
    from lrfr.recognition import facenet as _facenet  # noqa: E402
except Exception as _err:  # pragma: no cover - missing or broken facenet-pytorch
    _FACENET_IMPORT_ERROR: Exception | None = _err
else:
    _FACENET_IMPORT_ERROR = None
    RECOGNIZER_REGISTRY.register("inception_resnet_v1")(_facenet.inception_resnet_v1)


def _check_name(name: str) -> None:
    if name == "inception_resnet_v1" and _FACENET_IMPORT_ERROR is not None:
        raise KeyError(f"recognizer 'inception_resnet_v1' needs facenet-pytorch, which failed to import: "
                       f"{_FACENET_IMPORT_ERROR}")
    RECOGNIZER_REGISTRY.get(name)  # KeyError listing the known names


def build(name: str, **kwargs: Any) -> Recognizer:
    """Build a registered recognizer (random init, train mode); unknown names raise ``KeyError``."""
    _check_name(name)
    return RECOGNIZER_REGISTRY.build(name, **kwargs)


def frozen_recognizer(weights: str | Path, device: str | torch.device | None = None, arch: str | None = None,
                      default: str | None = None) -> Recognizer:
    """A recognizer to score or teach with, frozen (no gradients, eval mode): ``weights`` a file,
    ``"packaged:NAME"``, or "" for the packaged ``default``. ``arch`` names the architecture of a weight
    file that does not record it (else it is read or inferred)."""
    from lrfr.weights import DEFAULT_RECOGNIZER, resolve

    model = load(arch or None, weights=resolve(weights, default or DEFAULT_RECOGNIZER), device=device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def names() -> list[str]:
    return RECOGNIZER_REGISTRY.names()


def _skeleton(name: str, kwargs: dict[str, Any]) -> Recognizer:
    """An architecture to load weights into (no weights of its own are read or downloaded)."""
    ctor = RECOGNIZER_REGISTRY.get(name)
    ctor = getattr(ctor, "skeleton", ctor)
    return ctor(**kwargs)


def infer_arch(state_dict: dict, path: str | Path, kwargs: dict[str, Any] | None = None) -> str:
    """The one registered architecture whose state dict (built with ``kwargs``) matches ``state_dict``
    key for key and shape for shape. Skeletons are built on the ``meta`` device: no memory, no init."""
    want = {k: tuple(v.shape) for k, v in state_dict.items()}
    matches = []
    for candidate in names():
        try:
            with torch.device("meta"):
                model = _skeleton(candidate, dict(kwargs or {}))
            if hasattr(model, "adapt_foreign_state_dict"):
                continue  # foreign formats (facenet-pytorch) are loaded by name only
        except Exception:  # a builder that cannot run here is simply not a candidate
            continue
        if {k: tuple(v.shape) for k, v in model.state_dict().items()} == want:
            matches.append(candidate)
    if len(matches) != 1:
        found = f"it matches {', '.join(matches)}" if matches else "it matches none of them"
        raise ValueError(f"{path} holds weights without an architecture name and {found}; name it "
                         f"(recognizer / --recognizer: one of {', '.join(names())})")
    return matches[0]


def load(name: str | None = None, weights: str | Path | None = None,
         device: str | torch.device | None = None, **kwargs: Any) -> Recognizer:
    """Build ``name`` and load ``weights`` strictly; returns the model in eval mode on ``device``.

    ``weights`` may be ``"packaged:NAME"`` (a file shipped in ``lrfr/weights``), an ONNX file exported by
    ``lrfr export`` (an :class:`~lrfr.recognition.onnx_backend.OnnxRecognizer`, run by onnxruntime), an lrfr model file of family ``"recognizer"`` (``"lrfr-model/1"``, see
    :mod:`lrfr.modelfile`, or the earlier ``"lrfr-recognizer/1"``; ``name`` may then be None, or must
    equal the file's arch; its stored kwargs are used, and explicit ``kwargs`` must agree; a model
    file of another family, e.g. an SR generator, is an error saying so), a training checkpoint
    ``{'epoch', 'net_state_dict'}`` (e.g. the MobileFaceNet CASIA checkpoint) or a bare state
    dict (``kwargs`` go to the builder; without ``name`` the architecture is inferred from the
    state dict's keys and shapes, see :func:`infer_arch`). Loaded with
    ``torch.load(map_location="cpu", weights_only=True)``. Errors name the file and what was expected.
    """
    if weights is None:
        if name == "inception_resnet_v1" and _FACENET_IMPORT_ERROR is None:
            raise FileNotFoundError(_facenet.MISSING_WEIGHTS_HELP)
        raise ValueError(f"lrfr.recognition.load needs weights=PATH (use build({name!r}) for a randomly "
                         "initialized model)")
    from lrfr.weights import resolve

    if str(weights).endswith(".onnx"):  # an lrfr-exported recognizer, run by onnxruntime
        from lrfr.recognition.onnx_backend import OnnxBackendError, OnnxRecognizer

        model = OnnxRecognizer(resolve(weights))
        if name is not None and name != model.arch:
            raise OnnxBackendError(f"{weights} holds a {model.arch!r} recognizer, not {name!r}")
        return model
    if name is not None:
        _check_name(name)
    info = read_weights(resolve(weights))
    path = info["path"]
    if info["kind"] == "lrfr":
        arch = info["arch"]
        if name is not None and name != arch:
            raise WeightsError(f"{path} holds a {arch!r} recognizer, not {name!r}")
        try:
            _check_name(arch)
        except KeyError as err:
            raise WeightsError(f"{path} holds architecture {arch!r}, which cannot be built here: {err}") from None
        build_kwargs = dict(info["kwargs"])
        for k, v in kwargs.items():
            if k in build_kwargs and build_kwargs[k] != v:
                raise WeightsError(f"{path} was saved with {k}={build_kwargs[k]!r}; got {k}={v!r}")
            build_kwargs[k] = v
    else:
        arch = name if name is not None else infer_arch(info["state_dict"], path, kwargs)
        build_kwargs = dict(kwargs)
    model = _skeleton(arch, build_kwargs)
    state = info["state_dict"]
    if info["kind"] != "lrfr" and hasattr(model, "adapt_foreign_state_dict"):
        state = model.adapt_foreign_state_dict(state)
    load_state_dict_checked(model, state, path, arch)
    model.weights_meta = info["meta"]
    model.weights_path = str(path)
    if device is not None:
        model.to(device)
    return model.eval()


__all__ = [
    "RECOGNIZER_REGISTRY", "Recognizer", "build", "load", "frozen_recognizer", "infer_arch", "names", "embed", "save_recognizer",
    "read_weights", "WeightsError", "AngleLinear", "AngleSoftmaxLoss",
]
