"""Frozen feature extractors for perceptual losses: ImageNet VGG19 and lrfr face recognizers.

Both take lrfr's image convention — float RGB ``(N, 3, H, W)`` in [0, 1] — normalize inside,
and return one intermediate feature map. Both are frozen: their parameters have
``requires_grad=False`` and they stay in eval mode even when the module holding them is
``.train()``-ed; gradients still flow through them to the input image.

``vgg19`` — :class:`VGG19Features`
    The papers' extractor (C-Face papers/004 eq. 2, GAFH-RIDN papers/001 content loss, SRGAN).
    The network is torchvision's ``vgg19`` truncated after the requested layer. Its ImageNet
    weights are read from a **local** torchvision-format state-dict file; lrfr never downloads
    anything, so without such a file use the ``recognizer`` extractor.

``recognizer`` — :class:`RecognizerFeatures`
    A mid-level feature map of a frozen lrfr face recognizer (any
    :class:`lrfr.recognition.base.Recognizer`), e.g. the packaged SynthFaces sphere20a
    (``lrfr.recognition.load(weights=lrfr.weights.packaged_path(lrfr.weights.DEFAULT_RECOGNIZER))``) or the
    CASIA MobileFaceNet. The offline default: it needs no ImageNet weights. This is lrfr's
    addition, not a paper's.
"""
from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import torch
from torch import nn

from lrfr.losses.base import FrozenModule
from lrfr.recognition.base import Recognizer
from lrfr.recognition.mobilefacenet import MobileFaceNet
from lrfr.recognition.sphereface import SphereFace

__all__ = [
    "VGG19Features", "RecognizerFeatures", "vgg19_layers", "default_recognizer_layer",
    "IMAGENET_MEAN", "IMAGENET_STD", "DEFAULT_RECOGNIZER_LAYERS",
]

#: torchvision's ImageNet normalization (inputs in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: convolutions per block of VGG19 (configuration "E", Simonyan & Zisserman 2015).
VGG19_BLOCKS = (2, 2, 4, 4, 4)

MISSING_VGG_WEIGHTS_HELP = (
    "ImageNet VGG19 weights cannot be fetched at run time (lrfr never downloads weights). On a machine "
    "with internet, save torchvision's state dict once — torch.save(torchvision.models.vgg19("
    "weights='IMAGENET1K_V1').state_dict(), 'vgg19_imagenet.pth') — and pass weights='vgg19_imagenet.pth'; "
    "or use the 'recognizer' feature extractor (intermediate features of a frozen lrfr face recognizer, "
    "e.g. the packaged one), which needs no ImageNet weights."
)


def vgg19_layers() -> dict[str, int]:
    """Layer name → index into ``torchvision.models.vgg19().features``.

    ``conv{i}_{j}`` is the j-th convolution of block i (before its ReLU), ``relu{i}_{j}`` its
    activation, ``pool{i}`` the block's max-pool. The papers' φ_{i,j} ("after the activation of
    the j-th convolution, before the i-th max-pool", SRGAN's notation) is ``relu{i}_{j}``.
    """
    names: dict[str, int] = {}
    idx = 0
    for i, convs in enumerate(VGG19_BLOCKS, start=1):
        for j in range(1, convs + 1):
            names[f"conv{i}_{j}"] = idx
            names[f"relu{i}_{j}"] = idx + 1
            idx += 2
        names[f"pool{i}"] = idx
        idx += 1
    return names


def _torchvision_conv_init_(features: nn.Sequential) -> None:
    # torchvision VGG's own initialization (kaiming-normal fan_out for convs, zero bias).
    for mod in features:
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(mod.bias)


