"""Margin heads: A-Softmax (angular softmax, SphereFace; Liu et al., CVPR 2017) with its λ annealing
schedule, and the combined margin of SphereFace, ArcFace and CosFace (:class:`CombinedMarginLinear`).

The classifier head :class:`AngleLinear` turns a feature ``x`` into logits over classes whose
weight vectors ``W_j`` are L2-normalized (features are **not** normalized):

* non-target class ``j``:  ``‖x‖ cos θ_j``
* target class ``y``:      ``(λ ‖x‖ cos θ_y + ‖x‖ ψ(θ_y)) / (1 + λ)``

with ``ψ(θ) = (−1)^k cos(mθ) − 2k`` for ``θ ∈ [kπ/m, (k+1)π/m]``, ``k ∈ {0, …, m−1}`` — a
monotonically decreasing, continuous extension of ``cos(mθ)`` to ``[0, π]`` (paper, eq. 7).
The loss is ``F.cross_entropy(logits, labels)`` (paper, eq. 6/7; C-Face paper 004, eq. 3).

λ anneals from softmax-like training towards the full margin:
``λ = max(λ_min, base · (1 + γ · it)^(−power))``.

Provenance
----------
From the paper and its public Caffe release (``sphereface_train.prototxt``, layer
``MarginInnerProduct``): ``m = 4``, ``base = 1000``, ``gamma = 0.12``, ``power = 1``,
``lambda_min = 5``; ``ψ`` as above; weights normalized, features not; ``cos(mθ)`` as a Chebyshev
polynomial of ``cos θ`` (the Caffe layer computes it this way too).

Chosen by lrfr (not specified by the paper):

* The weight is stored as ``(in_features, out_features)`` and its **columns** are normalized,
  mirroring the paper's notation ``W_j`` (column ``j`` per class).
* **When the counter advances**: ``iteration`` is a registered buffer (so it is in the
  ``state_dict`` and survives checkpoint/resume). Each forward in training mode *with labels*
  uses ``λ(iteration)`` and then increments ``iteration`` by one. Hence the first training
  forward uses ``it = 0`` → ``λ = base``. (Caffe increments before computing, i.e. its first
  iteration uses ``it = 1``; the difference is one step of a 1000→5 schedule.) Eval-mode
  forwards and forwards without labels never advance it. :attr:`AngleLinear.lambda_` is the
  λ the *next* training forward will use.
* Numerical safety: ``cos θ`` is clamped to ``[−1, 1]``; ``k`` is computed without gradient from
  ``acos`` of ``cos θ`` clamped to ``[−1+1e-7, 1−1e-7]`` and then clamped to ``[0, m−1]`` (so
  ``θ = π`` lands in the last interval); ``‖x‖`` is computed as ``sqrt(max(Σx², eps²))`` so
  zero features give zero logits and finite (zero) gradients instead of NaN.
* Initialization: weight ~ U(−1, 1) then column-normalized (only directions matter).
* Logits are computed in float32 even under autocast (bf16 cannot resolve θ near 0 for m = 4).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AngleLinear", "AngleSoftmaxLoss", "CombinedMarginLinear", "HEADS", "build_head", "cos_m_theta",
           "psi_from_cos", "lambda_schedule"]

_EPS = 1e-12


def cos_m_theta(cos: torch.Tensor, m: int) -> torch.Tensor:
    """``cos(mθ)`` from ``cos θ`` by the Chebyshev polynomial T_m (no ``acos``; smooth gradients)."""
    if m == 1:
        return cos
    if m == 2:
        return 2 * cos**2 - 1
    if m == 3:
        return (4 * cos**2 - 3) * cos
    if m == 4:
        c2 = cos**2
        return 8 * c2 * c2 - 8 * c2 + 1
    raise ValueError(f"A-Softmax margin m must be 1, 2, 3 or 4; got {m!r}")


def psi_from_cos(cos: torch.Tensor, m: int) -> torch.Tensor:
    """ψ(θ) = (−1)^k cos(mθ) − 2k, θ ∈ [kπ/m, (k+1)π/m], evaluated from ``cos θ``.

    ``k`` is an integer (no gradient flows through it), so ψ's gradient is that of the
    Chebyshev polynomial times ±1.
    """
    cos = cos.clamp(-1.0, 1.0)
    with torch.no_grad():
        theta = torch.acos(cos.clamp(-1.0 + 1e-7, 1.0 - 1e-7))
        k = torch.floor(theta * m / math.pi).clamp_(0, m - 1)
        sign = 1.0 - 2.0 * torch.remainder(k, 2)  # (−1)^k
    return sign * cos_m_theta(cos, m) - 2.0 * k


def lambda_schedule(iteration: int | float, base: float = 1000.0, gamma: float = 0.12,
                    power: float = 1.0, lambda_min: float = 5.0) -> float:
    """λ = max(λ_min, base · (1 + γ · it)^(−power)) — SphereFace's annealing."""
    return max(float(lambda_min), float(base) * (1.0 + float(gamma) * float(iteration)) ** (-float(power)))


