"""The super-identity loss L_SI (Zhang et al. 2018, SICNN; as written in C-Face, papers/004 eq. 4).

    L_SI(I^HR, I^SR) = ‖ φ(I^SR)/‖φ(I^SR)‖₂ − φ(I^HR)/‖φ(I^HR)‖₂ ‖₂²          (eq. 4)

φ is the identity feature of the recognizer CNN^R — "the output of the fully connected layer
before the classification" (papers/004, below eq. 3), i.e. an lrfr recognizer's embedding.
Per pair the value lies in [0, 4] (= 2 − 2·cos). The paper writes it for one pair; lrfr's
batch reduction is the mean over pairs (lrfr's choice, the usual one). C-Face calls this
"the normalized Euclidean distance" and reuses it in its own loss (eq. 6, in the C-Face
issue), so the per-pair distance is public: :func:`normalized_distance`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lrfr.losses.base import WeightedLoss
from lrfr.recognition.base import Recognizer

__all__ = ["SuperIdentityLoss", "normalized_distance"]


def normalized_distance(f_a: torch.Tensor, f_b: torch.Tensor) -> torch.Tensor:
    """Per-row ``‖f_a/‖f_a‖₂ − f_b/‖f_b‖₂‖₂²`` of two ``(N, D)`` feature batches → ``(N,)`` float32.

    The inner quantity of papers/004 eq. (4). Rows are flattened if they have more than one
    dimension; a zero row is normalized with ``F.normalize``'s ε (1e-12), so it stays finite.
    """
    if not (torch.is_tensor(f_a) and torch.is_tensor(f_b)):
        raise TypeError("normalized_distance expects two feature tensors")
    if f_a.dim() < 2 or f_a.shape != f_b.shape:
        raise ValueError(f"normalized_distance expects two (N, D) feature batches of one shape; got "
                         f"{tuple(f_a.shape)} and {tuple(f_b.shape)}")
    a = F.normalize(f_a.float().flatten(1), p=2, dim=1)
    b = F.normalize(f_b.float().flatten(1), p=2, dim=1)
    return (a - b).pow(2).sum(dim=1)


class SuperIdentityLoss(WeightedLoss):
    """``weight · mean_i L_SI(HR_i, SR_i)`` on a recognizer's embeddings (papers/004 eq. 4).

    Parameters
    ----------
    recognizer : an lrfr :class:`~lrfr.recognition.base.Recognizer` (CNN^R); the SR and HR
        images must be at its ``input_size``. Features go through ``forward_trusted`` (shape
        check only, no device sync), so gradients flow to the SR image.
    weight : the loss's coefficient (γ₁ of C-Face eq. 6 when used alone: 0.05 in stages 1 and 4).
    trainable : ``False`` (default) freezes the recognizer **in place** — ``requires_grad=False``,
        eval mode, kept in eval when this module is ``.train()``-ed. ``True`` leaves its
        parameters and mode to the caller (C-Face stage 4 fine-tunes CNN^R, papers/004
        Algorithm 1): gradients of this loss then reach the recognizer's parameters too, and the
        HR features are computed with gradients; which optimizer steps them is the recipe's choice.

    ``forward(sr, hr=None, hr_features=None)``: give either the HR images or their features
    (e.g. cached from :meth:`target_features` — valid while the recognizer is frozen).
    """

    def __init__(self, recognizer: Recognizer, weight: float = 1.0, trainable: bool = False):
        super().__init__(weight)
        if not isinstance(recognizer, Recognizer):
            raise TypeError(f"SuperIdentityLoss needs an lrfr Recognizer (lrfr.recognition.build/load); "
                            f"got {type(recognizer).__name__}")
        if not isinstance(trainable, bool):
            raise ValueError(f"trainable must be True or False; got {trainable!r}")
        self.recognizer = recognizer
        self.trainable = trainable
        if not trainable:
            recognizer.requires_grad_(False)
            recognizer.train(False)

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}, trainable={self.trainable}"

    def train(self, mode: bool = True) -> "SuperIdentityLoss":
        super().train(mode)
        if not self.trainable:
            self.recognizer.train(False)
        return self

    def target_features(self, hr: torch.Tensor) -> torch.Tensor:
        """The recognizer's features of the HR images (no gradients unless ``trainable``)."""
        if self.trainable:
            return self.recognizer.forward_trusted(hr)
        with torch.no_grad():
            return self.recognizer.forward_trusted(hr)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor | None = None,
                hr_features: torch.Tensor | None = None) -> torch.Tensor:
        if (hr is None) == (hr_features is None):
            raise ValueError("SuperIdentityLoss needs exactly one of hr (images) or hr_features (their features)")
        sr_features = self.recognizer.forward_trusted(sr)
        if hr_features is None:
            hr_features = self.target_features(hr)
        # papers/004 eq. (4), averaged over the batch
        return self.weight * normalized_distance(sr_features, hr_features).mean()
