"""Realistic degradations as a compact, reproducible spec: ``"blur:sigma=1.2,down:bicubic,noise:gauss=0.02,jpeg:q=40"``.

A spec is a chain of steps applied left to right to float RGB images in [0, 1] (each step clamps
its output to [0, 1]). A token with a colon starts a step (``name:value`` or ``name:key=value``);
a token ``key=value`` without a colon adds a parameter to the step before it, so
``"motion:length=9,angle=30,down:bicubic"`` is a motion blur of two parameters followed by a
bicubic down-scaling.

Steps
-----
``blur:sigma=S``
    Gaussian blur, standard deviation ``S`` pixels, kernel radius ``ceil(3 S)``, reflect padding.
``motion:length=L,angle=A``
    Linear motion blur: a line of ``L`` pixels at ``A`` degrees (0 = horizontal, counter-clockwise),
    drawn with bilinear weights and normalized to sum 1, reflect padding.
``down:KERNEL`` (optionally ``,x=F``)
    Down-scaling by :func:`lrfr.data.resample.downsample` with ``method=KERNEL`` (``bicubic`` with
    antialias, ``bicubic_noaa`` without — OpenCV's ``INTER_CUBIC``, Lai et al. 2019's —, ``bilinear``,
    ``bilinear_steps``, ``area``, ``nearest``). The factors of all ``down``
    steps multiply to the evaluation's ``scale``: at most one ``down`` step may leave ``x`` out and
    takes what remains. Every spec has at least one ``down`` step.
``noise:gauss=S`` / ``noise:poisson=P``
    Additive Gaussian noise of standard deviation ``S`` (in [0, 1] units), or Poisson (shot) noise
    with ``P`` photons at white: ``poisson(x P) / P``. Both keys may be given (Poisson first).
``jpeg:q=Q``
    JPEG round trip at quality ``Q`` (1–95) through Pillow (its default 4:2:0 chroma subsampling);
    the output is on the 1/255 grid.

A value ``a~b`` is drawn per image, uniformly (integers for ``q`` and ``length``), so a training
recipe can sample a family of degradations: ``"blur:sigma=0.5~2,down:bicubic,noise:gauss=0~0.03,jpeg:q=30~90"``.
A two-stage chain (the "second-order" degradation of Real-ESRGAN-style pipelines) is two such
chains one after the other, each with its share of the scale:
``"blur:sigma=1,down:bicubic,x=2,noise:gauss=0.01,jpeg:q=60,blur:sigma=0.8,down:bilinear,noise:gauss=0.01,jpeg:q=40"``.

The legacy names ``"bicubic"`` and ``"bilinear_steps"`` are the one-step specs ``down:bicubic`` and
``down:bilinear_steps`` and give exactly the bytes :func:`~lrfr.data.resample.downsample` gives.

Sizes instead of a scale: :func:`apply_degradation` ``(hr, spec=..., size=(h, w), seeds=...)`` takes the
LR size itself, so the factor need not be an integer (a 112×96 face to 17×15); the spec then has one
``down`` step, without ``x``. Training recipes draw a size per face (:func:`draw_lr_sizes`).

Families: a :class:`DegradationMix` (``{spec: share}``, what is left to a base spec) draws one spec per
face, so a training set meets every family in its stated share (:func:`parse_mix`).

Reproducibility: every random draw of an image (sampled parameters, noise) comes from a
``torch.Generator`` seeded with that image's own seed, so the same spec and seed give the same
bytes whatever the batch composition or order. :func:`image_seed` derives a seed from a base seed
and a key (an image name for evaluation; ``(seed, step, index)`` for training).

Provenance: the step kinds follow the degradation models common in blind face restoration and
real-world SR (blur → down-scale → noise → JPEG, optionally twice). The spec syntax, parameter
names, kernel construction and defaults are lrfr's own choices; no paper's values are copied.
"""
from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lrfr.config import ConfigError
from lrfr.data.resample import DOWN_METHODS, downsample
from lrfr.errors import LrfrError

#: old ``degrade=`` names, each a one-step spec
LEGACY = {"bicubic": "down:bicubic", "bilinear_steps": "down:bilinear_steps"}