def _read_vgg19_state(path: Path, reference: dict[str, tuple[int, ...]], needed: list[str],
                      layer: str) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a torchvision vgg19 state dict file, checked key by key."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt, truncated, not a torch file, or pickled objects
        raise ValueError(f"{path} could not be read as a torchvision VGG19 state dict "
                         f"({type(err).__name__}: {err})") from None
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise ValueError(f"{path} is not a torchvision-format state dict (a dict of tensors, as written by "
                         f"torch.save(torchvision.models.vgg19(...).state_dict())); got {type(obj).__name__}")
    unexpected = [k for k in obj if k not in reference]
    if unexpected:
        raise ValueError(f"{path} is not a torchvision vgg19 state dict: unexpected key(s) "
                         f"{', '.join(unexpected[:5])}{' …' if len(unexpected) > 5 else ''}")
    wrong = [f"{k} {tuple(obj[k].shape)} (vgg19: {reference[k]})" for k in obj if tuple(obj[k].shape) != reference[k]]
    if wrong:
        raise ValueError(f"{path} is not a torchvision vgg19 state dict: shape mismatch for {'; '.join(wrong[:3])}")
    missing = [k for k in needed if k not in obj]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}, "
                         f"needed for VGG19 layer {layer!r}")
    not_float = [k for k in needed if not obj[k].is_floating_point()]
    if not_float:
        raise ValueError(f"{path}: {not_float[0]} is not a floating-point tensor")
    return {k[len("features."):]: obj[k] for k in needed}


class VGG19Features(FrozenModule):
    """torchvision VGG19 truncated after ``layer``; input [0, 1] RGB, ImageNet normalization inside.

    Parameters
    ----------
    layer : ``"relu{i}_{j}"`` (φ_{i,j} of the papers), ``"conv{i}_{j}"`` (before the ReLU, as
        ESRGAN uses) or ``"pool{i}"``; see :func:`vgg19_layers`.
    weights : path to a local torchvision-format state dict of ``vgg19`` (the file torchvision
        itself downloads, or ``torch.save(vgg19(...).state_dict(), path)``). Only the ``features.*``
        tensors up to ``layer`` are used, so a file holding only those is accepted too; any key or
        shape that is not vgg19's is an error naming the file. Missing file → ``FileNotFoundError``.
    allow_random : with ``weights=None``, build a randomly initialized network (torchvision's
        init) — for tests and plumbing only; without it ``weights=None`` is an error.

    Layer provenance. The default ``relu3_4`` is lrfr's reading of the papers: C-Face sets
    "i = 3 and j = 5" (papers/004, below eq. 2), but VGG19's third block has only four
    convolutions, so φ_{3,5} does not exist; GAFH-RIDN writes φ_{3,4} (papers/001). lrfr takes
    the last activation of block 3 for both. SRGAN's VGG54 is ``relu5_4``; ESRGAN's is ``conv5_4``.
    """

    def __init__(self, layer: str = "relu3_4", weights: str | PathLike | None = None,
                 allow_random: bool = False):
        super().__init__()
        index = vgg19_layers()
        if not isinstance(layer, str) or layer not in index:
            raise ValueError(f"unknown VGG19 layer {layer!r}; known: {', '.join(index)}")
        if weights is None and not allow_random:
            raise ValueError("VGG19Features needs weights=PATH to a local torchvision vgg19 state dict, or "
                             "allow_random=True for an untrained network (tests only). " + MISSING_VGG_WEIGHTS_HELP)
        path = None
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"VGG19 weights file {path} not found. {MISSING_VGG_WEIGHTS_HELP}")
        import torchvision  # here, not at module level: importing torchvision costs seconds

        # Built on the meta device: no memory and no init for the 140M-parameter classifier we drop.
        with torch.device("meta"):
            full = torchvision.models.vgg19(weights=None, init_weights=False)
        reference = {k: tuple(v.shape) for k, v in full.state_dict().items()}
        features = full.features[: index[layer] + 1]
        features.to_empty(device="cpu")
        if path is None:
            _torchvision_conv_init_(features)
        else:
            needed = [f"features.{k}" for k in features.state_dict()]
            features.load_state_dict(_read_vgg19_state(path, reference, needed, layer), strict=True)
        self.layer = layer
        self.weights_path = None if path is None else str(path)
        self.features = features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}, weights={self.weights_path!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 3:
            got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"VGG19Features expects RGB (N, 3, H, W) in [0, 1]; got {got}")
        return self.features((x - self.mean) / self.std)


