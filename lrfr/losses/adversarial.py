"""Adversarial losses — one module parameterized by its kind — and WGAN-GP's gradient penalty.

``GANLoss(kind)`` has two methods, both taking the discriminator's raw outputs (logits /
critic values, any shape; every element counts as one sample):

* ``discriminator(real_logits, fake_logits)`` — the discriminator's loss, **unweighted**
  (the discriminator's optimizer minimizes it alone; ``fake_logits`` should come from
  ``D(sr.detach())``);
* ``generator(real_logits, fake_logits)`` — the generator's adversarial term **times
  ``weight``** (the α / γ of the recipe's total: α = 0.1 in C-Face eq. 7, papers/004).
  Calling the module is the same as ``generator``. ``real_logits`` may be detached: real
  images do not depend on G.

Kinds
-----
``vanilla`` (Goodfellow et al. 2014; SRGAN, C-Face's L_GAN, papers/004 eq. 1):
    L_D = −E[log σ(C(real))] − E[log(1 − σ(C(fake)))] (eq. 1's minimax value, negated);
    L_G = −E[log σ(C(fake))] — the non-saturating generator loss of Goodfellow et al. and SRGAN
    (lrfr's reading: eq. 1 prints only the minimax objective). ``real_logits`` is ignored for G
    and may be ``None``.
``ragan`` (relativistic average GAN, Jolicoeur-Martineau 2018; ESRGAN; GAFH-RIDN's RaD,
    papers/001 eqs. 9–11 = papers/000 eqs. 2, 5, 6), with D_Ra(a, b) = σ(C(a) − E[C(b)]):
    L_D = −E_real[log D_Ra(real, fake)] − E_fake[log(1 − D_Ra(fake, real))]   (eq. 10)
    L_G = −E_real[log(1 − D_Ra(real, fake))] − E_fake[log D_Ra(fake, real)]   (eq. 11)
    E[C(·)] is the mean over the whole batch (every element). The two terms are **summed**, as
    in the papers' equations; ESRGAN's public code averages them (a factor ½ the recipe's weight
    can absorb).
``wgan`` (Arjovsky et al. 2017; PFSR's L_WGAN, papers/002 eq. 4):
    L_D = E[C(fake)] − E[C(real)] (add :func:`gradient_penalty` for WGAN-GP);  L_G = −E[C(fake)].
    PFSR's eq. 4 prints the critic's objective with the opposite sign convention (to be
    maximized); lrfr writes both losses to be minimized. ``drift`` > 0 adds ``drift · E[C(real)²]``
    to L_D (keeps the critic's values near 0; ProGAN, and 1e-3 in PFSR's released code).

All values are computed in float32 with ``logsigmoid`` (never log of a sigmoid) for stability.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lrfr.losses.base import WeightedLoss, check_weight

__all__ = ["GANLoss", "GAN_KINDS", "gradient_penalty"]

GAN_KINDS = ("vanilla", "ragan", "wgan")


def _neg_log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """−log σ(x), elementwise (= BCE-with-logits against target 1)."""
    return -F.logsigmoid(x)


def _neg_log_one_minus_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """−log(1 − σ(x)) = −log σ(−x), elementwise (= BCE-with-logits against target 0)."""
    return -F.logsigmoid(-x)


class GANLoss(WeightedLoss):
    """Adversarial loss of kind ``vanilla``, ``ragan`` or ``wgan`` (see the module docstring).

    ``weight`` scales :meth:`generator` only; :meth:`discriminator` is unweighted.
    """

    def __init__(self, kind: str = "vanilla", weight: float = 1.0, drift: float = 0.0):
        super().__init__(weight)
        #: WGAN only: ``drift · E[C(real)²]`` added to the critic's loss (ProGAN's ε_drift; PFSR's code: 1e-3)
        self.drift = check_weight(drift, "drift")
        if kind not in GAN_KINDS:
            raise ValueError(f"unknown GAN kind {kind!r}; known: {', '.join(GAN_KINDS)}")
        self.kind = kind

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, weight={self.weight:g}" + (f", drift={self.drift:g}" if self.drift else "")

    def _logits(self, name: str, x: torch.Tensor | None, needed: bool = True) -> torch.Tensor | None:
        if x is None:
            if needed:
                raise ValueError(f"GANLoss(kind={self.kind!r}) needs {name}")
            return None
        if not torch.is_tensor(x) or x.numel() == 0:
            raise ValueError(f"{name} must be a non-empty tensor of discriminator outputs")
        return x.float()

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss (unweighted). ``fake_logits`` = D(G(x).detach())."""
        real = self._logits("real_logits", real_logits)
        fake = self._logits("fake_logits", fake_logits)
        if self.kind == "vanilla":
            return _neg_log_sigmoid(real).mean() + _neg_log_one_minus_sigmoid(fake).mean()
        if self.kind == "ragan":
            # papers/001 eq. (10): −E[log D_Ra(real, fake)] − E[log(1 − D_Ra(fake, real))]
            return (_neg_log_sigmoid(real - fake.mean()).mean()
                    + _neg_log_one_minus_sigmoid(fake - real.mean()).mean())
        # wgan — the critic's side of papers/002 eq. (4), to be minimized (penalty added separately)
        loss = fake.mean() - real.mean()
        return loss + self.drift * (real**2).mean() if self.drift else loss

    def generator(self, real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
        """``weight ×`` the generator's adversarial loss. ``fake_logits`` = D(G(x)), not detached."""
        fake = self._logits("fake_logits", fake_logits)
        if self.kind == "vanilla":
            value = _neg_log_sigmoid(fake).mean()
        elif self.kind == "ragan":
            real = self._logits("real_logits", real_logits)
            # papers/001 eq. (11): −E[log(1 − D_Ra(real, fake))] − E[log D_Ra(fake, real)]
            value = (_neg_log_one_minus_sigmoid(real - fake.mean()).mean()
                     + _neg_log_sigmoid(fake - real.mean()).mean())
        else:  # wgan
            value = -fake.mean()
        return self.weight * value

    def forward(self, real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`generator` (the weighted term that enters the generator's total)."""
        return self.generator(real_logits, fake_logits)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's penalty ``weight · E[(‖∇_x̂ C(x̂)‖₂ − 1)²]`` (Gulrajani et al. 2017; PFSR, papers/002 eq. 4).

    x̂ = ε·real + (1 − ε)·fake with one ε ~ U[0, 1] per sample, drawn from ``generator`` when
    given (for determinism; it may live on another device than the images). ``real`` and
    ``fake`` are detached; the gradient norm is taken per sample over all of its elements. The
    result is differentiable with respect to the critic's parameters (``create_graph=True``), so
    add it to the discriminator's loss before ``backward()``.

    Computed in float32 with autocast disabled (the squared norm of a half-precision gradient
    loses the precision the penalty is about); the critic must accept float32 input.
    ``weight`` = λ = 10 is Gulrajani et al.'s value; PFSR does not print its λ.
    """
    weight = check_weight(weight)
    if not (torch.is_tensor(real) and torch.is_tensor(fake)) or real.shape != fake.shape or real.dim() < 1:
        raise ValueError(f"gradient_penalty needs real and fake tensors of one shape; got "
                         f"{tuple(getattr(real, 'shape', ()))} and {tuple(getattr(fake, 'shape', ()))}")
    n = real.shape[0]
    shape = (n,) + (1,) * (real.dim() - 1)
    draw_device = generator.device if generator is not None else real.device
    eps = torch.rand(shape, generator=generator, device=draw_device, dtype=torch.float32).to(real.device)
    with torch.autocast(device_type=real.device.type, enabled=False):
        mixed = (eps * real.detach().float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
        scores = critic(mixed)
        (grad,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
        norms = grad.reshape(n, -1).norm(2, dim=1)
        return weight * ((norms - 1) ** 2).mean()