#: step → (positional key or None, {key: kind}); kind: "float" | "int" | "kernel"
STEPS: dict[str, tuple[str | None, dict[str, str]]] = {
    "blur": ("sigma", {"sigma": "float"}),
    "motion": ("length", {"length": "int", "angle": "float"}),
    "down": ("kernel", {"kernel": "kernel", "x": "int"}),
    "noise": ("gauss", {"gauss": "float", "poisson": "float"}),
    "jpeg": ("q", {"q": "int"}),
}

#: accepted range of every numeric parameter (inclusive)
LIMITS = {"sigma": (0.0, 20.0), "length": (1, 51), "angle": (-360.0, 360.0), "x": (1, 64),
          "gauss": (0.0, 1.0), "poisson": (1e-3, 1e6), "q": (1, 95)}

EXAMPLE = "blur:sigma=1.2,down:bicubic,noise:gauss=0.02,jpeg:q=40"


class DegradationSpecError(LrfrError, ConfigError):
    """A degradation spec that cannot be parsed; the message names the spec, the token and what was expected."""


@dataclass(frozen=True)
class Step:
    name: str
    params: tuple[tuple[str, object], ...]  # (key, value | (lo, hi)) in the order STEPS lists them

    def get(self, key: str, default=None):
        return dict(self.params).get(key, default)

    @property
    def random(self) -> bool:
        return self.name == "noise" or any(isinstance(v, tuple) for _, v in self.params)

    def __str__(self) -> str:
        def fmt(v):
            return f"{v[0]:g}~{v[1]:g}" if isinstance(v, tuple) else (v if isinstance(v, str) else f"{v:g}")

        parts = [f"{k}={fmt(v)}" for k, v in self.params]
        if self.name == "down":  # the kernel reads best without its key
            parts[0] = str(self.get("kernel"))
        return f"{self.name}:" + ",".join(parts)