#: Default layer per recognizer family (lrfr's choice): the last block at stride 8 — 14×12 for
#: 112×96 faces — deep enough to encode facial parts, still spatial. SphereFace: the output of
#: its third stage (256·width channels); MobileFaceNet: the last bottleneck of its 128-channel
#: stride-8 group (``blocks.11``, 128 channels).
DEFAULT_RECOGNIZER_LAYERS: tuple[tuple[type, str], ...] = (
    (SphereFace, "stages.2"),
    (MobileFaceNet, "blocks.11"),
)


def default_recognizer_layer(recognizer: Recognizer) -> str:
    """The default feature layer for ``recognizer`` (see ``DEFAULT_RECOGNIZER_LAYERS``)."""
    for cls, layer in DEFAULT_RECOGNIZER_LAYERS:
        if isinstance(recognizer, cls):
            return layer
    raise ValueError(f"no default feature layer for {type(recognizer).__name__}; pass layer=NAME "
                     f"(a module name from named_modules(), e.g. {', '.join(_candidate_layers(recognizer)[:8])})")


def _candidate_layers(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name and name.count(".") <= 1]


class _StopForward(Exception):
    """Raised by the capture hook to end the recognizer's forward at the requested layer."""


class RecognizerFeatures(FrozenModule):
    """Intermediate features of a frozen lrfr recognizer, for a perceptual loss without ImageNet.

    Parameters
    ----------
    recognizer : any :class:`~lrfr.recognition.base.Recognizer`. It is frozen **in place**
        (``requires_grad=False``, eval mode, kept in eval) and becomes a submodule of this one.
    layer : a module name from ``recognizer.named_modules()``; ``None`` → the family default
        (``"stages.2"`` for sphere20a/36a/64a, ``"blocks.11"`` for mobilefacenet; see
        ``DEFAULT_RECOGNIZER_LAYERS``); other recognizers must name one.

    The input's shape is checked with ``recognizer.check_shape`` (metadata only, no device sync)
    and normalized with the recognizer's own ``normalize``. A forward hook captures the layer's
    output and stops the forward there, so the layers after it are never computed.
    """

    def __init__(self, recognizer: Recognizer, layer: str | None = None):
        super().__init__()
        if not isinstance(recognizer, Recognizer):
            raise TypeError(f"RecognizerFeatures needs an lrfr Recognizer (lrfr.recognition.build/load); "
                            f"got {type(recognizer).__name__}")
        if layer is None:
            layer = default_recognizer_layer(recognizer)
        modules = dict(recognizer.named_modules())
        if not isinstance(layer, str) or not layer or layer not in modules:
            raise ValueError(f"{type(recognizer).__name__} has no layer {layer!r}; e.g. "
                             f"{', '.join(_candidate_layers(recognizer))}")
        self.recognizer = recognizer
        self.layer = layer
        self.freeze()

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.recognizer.check_shape(x)
        captured: list[torch.Tensor] = []

        def capture(_module, _inputs, output):
            captured.append(output)
            raise _StopForward

        # Registered per call, so the recognizer used elsewhere (e.g. by the identity loss) is untouched.
        handle = self.recognizer.get_submodule(self.layer).register_forward_hook(capture)
        try:
            self.recognizer.features(self.recognizer.normalize(x))
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError(f"layer {self.layer!r} of {type(self.recognizer).__name__} was not reached by its "
                               "forward; choose a module its features() calls")
        out = captured[0]
        if not torch.is_tensor(out):
            raise TypeError(f"layer {self.layer!r} returns {type(out).__name__}, not a tensor; choose another layer")
        return out
