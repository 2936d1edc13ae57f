"""Loss library: each loss an ``nn.Module`` carrying its ``weight`` (it returns weight × value).

    from lrfr import losses
    pixel = losses.build_loss("l1", weight=1.0)
    vgg = losses.build_extractor("vgg19", layer="relu3_4", weights="vgg19_imagenet.pth")
    net = lrfr.recognition.load(weights=lrfr.weights.packaged_path(lrfr.weights.DEFAULT_RECOGNIZER))
    feat = losses.build_extractor("recognizer", recognizer=net)        # offline default
    perceptual = losses.build_loss("perceptual", extractor=feat, criterion="mse", weight=1.0)
    gan = losses.build_loss("gan", kind="ragan", weight=0.1)
    identity = losses.build_loss("super_identity", recognizer=net, weight=0.05)

    d_loss = gan.discriminator(D(hr), D(sr.detach()))                       # unweighted
    g_loss = pixel(sr, hr) + perceptual(sr, hr) + gan.generator(D(hr), D(sr)) + identity(sr, hr)

Registered losses (``LOSS_REGISTRY``): ``l1``, ``mse``, ``charbonnier`` (:mod:`.pixel`),
``perceptual`` (:mod:`.perceptual`), ``gan`` (:mod:`.adversarial`: vanilla, ragan, wgan; plus
:func:`gradient_penalty` for WGAN-GP), ``super_identity`` (:mod:`.identity`), ``cface`` (:mod:`.cface`),
``facial_attention`` and ``heatmap`` (:mod:`.landmark`, PFSR), ``parsing_prior`` (:mod:`.parsing`, papers/003 eq. 3.6).
Feature extractors (``EXTRACTOR_REGISTRY``): ``vgg19``, ``recognizer`` (:mod:`.features`).

``build_loss`` / ``build_extractor`` refuse unknown names (``KeyError`` listing the known ones)
and unknown keyword arguments (``TypeError`` naming them). Registration is by the explicit
imports below.
"""
from __future__ import annotations

from typing import Any

from lrfr.registry import Registry

LOSS_REGISTRY = Registry("loss")
EXTRACTOR_REGISTRY = Registry("feature extractor")

from lrfr.losses.adversarial import GAN_KINDS, GANLoss, gradient_penalty  # noqa: E402
from lrfr.losses.base import WeightedLoss  # noqa: E402
from lrfr.losses.cface import CFaceLoss, cface_terms  # noqa: E402
from lrfr.losses.features import RecognizerFeatures, VGG19Features, vgg19_layers  # noqa: E402
from lrfr.losses.identity import SuperIdentityLoss, normalized_distance  # noqa: E402
from lrfr.losses.parsing import ParsingPriorLoss  # noqa: E402
from lrfr.losses.landmark import FacialAttentionLoss, HeatmapLoss, attention_map, minmax_normalize  # noqa: E402
from lrfr.losses.perceptual import PerceptualLoss  # noqa: E402
from lrfr.losses.pixel import CharbonnierLoss, L1Loss, MSELoss  # noqa: E402

#: the pixel losses by name: registered from this one table, and the choices of every config's ``pixel`` key
PIXEL_LOSS_CLASSES = {"mse": MSELoss, "l1": L1Loss, "charbonnier": CharbonnierLoss}
PIXEL_LOSSES = tuple(PIXEL_LOSS_CLASSES)
for _name, _cls in PIXEL_LOSS_CLASSES.items():
    LOSS_REGISTRY.register(_name)(_cls)
LOSS_REGISTRY.register("perceptual")(PerceptualLoss)
LOSS_REGISTRY.register("gan")(GANLoss)
LOSS_REGISTRY.register("super_identity")(SuperIdentityLoss)
LOSS_REGISTRY.register("cface")(CFaceLoss)
LOSS_REGISTRY.register("parsing_prior")(ParsingPriorLoss)
LOSS_REGISTRY.register("facial_attention")(FacialAttentionLoss)
LOSS_REGISTRY.register("heatmap")(HeatmapLoss)

EXTRACTOR_REGISTRY.register("vgg19")(VGG19Features)
EXTRACTOR_REGISTRY.register("recognizer")(RecognizerFeatures)


def build_loss(name: str, **kwargs: Any) -> WeightedLoss:
    """Build a registered loss; unknown names raise ``KeyError``, unknown arguments ``TypeError``."""
    return LOSS_REGISTRY.build(name, **kwargs)


def build_extractor(name: str, **kwargs: Any):
    """Build a registered frozen feature extractor (``vgg19`` or ``recognizer``), strictly like :func:`build_loss`."""
    return EXTRACTOR_REGISTRY.build(name, **kwargs)


__all__ = [
    "LOSS_REGISTRY", "EXTRACTOR_REGISTRY", "build_loss", "build_extractor",
    "L1Loss", "MSELoss", "CharbonnierLoss", "PerceptualLoss", "GANLoss", "GAN_KINDS", "PIXEL_LOSSES", "gradient_penalty",
    "SuperIdentityLoss", "normalized_distance", "VGG19Features", "RecognizerFeatures", "vgg19_layers",
    "WeightedLoss", "CFaceLoss", "cface_terms",
    "FacialAttentionLoss", "HeatmapLoss", "attention_map", "minmax_normalize",
]