class AngleLinear(nn.Module):
    """A-Softmax classifier head: features ``(N, in_features)`` → logits ``(N, out_features)``.

    ``forward(x, labels=None)``: the margin (ψ with λ-annealing) is applied to the target logit
    only when ``labels`` are given **and** the module is in training mode; otherwise all logits
    are ``‖x‖ cos θ_j``. Train with ``F.cross_entropy(head(x, y), y)`` (or :class:`AngleSoftmaxLoss`).

    See the module docstring for which values come from the paper and which lrfr chose.
    """

    def __init__(self, in_features: int, out_features: int, m: int = 4, base: float = 1000.0,
                 gamma: float = 0.12, power: float = 1.0, lambda_min: float = 5.0):
        super().__init__()
        if m not in (1, 2, 3, 4):
            raise ValueError(f"A-Softmax margin m must be 1, 2, 3 or 4; got {m!r}")
        if lambda_min < 0 or base < 0:
            raise ValueError("base and lambda_min must be non-negative")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.m = int(m)
        self.base = float(base)
        self.gamma = float(gamma)
        self.power = float(power)
        self.lambda_min = float(lambda_min)
        self.weight = nn.Parameter(torch.empty(self.in_features, self.out_features))
        # Training-iteration counter for the λ schedule; a buffer so it is saved and restored.
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.uniform_(-1.0, 1.0)
            self.weight.copy_(F.normalize(self.weight, dim=0))

    @property
    def lambda_(self) -> float:
        """λ that the next training-mode forward with labels will use."""
        return lambda_schedule(int(self.iteration), self.base, self.gamma, self.power, self.lambda_min)

    def cosine(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cos θ (N, C), ‖x‖ (N, 1))`` with safe norms and ``cos θ`` clamped to [−1, 1]."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"AngleLinear expects features (N, {self.in_features}); got {tuple(x.shape)}")
        # Always fp32 (also under autocast): cos θ near ±1 and cos(4θ) need more than bf16's 8 bits.
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            w = F.normalize(self.weight.float(), dim=0, eps=_EPS)
            xnorm = x.pow(2).sum(dim=1, keepdim=True).clamp_min(_EPS**2).sqrt()
            cos = (x @ w) / xnorm
        return cos.clamp(-1.0, 1.0), xnorm

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos, xnorm = self.cosine(x)
        if labels is None or not self.training:
            return cos * xnorm
        labels = labels.to(device=x.device, dtype=torch.long).reshape(-1, 1)
        lam = self.lambda_
        with torch.no_grad():
            self.iteration += 1
        cos_t = cos.gather(1, labels)
        target = (lam * cos_t + psi_from_cos(cos_t, self.m)) / (1.0 + lam)
        adjusted = cos.scatter(1, labels, target)
        return adjusted * xnorm

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, m={self.m}, "
                f"base={self.base}, gamma={self.gamma}, power={self.power}, lambda_min={self.lambda_min}")


class AngleSoftmaxLoss(nn.Module):
    """Convenience: an :class:`AngleLinear` head plus cross-entropy. ``loss = crit(features, labels)``.

    In eval mode (or without margin) this is plain softmax CE over ``‖x‖ cos θ`` logits.
    """

    def __init__(self, in_features: int, num_classes: int, **kwargs):
        super().__init__()
        self.head = AngleLinear(in_features, num_classes, **kwargs)

    @property
    def lambda_(self) -> float:
        return self.head.lambda_

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.head(features, labels), labels.long())


