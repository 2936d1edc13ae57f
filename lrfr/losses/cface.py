"""The C-Face loss L_CF ("compare face", papers/004 §3.2, eqs. 5 and 6).

For a triplet (I_o^LR, I_o^HR, I_c^HR) — an input, its HR face, and a compare face of the same
identity (:class:`lrfr.index.miner.CompareFaceMiner`) — with I_o^SR = N^SR(I_o^LR) and
L_SI(a, b) the normalized Euclidean distance of CNN^R's identity features (eq. 4,
:func:`lrfr.losses.identity.normalized_distance`)::

    L_CF = γ1·L_SI(SR_o, HR_o) + γ2·max(L_SI(SR_o, HR_c) − L_SI(HR_o, HR_c), 0)   (eq. 6, the final form)
    L_CF = γ1·L_SI(SR_o, HR_o) + γ2·L_SI(SR_o, HR_c)                              (eq. 5, ``hinge=False``)

and C-Face's generator objective is ``L_total = α·L_GAN + β·L_P + L_CF`` (eq. 7; the recipe,
:mod:`lrfr.recipes.cface.stages`, writes that sum).

From the paper: the two forms; φ = "the output of the fully connected layer before the
classification" of CNN^R (an lrfr recognizer's embedding, taken through ``forward_trusted`` so
gradients reach the SR image); γ1 = 0.05, γ2 = 0.1 in stage 1 and γ1 = γ2 = 0.05 in stage 4
(§4.2; the defaults here are stage 1's); L_SI(HR_o, HR_c) as the lower bound of the second term.

lrfr's reading where the paper is silent:

* The hinge is taken **per triplet**, and each term is then averaged over the batch (the paper
  writes the loss for one triplet).
* L_SI(HR_o, HR_c) is a constant for N^SR, and CNN^R is never trained by L_CF (Algorithm 1
  trains it with L_FR only), so the HR-side features are computed without gradients; give them
  precomputed (``hr_features=``, ``compare_features=``) when CNN^R is frozen — stage 1 caches them.
* ``terms`` also reports the unweighted means of the three distances and the fraction of
  triplets whose hinge is active (L_SI(SR_o, HR_c) > L_SI(HR_o, HR_c)), for the training log.
"""
from __future__ import annotations

import torch

from lrfr.losses.base import WeightedLoss, check_weight
from lrfr.losses.identity import normalized_distance
from lrfr.recognition.base import Recognizer

__all__ = ["CFaceLoss", "cface_terms"]


def cface_terms(sr_features: torch.Tensor, hr_features: torch.Tensor, compare_features: torch.Tensor, *,
                gamma1: float, gamma2: float, hinge: bool = True) -> dict[str, torch.Tensor]:
    """Eq. (6) (or eq. (5) with ``hinge=False``) on ``(N, D)`` identity features of SR_o, HR_o and HR_c.

    Returns ``{"cface": L_CF (mean over the batch), "si_sr_hr", "si_sr_compare", "si_hr_compare"
    (unweighted batch means of the three L_SI distances), "hinge_active" (fraction of triplets with
    L_SI(SR_o, HR_c) > L_SI(HR_o, HR_c))}``, all 0-d float32 tensors.
    """
    d_sr_hr = normalized_distance(sr_features, hr_features)           # L_SI(SR_o, HR_o), eq. (4)
    d_sr_c = normalized_distance(sr_features, compare_features)       # L_SI(SR_o, HR_c)
    d_hr_c = normalized_distance(hr_features, compare_features)       # L_SI(HR_o, HR_c), the lower bound
    if hinge:
        compare = torch.clamp(d_sr_c - d_hr_c, min=0.0)               # eq. (6)
    else:
        compare = d_sr_c                                              # eq. (5)
    total = gamma1 * d_sr_hr.mean() + gamma2 * compare.mean()
    return {
        "cface": total,
        "si_sr_hr": d_sr_hr.mean().detach(),
        "si_sr_compare": d_sr_c.mean().detach(),
        "si_hr_compare": d_hr_c.mean().detach(),
        "hinge_active": (d_sr_c > d_hr_c).float().mean().detach(),
    }


