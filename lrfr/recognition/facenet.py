"""Adapter: facenet-pytorch's ``InceptionResnetV1`` as an lrfr :class:`Recognizer`.

facenet-pytorch (Tim Esler) ports David Sandberg's FaceNet Inception-ResNet-v1 (512-d,
L2-normalized outputs). Its conventions, kept here: **160×160** RGB crops (MTCNN margin
crops, not SphereFace's 112×96 alignment — feeding 112×96 faces is caught by the input
contract), ``fixed_image_standardization`` = (255·x − 127.5) / 128.

No weights are ever downloaded: the network is built with ``pretrained=None`` and the user
supplies the state dict file, e.g. facenet-pytorch's release ``20180402-114759-vggface2.pt``
(or ``20180408-102900-casia-webface.pt``)::

    net = lrfr.recognition.load("inception_resnet_v1", weights="path/to/20180402-114759-vggface2.pt")

Those files are bare ``InceptionResnetV1`` state dicts that also carry the training
classifier ``logits.*``; lrfr drops the classifier (embeddings only) when loading them.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from facenet_pytorch.models.inception_resnet_v1 import InceptionResnetV1  # ImportError → not registered

from lrfr.recognition.base import Recognizer

__all__ = ["FaceNetInceptionResnetV1", "inception_resnet_v1", "MISSING_WEIGHTS_HELP"]

MISSING_WEIGHTS_HELP = (
    "inception_resnet_v1 needs weights supplied by you — lrfr never downloads them. Download "
    "facenet-pytorch's VGGFace2 state dict '20180402-114759-vggface2.pt' (from the facenet-pytorch "
    "v2.2.9 GitHub release; or '20180408-102900-casia-webface.pt'), put it anywhere (e.g. "
    "~/.cache/lrfr/20180402-114759-vggface2.pt) and pass its path: "
    "lrfr.recognition.load('inception_resnet_v1', weights=PATH) or "
    "build('inception_resnet_v1', weights=PATH). For an untrained network use "
    "build('inception_resnet_v1', random_init=True)."
)


class FaceNetInceptionResnetV1(Recognizer):
    """InceptionResnetV1 (facenet-pytorch, ``pretrained=None``) behind lrfr's input contract.

    State dict keys are facenet-pytorch's prefixed with ``net.``; bare facenet-pytorch state
    dicts are adapted on load (:meth:`adapt_foreign_state_dict`).
    """

    input_size = (160, 160)
    embedding_dim = 512
    pixel_mean = 127.5
    pixel_std = 128.0

    def __init__(self, dropout_prob: float = 0.6):
        super().__init__()
        self.arch = "inception_resnet_v1"
        self.build_kwargs = {"dropout_prob": float(dropout_prob)}
        self.net = InceptionResnetV1(pretrained=None, classify=False, num_classes=None,
                                     dropout_prob=dropout_prob)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @staticmethod
    def adapt_foreign_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """facenet-pytorch file → this module's keys: add ``net.``, drop the ``logits.*`` classifier."""
        out = {}
        for k, v in state.items():
            bare = k[4:] if k.startswith("net.") else k
            if bare.startswith("logits."):
                continue
            out["net." + bare] = v
        return out


def inception_resnet_v1(weights: str | Path | None = None, random_init: bool = False,
                        dropout_prob: float = 0.6) -> FaceNetInceptionResnetV1:
    """Build the adapter. ``weights=PATH`` loads a user-supplied state dict (eval mode);
    without weights this raises (with instructions) unless ``random_init=True``."""
    if weights is not None:
        from lrfr.recognition import load

        return load("inception_resnet_v1", weights=weights, dropout_prob=dropout_prob)
    if not random_init:
        raise FileNotFoundError(MISSING_WEIGHTS_HELP)
    return FaceNetInceptionResnetV1(dropout_prob=dropout_prob)


#: what lrfr.recognition.load builds before loading weights into it
inception_resnet_v1.skeleton = FaceNetInceptionResnetV1