class CombinedMarginLinear(nn.Module):
    """One margin head for SphereFace, ArcFace and CosFace: features ``(N, in_features)`` → logits ``(N, C)``.

    Features and class weights are L2-normalised, so every logit is ``s · cos θ_j``; in training mode with
    labels the target class's becomes ``s · (cos(m1 θ_y + m2) − m3)``:

    * ``m1`` — SphereFace's multiplicative angular margin (``m1 = 1``: none),
    * ``m2`` — ArcFace's additive angular margin (Deng et al., CVPR 2019; 0.5 in the paper),
    * ``m3`` — CosFace's additive cosine margin (Wang et al., CVPR 2018; 0.35 in the paper),
    * ``s`` — the scale of the normalised logits (64 in both papers).

    The combination in one formula is the one insightface's ``arcface_torch`` trains with; this
    implementation is lrfr's. lrfr's choices: beyond ``θ_t = (π − m2) / m1``, where ``cos(m1 θ + m2)``
    would turn back up, the target logit continues as ``cos θ − cos θ_t − 1 − m3`` (continuous at ``θ_t``
    and decreasing, so a face pushed far from its class is never rewarded); ``θ`` from ``acos`` of
    ``cos θ`` clamped to ``[−1 + 1e-7, 1 − 1e-7]``; logits in float32 under autocast; weights ~ N(0, 0.01)
    then normalised, or set from class centres with :meth:`set_centres`.
    Labels below 0 (faces without identity) have no target and must be dropped by the caller.
    """

    def __init__(self, in_features: int, out_features: int, s: float = 64.0, m1: float = 1.0, m2: float = 0.5,
                 m3: float = 0.0):
        super().__init__()
        if s <= 0 or m1 < 1 or not 0 <= m2 < math.pi or m3 < 0:
            raise ValueError(f"combined margin needs s > 0, m1 >= 1, 0 <= m2 < pi, m3 >= 0; got s={s}, m1={m1}, "
                             f"m2={m2}, m3={m3}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.s, self.m1, self.m2, self.m3 = float(s), float(m1), float(m2), float(m3)
        self.weight = nn.Parameter(torch.empty(self.in_features, self.out_features))
        with torch.no_grad():
            self.weight.normal_(0.0, 0.01)

    def set_centres(self, centres: torch.Tensor) -> None:
        """Start each class's weight at its centre ``(C, in_features)`` (e.g. a frozen teacher's mean embedding
        of the class), so the first steps pull faces towards where the teacher already puts them."""
        if centres.shape != (self.out_features, self.in_features):
            raise ValueError(f"centres must be ({self.out_features}, {self.in_features}); got {tuple(centres.shape)}")
        with torch.no_grad():
            self.weight.copy_(F.normalize(centres.float(), dim=1).t())

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"CombinedMarginLinear expects features (N, {self.in_features}); got {tuple(x.shape)}")
        with torch.autocast(device_type=x.device.type, enabled=False):
            cos = F.normalize(x.float(), dim=1, eps=_EPS) @ F.normalize(self.weight.float(), dim=0, eps=_EPS)
        return cos.clamp(-1.0, 1.0)

    def target_logit(self, cos_t: torch.Tensor) -> torch.Tensor:
        """``cos(m1 θ + m2) − m3`` (continued past ``θ_t`` as the class docstring says), before the scale."""
        theta = torch.acos(cos_t.clamp(-1.0 + 1e-7, 1.0 - 1e-7))
        theta_t = (math.pi - self.m2) / self.m1
        inside = torch.cos(self.m1 * theta + self.m2) - self.m3
        beyond = cos_t - math.cos(theta_t) - 1.0 - self.m3
        return torch.where(theta <= theta_t, inside, beyond)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.cosine(x)
        if labels is None or not self.training:
            return self.s * cos
        labels = labels.to(device=x.device, dtype=torch.long).reshape(-1, 1)
        if bool((labels < 0).any()):
            raise ValueError("CombinedMarginLinear: labels below 0 (faces without identity) have no class; drop them")
        adjusted = cos.scatter(1, labels, self.target_logit(cos.gather(1, labels)))
        return self.s * adjusted

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, s={self.s}, m1={self.m1}, "
                f"m2={self.m2}, m3={self.m3}")


#: margin heads by ``[margin] type``
HEADS = ("asoftmax", "combined")


def build_head(type: str, in_features: int, out_features: int, *, m: int = 4, base: float = 1000.0,
               gamma: float = 0.12, power: float = 1.0, lambda_min: float = 5.0, s: float = 64.0, m1: float = 1.0,
               m2: float = 0.5, m3: float = 0.0) -> nn.Module:
    """The margin head a recipe's ``[margin]`` section names: A-Softmax (``m``, λ schedule) or the combined
    margin (``s``, ``m1``, ``m2``, ``m3``); the other type's values are ignored."""
    if type == "asoftmax":
        return AngleLinear(in_features, out_features, m=m, base=base, gamma=gamma, power=power, lambda_min=lambda_min)
    if type == "combined":
        return CombinedMarginLinear(in_features, out_features, s=s, m1=m1, m2=m2, m3=m3)
    raise ValueError(f"unknown margin head {type!r}; known: {', '.join(HEADS)}")