class CFaceLoss(WeightedLoss):
    """``weight · L_CF`` on a recognizer's embeddings (papers/004 eq. 6; eq. 5 with ``hinge=False``).

    Parameters
    ----------
    recognizer : CNN^R, an lrfr :class:`~lrfr.recognition.base.Recognizer`; images at its ``input_size``, in [0, 1].
    gamma1, gamma2 : γ1, γ2 of eq. (6) (paper: 0.05 and 0.1 in stage 1, 0.05 and 0.05 in stage 4).
    hinge : ``True`` = eq. (6) (the paper's final form), ``False`` = eq. (5).
    trainable : ``False`` (default) freezes the recognizer in place (``requires_grad=False``, eval mode,
        kept in eval when this module is ``.train()``-ed). ``True`` leaves its parameters and mode to the
        caller (C-Face stage 4 fine-tunes CNN^R with L_FR between generator steps); the recipe then
        switches its gradients off for the generator step, so L_CF never trains it.
    weight : overall coefficient (1 in eq. 7, where L_CF enters the total unscaled).

    ``forward(sr, hr=None, compare=None, *, hr_features=None, compare_features=None)``: give each of the
    HR and compare sides either as images or as features (e.g. cached while CNN^R is frozen).
    """

    def __init__(self, recognizer: Recognizer, gamma1: float = 0.05, gamma2: float = 0.1, hinge: bool = True,
                 trainable: bool = False, weight: float = 1.0):
        super().__init__(weight)
        if not isinstance(recognizer, Recognizer):
            raise TypeError(f"CFaceLoss needs an lrfr Recognizer (lrfr.recognition.build/load); "
                            f"got {type(recognizer).__name__}")
        for name, value in (("hinge", hinge), ("trainable", trainable)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False; got {value!r}")
        self.gamma1 = check_weight(gamma1, "gamma1")
        self.gamma2 = check_weight(gamma2, "gamma2")
        self.hinge = hinge
        self.trainable = trainable
        self.recognizer = recognizer
        if not trainable:
            recognizer.requires_grad_(False)
            recognizer.train(False)

    def extra_repr(self) -> str:
        return (f"gamma1={self.gamma1:g}, gamma2={self.gamma2:g}, hinge={self.hinge} "
                f"(eq. {6 if self.hinge else 5}), trainable={self.trainable}, weight={self.weight:g}")

    def train(self, mode: bool = True) -> "CFaceLoss":
        super().train(mode)
        if not self.trainable:
            self.recognizer.train(False)
        return self

    @torch.no_grad()
    def target_features(self, images: torch.Tensor) -> torch.Tensor:
        """CNN^R's features of HR-side images (HR_o or HR_c), without gradients."""
        return self.recognizer.forward_trusted(images)

    def _side(self, images, features, what: str) -> torch.Tensor:
        if (images is None) == (features is None):
            raise ValueError(f"CFaceLoss needs exactly one of {what} (images) or {what}_features (their features)")
        return self.target_features(images) if features is None else features

    def terms(self, sr: torch.Tensor, hr: torch.Tensor | None = None, compare: torch.Tensor | None = None, *,
              hr_features: torch.Tensor | None = None,
              compare_features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The loss (``"cface"``, times ``weight``) and its logged parts (see :func:`cface_terms`)."""
        f_hr = self._side(hr, hr_features, "hr")
        f_c = self._side(compare, compare_features, "compare")
        f_sr = self.recognizer.forward_trusted(sr)
        out = cface_terms(f_sr, f_hr.to(f_sr.device), f_c.to(f_sr.device), gamma1=self.gamma1, gamma2=self.gamma2,
                          hinge=self.hinge)
        out["cface"] = self.weight * out["cface"]
        return out

    def forward(self, sr: torch.Tensor, hr: torch.Tensor | None = None, compare: torch.Tensor | None = None, *,
                hr_features: torch.Tensor | None = None, compare_features: torch.Tensor | None = None) -> torch.Tensor:
        return self.terms(sr, hr, compare, hr_features=hr_features, compare_features=compare_features)["cface"]