@dataclass(frozen=True)
class DegradationSpec:
    """A parsed spec; ``str(spec)`` is its canonical text (what result rows carry)."""

    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return ",".join(str(s) for s in self.steps)

    @property
    def random(self) -> bool:
        """Whether images need a seed (noise, or a parameter drawn per image)."""
        return any(s.random for s in self.steps)

    def factors(self, scale: int) -> list[int]:
        """The factor of each ``down`` step for an overall ``scale``."""
        downs = [s for s in self.steps if s.name == "down"]
        fixed = [s.get("x") for s in downs if s.get("x") is not None]
        free = len(downs) - len(fixed)
        prod = math.prod(fixed)
        if free == 0 and prod != scale or free == 1 and scale % prod:
            raise DegradationSpecError(
                f"degradation {str(self)!r}: the down steps' factors ({' × '.join(map(str, fixed))}) do not make "
                f"scale {scale}; give factors multiplying to {scale}, or leave x= off one down step")
        return [s.get("x") if s.get("x") is not None else scale // prod for s in downs]


def _number(spec: str, key: str, kind: str, text: str):
    lo_hi = text.split("~")
    try:
        vals = [int(v) if kind == "int" else float(v) for v in lo_hi]
    except ValueError:
        raise DegradationSpecError(
            f"degradation {spec!r}: {key}={text!r} is not {'an integer' if kind == 'int' else 'a number'} "
            f"(or a range a~b)") from None
    if len(vals) > 2 or len(vals) == 2 and vals[0] > vals[1]:
        raise DegradationSpecError(f"degradation {spec!r}: {key}={text!r}: a range is written lo~hi with lo <= hi")
    lo, hi = LIMITS[key]
    if not all(lo <= v <= hi for v in vals):
        raise DegradationSpecError(f"degradation {spec!r}: {key}={text} is outside [{lo:g}, {hi:g}]")
    return vals[0] if len(vals) == 1 else (vals[0], vals[1])


def _step(spec: str, name: str, items: list[tuple[str | None, str]]) -> Step:
    if name not in STEPS:
        raise DegradationSpecError(
            f"degradation {spec!r}: unknown step {name!r}; known: {', '.join(STEPS)} (e.g. {EXAMPLE!r})")
    positional, kinds = STEPS[name]
    values: dict[str, object] = {}
    for key, text in items:
        key = key or positional
        if key not in kinds:
            raise DegradationSpecError(
                f"degradation {spec!r}: step {name!r} has no parameter {key!r}; it takes {', '.join(kinds)}")
        if key in values:
            raise DegradationSpecError(f"degradation {spec!r}: {name}: {key} given twice")
        if kinds[key] == "kernel":
            if text not in DOWN_METHODS:
                raise DegradationSpecError(
                    f"degradation {spec!r}: unknown down-scaling kernel {text!r}; known: {', '.join(DOWN_METHODS)}")
            values[key] = text
        else:
            values[key] = _number(spec, key, kinds[key], text)
    if name == "down":
        values.setdefault("kernel", "bicubic")
    if name == "motion":
        values.setdefault("angle", 0.0)
    missing = [k for k in kinds if k not in values and not (name in ("down", "noise") and k in ("x", "gauss", "poisson"))]
    if name == "noise" and not values:
        missing = ["gauss or poisson"]
    if missing:
        raise DegradationSpecError(f"degradation {spec!r}: step {name!r} needs {', '.join(missing)}")
    return Step(name, tuple((k, values[k]) for k in kinds if k in values))


def parse_degradation(spec: "str | DegradationSpec") -> DegradationSpec:
    """Parse a spec (or a legacy name); :class:`DegradationSpecError` names what is wrong."""
    if isinstance(spec, DegradationSpec):
        return spec
    if not isinstance(spec, str):
        raise DegradationSpecError(f"a degradation spec is a string like {EXAMPLE!r}; got {type(spec).__name__}")
    text = LEGACY.get(spec.strip(), spec.strip())
    if not text:
        raise DegradationSpecError(f"empty degradation spec; expected e.g. 'bicubic' or {EXAMPLE!r}")
    groups: list[tuple[str, list]] = []
    for token in (t.strip() for t in text.replace(" ", "").split(",")):
        if not token:
            raise DegradationSpecError(f"degradation {spec!r}: empty step (two commas in a row?)")
        if ":" in token:
            name, _, rest = token.partition(":")
            groups.append((name, []))
            token = rest
        elif "=" not in token:
            groups.append((token, []))
            continue
        elif not groups:
            raise DegradationSpecError(f"degradation {spec!r}: {token!r} comes before any step (write name:{token})")
        key, eq, value = token.partition("=")
        groups[-1][1].append((key, value) if eq else (None, key))
    steps = tuple(_step(spec, name, items) for name, items in groups)
    downs = [s for s in steps if s.name == "down"]
    if not downs:
        raise DegradationSpecError(
            f"degradation {spec!r} has no down step: add one (e.g. down:bicubic) to say where the resolution drops")
    if sum(s.get("x") is None for s in downs) > 1:
        raise DegradationSpecError(f"degradation {spec!r}: give x= to all down steps but one")
    return DegradationSpec(steps)


def canonical(spec: "str | DegradationSpec") -> str:
    """The canonical text of a spec (legacy names included): ``"bicubic"`` → ``"down:bicubic"``."""
    return str(parse_degradation(spec))


def image_seed(base: int, *key: object) -> int:
    """A 63-bit seed from a base seed and a key (an image name; a training ``(step, index)``)."""
    h = hashlib.blake2b(repr((int(base),) + tuple(str(k) for k in key)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") >> 1


def degradation_seed(base: int, path: str | Path) -> int:
    """The degradation seed of one image: from the base seed and the image's last two path parts
    (``Name/Name_0001.jpg``), so a data set copied elsewhere degrades to the same bytes."""
    p = Path(path)
    return image_seed(base, f"{p.parent.name}/{p.name}")


def _draw(value, gen: torch.Generator | None, integer: bool):
    if not isinstance(value, tuple):
        return value
    u = float(torch.rand((), generator=gen, dtype=torch.float64))
    lo, hi = value
    return min(int(math.floor(lo + u * (hi - lo + 1))), hi) if integer else lo + u * (hi - lo)


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise 2-D filtering with reflect padding (the image keeps its size)."""
    kh, kw = kernel.shape
    pad = (kw // 2, kw // 2, kh // 2, kh // 2)
    mode = "reflect" if min(x.shape[-2:]) > max(kh, kw) // 2 else "replicate"  # reflect needs pad < size
    xp = F.pad(x, pad, mode=mode)
    weight = kernel.to(x.dtype).expand(x.shape[1], 1, kh, kw)
    return F.conv2d(xp, weight, groups=x.shape[1])


def gaussian_kernel(sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def motion_kernel(length: int, angle: float) -> torch.Tensor:
    """A normalized line of ``length`` pixels at ``angle`` degrees, splatted bilinearly on an odd square grid."""
    size = length if length % 2 else length + 1
    k = np.zeros((size, size), np.float64)
    c = size // 2
    a = math.radians(angle)
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, max(2 * length, 2)):
        x, y = c + t * math.cos(a), c - t * math.sin(a)
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                    k[y0 + dy, x0 + dx] += wx * wy
    return torch.from_numpy(k / k.sum()).float()


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    from PIL import Image

    arr = x.detach().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out).permute(2, 0, 1).contiguous().to(x.device)


def _noise(x: torch.Tensor, step: Step, gen: torch.Generator | None) -> torch.Tensor:
    """Noise drawn on the CPU (the per-image generators live there), applied on ``x``'s device."""
    peak = step.get("poisson")
    if peak is not None:
        peak = _draw(peak, gen, False)
        x = torch.poisson(x.detach().cpu().double() * peak, generator=gen).div(peak).to(x.device, x.dtype)
    sigma = step.get("gauss")
    if sigma is not None:
        sigma = _draw(sigma, gen, False)
        x = x + (sigma * torch.randn(x.shape, generator=gen, dtype=torch.float64)).to(x.device, x.dtype)
    return x


def _apply_one(x: torch.Tensor, step: Step, factor: "int | tuple[int, int] | None", gen: torch.Generator | None) -> torch.Tensor:
    """One step on a batch ``x`` (all images share ``gen``'s draws: call per image when random)."""
    if step.name == "blur":
        sigma = _draw(step.get("sigma"), gen, False)
        y = x if sigma <= 0 else _filter(x, gaussian_kernel(sigma))
    elif step.name == "motion":
        length, angle = _draw(step.get("length"), gen, True), _draw(step.get("angle"), gen, False)
        y = x if length <= 1 else _filter(x, motion_kernel(length, angle))
    elif step.name == "down":
        y = (downsample(x, size=factor, method=step.get("kernel")) if isinstance(factor, tuple)
             else downsample(x, factor, method=step.get("kernel")))
    elif step.name == "noise":
        y = _noise(x, step, gen)
    else:  # jpeg
        q = _draw(step.get("q"), gen, True)
        y = torch.stack([_jpeg(img, q) for img in x])
    return y.clamp(0.0, 1.0)


def apply_degradation(hr: torch.Tensor, scale: int | None, spec: "str | DegradationSpec",
                      seeds: Sequence[int] | None = None, *, size: tuple[int, int] | None = None) -> torch.Tensor:
    """HR ``(N, 3, H, W)`` in [0, 1] → LR ``(N, 3, H/scale, W/scale)`` through ``spec``.

    ``seeds``: one integer per image, required when the spec is random (noise, a range); image
    ``i``'s draws come from ``torch.Generator().manual_seed(seeds[i])`` (on the CPU) in step order.
    Runs on ``hr``'s device (JPEG round trips through the CPU); deterministic steps run on the
    whole batch at once. ``size`` (with ``scale=None``): the LR size ``(h, w)`` instead of a scale;
    the spec's one ``down`` step goes to it.
    """
    spec = parse_degradation(spec)
    if hr.dim() != 4:
        raise ValueError(f"apply_degradation takes a batch (N, 3, H, W); got shape {tuple(hr.shape)}")
    if size is not None:
        downs = [s for s in spec.steps if s.name == "down"]
        if scale is not None or len(downs) != 1 or downs[0].get("x") is not None:
            raise DegradationSpecError(f"degradation {str(spec)!r} to a size {tuple(size)}: give no scale, and a spec "
                                       "with one down step without x=")
        factors = iter([tuple(size)])
    else:
        factors = iter(spec.factors(int(scale)))
    x = hr.detach().float()
    if spec.random:
        if seeds is None or len(seeds) != len(x):
            raise ValueError(f"degradation {str(spec)!r} draws random numbers: pass one seed per image "
                             f"({len(x)} images, got {'no' if seeds is None else len(seeds)} seeds)")
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    for step in spec.steps:
        factor = next(factors) if step.name == "down" else None
        if step.random:
            x = torch.cat([_apply_one(x[i : i + 1], step, factor, gens[i]) for i in range(len(x))])
        else:
            x = _apply_one(x, step, factor, None)
    return x


def degrade_batch(hr: torch.Tensor, scale: int, spec: str = "bicubic", seeds=None, key: tuple | None = None,
                  first_row: int = 0) -> torch.Tensor:
    """HR batch → LR through a degradation spec (above): the legacy names
    ``"bicubic"``/``"bilinear_steps"`` give exactly :func:`downsample`'s bytes; a spec such as
    ``"blur:sigma=1.2,down:bicubic,noise:gauss=0.02,jpeg:q=40"`` is applied per image, its random
    draws seeded by ``seeds`` (one per image), or, for training, by ``key = (seed, step)``: image
    ``i`` of the batch gets :func:`lrfr.data.degradations.image_seed` ``(seed, step, first_row + i)`` —
    ``first_row``: where these rows start in the global batch (a torchrun rank's share)."""
    if seeds is None and key is not None:
        seeds = [image_seed(key[0], *key[1:], first_row + i) for i in range(len(hr))]
    return apply_degradation(hr, scale, spec, seeds)


@dataclass(frozen=True)
class DegradationMix:
    """Degradation families with their shares of the faces: each face draws one spec (:meth:`draw`)."""

    specs: tuple[DegradationSpec, ...]
    shares: tuple[float, ...]

    def __str__(self) -> str:
        return "; ".join(f"{share:g} {spec}" for spec, share in zip(self.specs, self.shares))

    @property
    def random(self) -> bool:
        return len(self.specs) > 1 or self.specs[0].random

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The family index of each of ``n`` faces (``int64``), drawn with ``generator``."""
        if len(self.specs) == 1:
            return torch.zeros(n, dtype=torch.long)
        return torch.multinomial(torch.tensor(self.shares, dtype=torch.float64), n, replacement=True,
                                 generator=generator)


def parse_mix(mix: "dict[str, float] | None", rest: str = "bicubic", where: str = "data.mix") -> DegradationMix:
    """``{spec: share}`` plus ``rest``, the spec that takes the share the others leave (none when they sum to 1).

    Shares are ≥ 0 and sum to at most 1; every spec parses (:func:`parse_degradation`); a spec named twice
    (``rest`` included, compared canonically) is an error, so every family's share is stated once."""
    mix = dict(mix or {})
    specs, shares = [], []
    for text, share in mix.items():
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise DegradationSpecError(f"{where}: the share of {text!r} must be a number in [0, 1]; got {share!r}")
        specs.append(parse_degradation(text))
        shares.append(float(share))
    total = sum(shares)
    if total > 1 + 1e-9:
        raise DegradationSpecError(f"{where}: the families' shares sum to {total:g}, past 1 "
                                   f"({', '.join(f'{s:g}' for s in shares)}); what they leave goes to {rest!r}")
    if total < 1 - 1e-9 or not specs:
        specs.append(parse_degradation(rest))
        shares.append(1.0 - total)
    names = [str(s) for s in specs]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DegradationSpecError(f"{where}: {', '.join(twice)} is named twice (the rest of the share goes to {rest!r})")
    return DegradationMix(tuple(specs), tuple(shares))


def lr_size(long_side: int, hr_size: tuple[int, int]) -> tuple[int, int]:
    """The LR size ``(h, w)`` whose long side is ``long_side`` pixels, in the HR face's proportions (rounded)."""
    h, w = hr_size
    if h >= w:
        return int(long_side), max(1, int(round(long_side * w / h)))
    return max(1, int(round(long_side * h / w))), int(long_side)


def draw_lr_sizes(n: int, long_side: tuple[int, int], hr_size: tuple[int, int],
                  generator: torch.Generator) -> list[tuple[int, int]]:
    """``n`` LR sizes whose long side is drawn log-uniformly from ``[lo, hi]`` pixels (as many faces per
    octave: 7–14 px as often as 14–28), in the HR face's proportions (:func:`lr_size`)."""
    lo, hi = long_side
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    sides = torch.exp(math.log(lo - 0.5) + u * (math.log(hi + 0.5) - math.log(lo - 0.5))).round().clamp(lo, hi)
    return [lr_size(int(s), hr_size) for s in sides.tolist()]
