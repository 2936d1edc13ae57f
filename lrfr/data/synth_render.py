"""The drawing half of :class:`lrfr.data.synth.SynthFaces`: procedural faces, vectorized numpy.

lrfr's own design (not taken from a paper). Every shape is described in a *canonical frame*,
the 112×96 (H×W) SphereFace crop in pixel units (x right, y down, pixel centres on integers),
where the five template landmarks sit at :data:`TEMPLATE_112x96`. An image of another size is
the same drawing resized (x scaled by ``W/96``, y by ``H/112``). A per-image similarity
transform (pose) maps the canonical frame into the image; the renderer pulls the pixel grid back
through it and evaluates signed distances there, so edges are antialiased analytically
(coverage = ``clip(0.5 - d / pixel, 0, 1)``) without supersampling, and small features are only
evaluated inside their bounding boxes. Tiny round marks (moles, freckles) are splatted all at once
with ``np.bincount``. No Python loop ever runs over pixels.

Two parameter sets drive a picture:

* :class:`IdentityParams` (drawn once from ``(seed, identity)``): face shape, skin tone, eye
  spacing/size/tilt, iris colour and streak pattern, lid line, brows, nose, lips, hair style and
  colour, and the fine marks: moles, freckles, forehead/eye/nasolabial lines, stubble.
* :class:`ImageParams` (drawn from ``(seed, identity, image)``): pose (roll, shift, scale, a
  small yaw-like feature shift), expression (smile, mouth opening, brow raise, eye opening,
  gaze), lighting (direction, strength, brightness, colour cast, light on the hair), hairline
  shift and an occasional other haircut (25 %), stubble growth, background, occasional glasses
  (15 %), sensor noise (uniform, σ 0.004–0.025).

Calibration: the coarse cues (skin tone, hair colour/style, face size) come from small palettes
that many identities share, and they are blurred per image by lighting, colour cast, hair light,
haircut changes and pose jitter, while
most of what tells identities apart lives at a few pixels: marks, iris colour/pattern, lid and
brow detail, lip shape. So identity is learnable at 112×96 and badly hurt at 14×12 (see
:mod:`lrfr.data.synth` for the measured figures).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CANON_H, CANON_W = 112, 96

#: SphereFace's five landmarks in the 112×96 crop, (x, y): left eye, right eye, nose tip,
#: left mouth corner, right mouth corner ("left" = image left).
TEMPLATE_112x96 = np.array(
    [[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366], [33.5493, 92.3655], [62.7299, 92.2041]],
    dtype=np.float32,
)

#: Face-parsing classes; the parsing map holds indices into this tuple.
PARSING_CLASSES = ("background", "skin", "brows", "eyes", "nose", "mouth", "hair")
BACKGROUND, SKIN, BROWS, EYES, NOSE, MOUTH, HAIR = range(7)

LANDMARK_NAMES = ("left_eye", "right_eye", "nose_tip", "left_mouth_corner", "right_mouth_corner")

# Coarse palettes: few levels so that many identities share them (weak identity cues).
_SKIN_LIGHT = np.array([0.96, 0.80, 0.69], np.float32)
_SKIN_DARK = np.array([0.42, 0.28, 0.20], np.float32)
_SKIN_LEVELS = np.linspace(0.05, 0.65, 4)
_HAIR_COLOURS = np.array(
    [[0.12, 0.09, 0.08], [0.26, 0.17, 0.11], [0.42, 0.29, 0.17], [0.50, 0.38, 0.24]],
    np.float32,
)
_IRIS_BASES = np.array(
    [[0.30, 0.18, 0.09], [0.45, 0.30, 0.14], [0.38, 0.42, 0.20], [0.25, 0.45, 0.55], [0.35, 0.55, 0.75], [0.45, 0.50, 0.52]],
    np.float32,
)
HAIR_STYLES = ("short", "long", "fringe", "receding")


@dataclass
class IdentityParams:
    """What fixes an identity (all lengths in canonical 112×96 pixels)."""

    face_cx: float
    face_cy: float
    face_a: float  # half width
    face_b: float  # half height
    jaw_taper: float
    skin: np.ndarray  # (3,)
    eye_dx: float  # extra half eye distance
    eye_dy: float
    eye_a: float
    eye_b: float
    eye_tilt: float  # radians, outer corner up when > 0
    iris_r: float
    iris_col: np.ndarray  # (3,)
    iris_col2: np.ndarray  # (3,) streak colour
    iris_n: int  # streak count
    iris_phase: float
    iris_amp: float
    lid_t: float
    brow_gap: float
    brow_len: float
    brow_arch: float
    brow_slant: float
    brow_t: float
    brow_taper: float
    brow_dx: float
    nose_dy: float
    nose_w: float
    nose_bridge: float
    nostril_a: float
    mouth_dy: float
    mouth_w: float  # half width
    lip_up: float
    lip_low: float
    cupid: float
    lip_col: np.ndarray
    hair_style: int
    hair_col: np.ndarray
    hairline: float
    hair_side: float
    hair_part: float
    hair_freq: float
    hair_angle: float
    moles: np.ndarray  # (n, 3): x, y, r
    mole_dark: float
    freckles: np.ndarray  # (n, 3)
    freckle_alpha: float
    forehead_lines: np.ndarray  # (n, 4): y, amplitude, frequency, phase
    crow_feet: float  # 0: none, else strength
    nasolabial: float  # 0: none, else strength
    stubble: float  # 0: none, else density
    texture_key: int


@dataclass
class ImageParams:
    """What varies from one image of an identity to the next."""

    roll: float  # radians
    scale: float
    shift: np.ndarray  # (2,) canonical pixels
    yaw: float  # feature shift in canonical pixels
    smile: float
    mouth_open: float
    brow_raise: float
    eye_open: float
    gaze: np.ndarray  # (2,)
    light_dir: float
    light_strength: float
    brightness: float
    cast: np.ndarray  # (3,)
    bg_col: np.ndarray  # (3,)
    bg_col2: np.ndarray
    hair_style: int  # -1: the identity's own style, else another haircut / a hat-flattened look
    hair_gain: float  # apparent hair brightness (light on hair, wet/dry)
    hairline: float  # hairline shift
    stubble: float  # fraction of the identity's stubble grown today
    glasses: bool
    glasses_col: np.ndarray
    glasses_t: float
    noise: float


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def draw_identity(rng: np.random.Generator) -> IdentityParams:
    """Draw the parameters of one identity from ``rng``."""
    skin_t = float(rng.choice(_SKIN_LEVELS)) + _u(rng, -0.04, 0.04)
    skin = (1 - skin_t) * _SKIN_LIGHT + skin_t * _SKIN_DARK
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * _u(rng, 0.9, 1.1)
    iris_base = _IRIS_BASES[rng.integers(len(_IRIS_BASES))]
    iris_col = np.clip(iris_base + rng.uniform(-0.08, 0.08, 3), 0.02, 1).astype(np.float32)
    iris_col2 = np.clip(iris_col * _u(rng, 0.4, 1.7) + rng.uniform(-0.1, 0.1, 3), 0.02, 1).astype(np.float32)
    lip_col = np.clip(skin * np.array([0.95, 0.62, 0.62]) * _u(rng, 0.85, 1.05) + rng.uniform(-0.04, 0.04, 3), 0, 1)

    def points(n, cx, cy, sx, sy, r_lo, r_hi):
        out = []
        while len(out) < n:
            x, y = rng.normal(cx, sx), rng.normal(cy, sy)
            # keep marks on skin: inside the face, off the eyes, mouth and brows
            if ((x - 48) / 31) ** 2 + ((y - 68) / 40) ** 2 > 1:
                continue
            if abs(y - 50) < 7 and (abs(x - 30) < 10 or abs(x - 66) < 10):
                continue
            if abs(y - 40) < 4 and (abs(x - 30) < 11 or abs(x - 66) < 11):
                continue
            if abs(y - 92) < 6 and abs(x - 48) < 17:
                continue
            out.append((x, y, _u(rng, r_lo, r_hi)))
        return np.array(out, np.float32).reshape(-1, 3)

    n_moles = int(rng.integers(1, 6))
    moles = points(n_moles, 48, 66, 16, 20, 0.7, 1.7)
    if rng.random() < 0.55:
        freckles = points(int(rng.integers(10, 36)), 48 + _u(rng, -6, 6), _u(rng, 62, 72), 13, 6, 0.4, 0.75)
    else:
        freckles = np.zeros((0, 3), np.float32)
    n_lines = int(rng.choice([0, 0, 1, 2, 3]))
    forehead = np.array(
        [[_u(rng, 27, 35) + 3 * k, _u(rng, 0.3, 1.5), _u(rng, 0.08, 0.25), _u(rng, 0, 6.3)] for k in range(n_lines)],
        np.float32,
    ).reshape(-1, 4)
    return IdentityParams(
        face_cx=48 + _u(rng, -1, 1),
        face_cy=_u(rng, 61, 65),
        face_a=_u(rng, 36, 40),
        face_b=_u(rng, 49, 55),
        jaw_taper=_u(rng, 0.08, 0.35),
        skin=skin.astype(np.float32),
        eye_dx=_u(rng, -1.8, 1.8),
        eye_dy=_u(rng, -1.2, 1.2),
        eye_a=_u(rng, 6.0, 8.5),
        eye_b=_u(rng, 2.6, 3.8),
        eye_tilt=_u(rng, -0.12, 0.15),
        iris_r=_u(rng, 2.6, 3.5),
        iris_col=iris_col,
        iris_col2=iris_col2,
        iris_n=int(rng.integers(3, 10)),
        iris_phase=_u(rng, 0, 6.3),
        iris_amp=_u(rng, 0.1, 0.8),
        lid_t=_u(rng, 0.5, 1.5),
        brow_gap=_u(rng, 8.5, 12),
        brow_len=_u(rng, 7, 11),
        brow_arch=_u(rng, -0.5, 3.0),
        brow_slant=_u(rng, -1.5, 1.5),
        brow_t=_u(rng, 1.4, 3.4),
        brow_taper=_u(rng, 0.0, 0.8),
        brow_dx=_u(rng, -1.5, 2.0),
        nose_dy=_u(rng, -2.5, 2.5),
        nose_w=_u(rng, 6, 9.5),
        nose_bridge=_u(rng, 3, 5),
        nostril_a=_u(rng, 1.4, 2.4),
        mouth_dy=_u(rng, -1.5, 1.5),
        mouth_w=_u(rng, 12.5, 16.5),
        lip_up=_u(rng, 1.5, 3.5),
        lip_low=_u(rng, 2.2, 4.5),
        cupid=_u(rng, 0.0, 0.6),
        lip_col=lip_col.astype(np.float32),
        hair_style=int(rng.integers(len(HAIR_STYLES))),
        hair_col=hair.astype(np.float32),
        hairline=_u(rng, 19, 27),
        hair_side=_u(rng, -4, 10),
        hair_part=_u(rng, -14, 14),
        hair_freq=_u(rng, 1.3, 2.6),
        hair_angle=_u(rng, 0.9, 2.2),
        moles=moles,
        mole_dark=_u(rng, 0.55, 0.9),
        freckles=freckles,
        freckle_alpha=_u(rng, 0.3, 0.6),
        forehead_lines=forehead,
        crow_feet=_u(rng, 0.25, 0.5) if rng.random() < 0.4 else 0.0,
        nasolabial=_u(rng, 0.15, 0.35) if rng.random() < 0.5 else 0.0,
        stubble=_u(rng, 0.2, 0.4) if rng.random() < 0.3 else 0.0,
        texture_key=int(rng.integers(1, 2**31 - 1)),
    )


def draw_image(rng: np.random.Generator, neutral: bool = False) -> ImageParams:
    """Draw the per-image nuisance parameters; ``neutral`` gives the frontal, evenly lit, noise-free pose."""
    bg = rng.uniform(0.05, 0.95, 3).astype(np.float32)
    bg2 = np.clip(bg + rng.uniform(-0.25, 0.25, 3), 0, 1).astype(np.float32)
    glasses_col = (np.array([0.08, 0.07, 0.07]) if rng.random() < 0.6 else rng.uniform(0.2, 0.8, 3)).astype(np.float32)
    p = ImageParams(
        roll=float(np.clip(rng.normal(0, 0.06), -0.15, 0.15)),
        scale=_u(rng, 0.94, 1.06),
        shift=np.clip(rng.normal(0, 1.5, 2), -3.5, 3.5).astype(np.float32),
        yaw=float(np.clip(rng.normal(0, 1.2), -2.5, 2.5)),
        smile=max(0.0, _u(rng, -1.0, 3.0)),
        mouth_open=max(0.0, _u(rng, -4.0, 4.0)),
        brow_raise=max(0.0, _u(rng, -1.5, 2.5)),
        eye_open=_u(rng, 0.75, 1.1),
        gaze=rng.uniform(-0.8, 0.8, 2).astype(np.float32),
        light_dir=_u(rng, 0, 2 * np.pi),
        light_strength=_u(rng, 0.0, 0.4),
        brightness=_u(rng, 0.7, 1.2),
        cast=(1 + rng.uniform(-0.1, 0.1, 3)).astype(np.float32),
        hair_style=int(rng.integers(len(HAIR_STYLES))) if rng.random() < 0.25 else -1,
        hair_gain=_u(rng, 0.75, 1.3),
        hairline=_u(rng, -3, 3),
        stubble=_u(rng, 0.3, 1.0),
        bg_col=bg,
        bg_col2=bg2,
        glasses=bool(rng.random() < 0.15),
        glasses_col=glasses_col,
        glasses_t=_u(rng, 0.7, 1.4),
        noise=_u(rng, 0.004, 0.025),
    )
    if neutral:
        p.roll, p.scale, p.shift, p.yaw = 0.0, 1.0, np.zeros(2, np.float32), 0.0
        p.smile = p.mouth_open = p.brow_raise = 0.0
        p.eye_open, p.gaze = 1.0, np.zeros(2, np.float32)
        p.light_strength, p.brightness, p.cast = 0.0, 1.0, np.ones(3, np.float32)
        p.glasses, p.noise = False, 0.0
        p.hair_style, p.hair_gain, p.hairline, p.stubble = -1, 1.0, 0.0, 1.0
    return p


def _hash01(ix: np.ndarray, iy: np.ndarray, key: int) -> np.ndarray:
    """Integer hash of lattice cells → float in [0, 1) (a fixed per-identity texture)."""
    x = ix.astype(np.int64).astype(np.uint32) * np.uint32(0x8DA6B343)
    x ^= iy.astype(np.int64).astype(np.uint32) * np.uint32(0xD8163841)
    x ^= np.uint32(key & 0xFFFFFFFF)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0x5BD1E995)
    x ^= x >> np.uint32(15)
    return x.astype(np.float32) * np.float32(1.0 / 2**32)


class _Canvas:
    """An image being drawn: RGB, parsing map, and the pixel grid pulled back into the canonical frame."""

    def __init__(self, height: int, width: int, pose: ImageParams):
        self.h, self.w = height, width
        self.sx, self.sy = width / CANON_W, height / CANON_H
        c, s = np.cos(pose.roll), np.sin(pose.roll)
        self.rot = np.array([[c, -s], [s, c]], np.float64)
        self.scale = pose.scale
        self.centre = np.array([48.0, 62.0])
        self.shift = np.asarray(pose.shift, np.float64)
        # canonical units per output pixel (for antialiasing)
        self.px = float(1.0 / (pose.scale * np.sqrt(self.sx * self.sy)))
        ys = (np.arange(height, dtype=np.float32) + 0.5) / self.sy - 0.5
        xs = (np.arange(width, dtype=np.float32) + 0.5) / self.sx - 0.5
        # posed canonical → unposed: p = c + R^T (p' - c - t) / s
        dx = xs[None, :] - np.float32(self.centre[0] + self.shift[0])
        dy = ys[:, None] - np.float32(self.centre[1] + self.shift[1])
        inv = np.float32(1.0 / pose.scale)
        self.u = ((c * dx + s * dy) * inv + np.float32(self.centre[0])).astype(np.float32)
        self.v = ((-s * dx + c * dy) * inv + np.float32(self.centre[1])).astype(np.float32)
        self.rgb = np.empty((3, height, width), np.float32)  # channel-first: fast broadcasting
        self.parsing = np.zeros((height, width), np.uint8)

    def to_pixels(self, pts) -> np.ndarray:
        """Canonical (unposed) points (..., 2) → image pixel coordinates (x, y)."""
        pts = np.asarray(pts, np.float64)
        posed = (pts - self.centre) @ self.rot.T * self.scale + self.centre + self.shift
        return np.stack([(posed[..., 0] + 0.5) * self.sx - 0.5, (posed[..., 1] + 0.5) * self.sy - 0.5], -1)

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """One canonical point → image pixel (x, y) (scalar fast path of :meth:`to_pixels`)."""
        (a, b), (c, d) = self.rot
        x, y = x - self.centre[0], y - self.centre[1]
        px = (a * x + b * y) * self.scale + self.centre[0] + self.shift[0]
        py = (c * x + d * y) * self.scale + self.centre[1] + self.shift[1]
        return (px + 0.5) * self.sx - 0.5, (py + 0.5) * self.sy - 0.5

    def box(self, cx: float, cy: float, rx: float, ry: float | None = None):
        """Slices of the image covering a canonical box of half size (rx, ry) at (cx, cy), or None if empty."""
        ry = rx if ry is None else ry
        r = float(np.hypot(rx, ry))
        px, py = self.to_pixel(cx, cy)
        rpx = r * self.scale * self.sx + 2
        rpy = r * self.scale * self.sy + 2
        x0, x1 = max(int(px - rpx), 0), min(int(px + rpx) + 2, self.w)
        y0, y1 = max(int(py - rpy), 0), min(int(py + rpy) + 2, self.h)
        if x0 >= x1 or y0 >= y1:
            return None
        return np.s_[y0:y1, x0:x1]

    def cov(self, d: np.ndarray) -> np.ndarray:
        """Signed distance (canonical units, < 0 inside) → antialiased coverage in [0, 1]."""
        return np.clip(0.5 - d * np.float32(1.0 / self.px), 0.0, 1.0)

    def paint(self, sl, alpha, colour, cls: int | None = None) -> None:
        """Alpha-blend ``colour`` (3,) or (3, h, w) over the region ``sl``; label pixels with alpha > 0.5."""
        colour = np.asarray(colour, np.float32)
        if colour.ndim == 1:
            colour = colour[:, None, None]
        region = self.rgb[(slice(None),) + tuple(sl)]
        region += alpha[None] * (colour - region)
        if cls is not None:
            self.label(sl, alpha, cls)

    def label(self, sl, coverage, cls: int) -> None:
        """Set the parsing class of the pixels of ``sl`` whose ``coverage`` exceeds one half."""
        self.parsing[sl][coverage > 0.5] = cls

    def splat(self, pts: np.ndarray, radii: np.ndarray, strength: np.ndarray, colour) -> None:
        """Draw many small discs at once (canonical centres/radii), blended towards ``colour``."""
        if len(pts) == 0:
            return
        centre = self.to_pixels(pts)
        r = radii * self.scale * np.sqrt(self.sx * self.sy)
        k = int(np.ceil(2 * r.max() + 3))
        off = np.arange(k) - k // 2
        ix = np.floor(centre[:, 0]).astype(np.int64)[:, None, None] + off[None, None, :]
        iy = np.floor(centre[:, 1]).astype(np.int64)[:, None, None] + off[None, :, None]
        dist = np.hypot(ix - centre[:, 0, None, None], iy - centre[:, 1, None, None])
        a = np.clip(r[:, None, None] + 0.5 - dist, 0, 1) * strength[:, None, None]
        ok = (ix >= 0) & (ix < self.w) & (iy >= 0) & (iy < self.h) & (a > 0)
        flat = (iy * self.w + ix)[ok]
        alpha = np.minimum(np.bincount(flat, weights=a[ok], minlength=self.h * self.w), 1.0)
        alpha = alpha.reshape(self.h, self.w).astype(np.float32)
        self.rgb += alpha[None] * (np.asarray(colour, np.float32)[:, None, None] - self.rgb)


def _ellipse_sd(u, v, cx, cy, a, b, angle=0.0):
    """Approximate signed distance to an ellipse (first-order, accurate near the boundary)."""
    x, y = u - np.float32(cx), v - np.float32(cy)
    if angle:
        c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
        x, y = c * x + s * y, -s * x + c * y
    xa, yb = x / np.float32(a), y / np.float32(b)
    k = np.sqrt(xa * xa + yb * yb)
    g = np.sqrt((xa / np.float32(a)) ** 2 + (yb / np.float32(b)) ** 2) + np.float32(1e-6)
    return (k - 1) * k / g


def _thin_curve(cv, sl, y_of_x, half_t, x_lo, x_hi):
    """Coverage of a thin stroke y = y_of_x(x) for x in [x_lo, x_hi] (vertical-distance approximation)."""
    u, v = cv.u[sl], cv.v[sl]
    d = np.maximum(np.abs(v - y_of_x(u)) - half_t, np.maximum(x_lo - u, u - x_hi))
    return cv.cov(d)


def render_face(ident: IdentityParams, img: ImageParams, height: int = 112, width: int = 96, rng=None):
    """Draw one face. Returns ``(rgb float32 (H, W, 3) in [0, 1], parsing uint8 (H, W), landmarks float32 (5, 2))``.

    ``rng`` supplies the sensor noise (needed only when ``img.noise > 0``).
    """
    cv = _Canvas(height, width, img)
    u, v = cv.u, cv.v
    P = ident
    yaw = img.yaw

    # --- background: a colour with a linear gradient (per image) ---
    t = np.clip((u + v) * np.float32(1 / 208), 0, 1)[None]
    cv.rgb[:] = img.bg_col[:, None, None] + t * (img.bg_col2 - img.bg_col)[:, None, None]

    fcx, fcy, fa, fb = P.face_cx - 0.4 * yaw, P.face_cy, P.face_a, P.face_b
    hair = P.hair_col * np.float32(img.hair_gain)
    style = HAIR_STYLES[P.hair_style if img.hair_style < 0 else img.hair_style]

    # hair texture: fine strands, fixed per identity, plus the identity's hash texture
    def hair_colour(sl):
        uu, vv = u[sl], v[sl]
        ca, sa = np.float32(np.cos(P.hair_angle)), np.float32(np.sin(P.hair_angle))
        phase = (uu - fcx) * ca + (vv - 20) * sa
        strands = 0.82 + 0.18 * np.sin(phase * np.float32(P.hair_freq) + 2.0 * np.sin(vv * np.float32(0.11)))
        return hair[:, None, None] * strands[None]

    full = np.s_[:, :]
    # --- long hair behind the head ---
    if style == "long":
        top = _ellipse_sd(u, v, fcx, fcy - 4, fa + 8, fb + 4)
        side = np.abs(u - np.float32(fcx)) - np.float32(fa + 8)
        d = np.where(v < fcy - 4, top, side)
        cv.paint(full, cv.cov(d), hair_colour(full), HAIR)

    # --- neck and ears (skin, a little darker) ---
    d = np.maximum(np.abs(u - np.float32(fcx)) - np.float32(fa * 0.62), np.float32(fcy + 25) - v)
    cv.paint(full, cv.cov(d), P.skin * 0.82, SKIN)
    for side in (-1, 1):
        ex = fcx + side * (fa - 1.5)
        sl = cv.box(ex, fcy - 3, 7, 12)
        if sl is not None:
            d = _ellipse_sd(u[sl], v[sl], ex, fcy - 3, 5.5, 10.5)
            cv.paint(sl, cv.cov(d), P.skin * 0.9, SKIN)

    # --- face: an ellipse with a tapered jaw ---
    dyn = (v - np.float32(fcy)) / np.float32(fb)
    taper = 1 - np.float32(P.jaw_taper) * np.clip(dyn, 0, 1) ** 2
    xa = (u - np.float32(fcx)) / (np.float32(fa) * taper)
    k_face = np.sqrt(xa * xa + dyn * dyn)
    face_alpha = cv.cov((k_face - 1) * np.float32(min(fa, fb) * 0.9))
    cv.paint(full, face_alpha, P.skin, SKIN)
    # rounded shading towards the rim of the face
    shade = 1 - 0.22 * np.clip(k_face, 0, 1.1) ** 4 * face_alpha
    cv.rgb *= shade[None]

    # --- stubble: a fixed per-identity speckle on the jaw (fine detail) ---
    if P.stubble > 0:
        sl = cv.box(fcx, fcy + 32, fa, 22)
        if sl is not None:
            uu, vv = u[sl], v[sl]
            h = _hash01(np.floor(uu * 1.4), np.floor(vv * 1.4), P.texture_key)
            region = np.clip((vv - np.float32(fcy + 16)) * np.float32(0.25), 0, 1)
            mouth_clear = 1 - np.exp(-(((uu - 48) / 16) ** 2 + ((vv - 93) / 5) ** 2) * 2)
            alpha = (h < P.stubble * img.stubble).astype(np.float32) * region * mouth_clear * face_alpha[sl] * 0.45
            cv.paint(sl, alpha, hair * 0.8)

    # --- fine marks: freckles, moles, lines ---
    if len(P.freckles):
        f = P.freckles
        cv.splat(f[:, :2] + [-0.5 * yaw, 0], f[:, 2], np.full(len(f), P.freckle_alpha), P.skin * 0.62)
    m = P.moles
    cv.splat(m[:, :2] + [-0.5 * yaw, 0], m[:, 2], np.full(len(m), 0.92), P.skin * (1 - P.mole_dark))
    line_col = P.skin * 0.62
    for y0, amp, freq, ph in P.forehead_lines:
        y0 = y0 - 0.6 * img.brow_raise
        sl = cv.box(fcx, y0, 18, 3)
        if sl is not None:
            a = _thin_curve(cv, sl, lambda x, y0=y0, amp=amp, freq=freq, ph=ph: np.float32(y0) + np.float32(amp) * np.sin(x * np.float32(freq) + np.float32(ph)),
                            0.45, fcx - 15, fcx + 15)
            cv.paint(sl, a * (0.35 + 0.1 * img.brow_raise), line_col)

    # --- eyes ---
    eyes = []
    for side, (tx, ty) in zip((-1, 1), TEMPLATE_112x96[:2]):
        ex = float(tx) + side * P.eye_dx - yaw
        ey = float(ty) + P.eye_dy
        eyes.append((ex, ey))
        tilt = -side * P.eye_tilt
        a, b = P.eye_a, P.eye_b * img.eye_open * (1 - 0.08 * img.smile)
        sl = cv.box(ex, ey, a + 3, b + 3)
        if sl is None:
            continue
        uu, vv = u[sl], v[sl]
        d_eye = _ellipse_sd(uu, vv, ex, ey, a, b, tilt)
        eye_a = cv.cov(d_eye)
        cv.paint(sl, eye_a, np.array([0.93, 0.91, 0.88], np.float32) * 0.95, EYES)
        ix, iy = ex + img.gaze[0] * 1.2, ey + img.gaze[1] * 0.5
        dx, dy = uu - np.float32(ix), vv - np.float32(iy)
        rr = np.sqrt(dx * dx + dy * dy)
        theta = np.arctan2(dy, dx)
        streak = 0.5 + 0.5 * np.cos(theta * np.float32(P.iris_n) + np.float32(P.iris_phase))
        w = (np.float32(P.iris_amp) * streak * np.clip(rr / np.float32(P.iris_r), 0, 1))[None]
        iris = P.iris_col[:, None, None] + w * (P.iris_col2 - P.iris_col)[:, None, None]
        ring = np.clip((rr - np.float32(P.iris_r * 0.75)) / np.float32(P.iris_r * 0.25), 0, 1)[None]
        iris = iris * (1 - 0.45 * ring)
        cv.paint(sl, cv.cov(rr - np.float32(P.iris_r)) * eye_a, iris)
        cv.paint(sl, cv.cov(rr - np.float32(P.iris_r * 0.38)) * eye_a, np.array([0.03, 0.03, 0.03], np.float32))
        # specular highlight, placed by the light
        hx = ix - 0.9 * np.cos(img.light_dir)
        hy = iy - 0.9 * np.sin(img.light_dir) - 0.4
        cv.paint(sl, cv.cov(np.hypot(uu - np.float32(hx), vv - np.float32(hy)) - np.float32(0.55)) * eye_a * 0.85,
                 np.array([1.0, 1.0, 1.0], np.float32))
        # upper lid line (lashes): a dark band over the upper rim
        c, s = np.cos(tilt), np.sin(tilt)
        upper = (-s * (uu - ex) + c * (vv - ey)) < 0.6
        lid = cv.cov(np.abs(d_eye) - np.float32(P.lid_t * 0.5)) * upper
        cv.paint(sl, lid * 0.9, P.hair_col * 0.5 + 0.02, EYES)
        # lower lid crease, faint
        lower = cv.cov(np.abs(d_eye - np.float32(1.2)) - np.float32(0.3)) * (~upper)
        cv.paint(sl, lower * 0.25, P.skin * 0.7)
        if P.crow_feet > 0:
            ox = ex + side * (a + 1.5)
            sl2 = cv.box(ox + side * 2, ey, 4, 4)
            if sl2 is not None:
                uu2, vv2 = u[sl2], v[sl2]
                acc = np.zeros(uu2.shape, np.float32)
                for ang in (-0.45, 0.0, 0.45):
                    dxr = (uu2 - np.float32(ox)) * side
                    dist = np.abs(-(np.sin(ang)) * dxr + np.cos(ang) * (vv2 - np.float32(ey))) - 0.3
                    dist = np.maximum(dist, np.maximum(-dxr, dxr - 3.5))
                    acc = np.maximum(acc, cv.cov(dist))
                cv.paint(sl2, acc * (P.crow_feet + 0.2 * img.smile), P.skin * 0.6)

    # --- brows ---
    brow_col = P.hair_col * 0.8 + P.skin * 0.12
    for side, (ex, ey) in zip((-1, 1), eyes):
        bx = ex + side * P.brow_dx
        by = ey - P.brow_gap - img.brow_raise
        L = P.brow_len
        sl = cv.box(bx, by, L + 2, 6)
        if sl is None:
            continue
        uu, vv = u[sl], v[sl]
        tt = (uu - np.float32(bx)) * np.float32(side / L)  # -1 inner, +1 outer
        yc = np.float32(by) - np.float32(P.brow_arch) * (1 - tt * tt) + np.float32(P.brow_slant) * tt
        th = np.float32(P.brow_t) * (1 - np.float32(P.brow_taper) * np.clip((tt + 1) * 0.5, 0, 1))
        d = np.maximum(np.abs(vv - yc) - th * 0.5, (np.abs(tt) - 1) * np.float32(L))
        hairs = 0.8 + 0.2 * np.sin((uu * np.float32(side) * 1.9 + vv * 1.1) * np.float32(P.hair_freq))
        cv.paint(sl, cv.cov(d) * 0.95, brow_col[:, None, None] * hairs[None], BROWS)

    # --- nose ---
    nx = float(TEMPLATE_112x96[2, 0]) - 1.3 * yaw
    ny = float(TEMPLATE_112x96[2, 1]) + P.nose_dy
    top = (eyes[0][1] + eyes[1][1]) / 2 + 3
    sl = cv.box(nx, (ny + top) / 2, P.nose_w + 3, (ny - top) / 2 + 7)
    if sl is not None:
        uu, vv = u[sl], v[sl]
        frac = np.clip((vv - np.float32(top)) / np.float32(ny - top), 0, 1)
        bridge_x = np.float32(nx + 0.8 * yaw) - np.float32(0.8 * yaw) * frac  # bridge bends with yaw
        hw = np.float32(P.nose_bridge * 0.6) + np.float32(P.nose_bridge * 0.4) * frac
        d_bridge = np.maximum(np.abs(uu - bridge_x) - hw, np.maximum(np.float32(top) - vv, vv - np.float32(ny)))
        d_ala = _ellipse_sd(uu, vv, nx, ny + 0.5, P.nose_w, 4.2)
        d_nose = np.minimum(d_bridge, d_ala)
        nose_a = cv.cov(d_nose)
        # side shading from the light direction
        lit = np.float32(np.cos(img.light_dir)) * (uu - bridge_x) / (hw + 1)
        cv.paint(sl, nose_a * np.clip(0.12 + 0.12 * lit, 0, 0.3), P.skin * 0.7)
        cv.label(sl, nose_a, NOSE)
        # alar creases and nostrils
        crease = cv.cov(np.abs(d_ala + np.float32(0.6)) - np.float32(0.35)) * (vv > np.float32(ny - 2))
        cv.paint(sl, crease * 0.35, P.skin * 0.6)
        for sd in (-1, 1):
            cx = nx + sd * P.nose_w * 0.45
            d = _ellipse_sd(uu, vv, cx, ny + 2.2, P.nostril_a, P.nostril_a * 0.55, sd * 0.35)
            cv.paint(sl, cv.cov(d) * 0.85, P.skin * 0.3)
        tip = cv.cov(np.hypot(uu - np.float32(nx), vv - np.float32(ny - 1.2)) - np.float32(1.2))
        cv.paint(sl, tip * 0.25, np.minimum(P.skin * 1.25, 1.0))
    if P.nasolabial > 0:
        for sd in (-1, 1):
            x0, y0 = nx + sd * (P.nose_w + 1), ny + 2
            x1, y1 = 48 + sd * (P.mouth_w + 3.5) - yaw, 92 + P.mouth_dy - 0.5 * img.smile
            sl = cv.box((x0 + x1) / 2, (y0 + y1) / 2, 5, (y1 - y0) / 2 + 2)
            if sl is None:
                continue
            uu, vv = u[sl], v[sl]
            fr = np.clip((vv - np.float32(y0)) / np.float32(y1 - y0), 0, 1)
            xc = np.float32(x0) + np.float32(x1 - x0) * fr + np.float32(sd * 1.5) * np.sin(fr * np.float32(np.pi))
            d = np.maximum(np.abs(uu - xc) - np.float32(0.4), np.maximum(np.float32(y0) - vv, vv - np.float32(y1)))
            cv.paint(sl, cv.cov(d) * (P.nasolabial + 0.15 * img.smile), P.skin * 0.72)

    # --- mouth ---
    mcx = float(TEMPLATE_112x96[3:, 0].mean()) - 1.0 * yaw
    mcy = float(TEMPLATE_112x96[3:, 1].mean()) + P.mouth_dy
    hw = P.mouth_w + 0.8 * img.smile
    smile = img.smile
    opening = img.mouth_open
    sl = cv.box(mcx, mcy + 2, hw + 2, 9 + opening)
    if sl is not None:
        uu, vv = u[sl], v[sl]
        tt = (uu - np.float32(mcx)) / np.float32(hw)
        t2 = np.clip(tt * tt, 0, 1)
        y_line = np.float32(mcy) - np.float32(smile) * t2 + np.float32(smile * 0.3)
        bulge = np.sqrt(1 - t2) ** 1.4
        y_up = y_line - np.float32(P.lip_up) * bulge * (1 - np.float32(P.cupid) * np.exp(-(tt / 0.14) ** 2))
        y_lo = y_line + np.float32(opening) * bulge + np.float32(P.lip_low) * bulge
        side_d = (np.abs(tt) - 1) * np.float32(hw)
        d_mouth = np.maximum(np.maximum(y_up - vv, vv - y_lo), side_d)
        mouth_a = cv.cov(d_mouth)
        lip_shade = (1 - 0.15 * np.clip((vv - y_line) / np.float32(P.lip_low + 0.1), -1, 0) ** 2)[None]
        cv.paint(sl, mouth_a, P.lip_col[:, None, None] * lip_shade, MOUTH)
        if opening > 0.3:
            y_in = y_line + np.float32(opening) * bulge
            d_in = np.maximum(np.maximum(y_line - vv, vv - y_in), side_d + np.float32(1.5))
            cv.paint(sl, cv.cov(d_in), np.array([0.22, 0.06, 0.06], np.float32))
            d_teeth = np.maximum(np.maximum(y_line - vv, vv - (y_line + np.float32(min(opening, 1.8)))), (np.abs(tt) - 0.6) * np.float32(hw))
            cv.paint(sl, cv.cov(d_teeth) * 0.9, np.array([0.92, 0.9, 0.84], np.float32))
        # the mouth line itself
        d_line = np.maximum(np.abs(vv - y_line) - np.float32(0.35), side_d)
        cv.paint(sl, cv.cov(d_line) * 0.6, P.lip_col * 0.45)
    mouth_l = (mcx - hw, mcy - smile + smile * 0.3)
    mouth_r = (mcx + hw, mcy - smile + smile * 0.3)

    # --- hair in front (cap above the hairline) ---
    # every style has a cap; "receding" keeps it high and to the sides
    hl = img.hairline + {"short": P.hairline, "long": P.hairline + 2, "fringe": P.hairline + 10, "receding": P.hairline - 9}[style]
    side_drop = {"short": P.hair_side, "long": P.hair_side + 4, "fringe": 2.0, "receding": P.hair_side + 18}[style]
    sl = cv.box(fcx, fcy - 20, fa + 8, fb - 8)
    if sl is not None:
        uu, vv = u[sl], v[sl]
        d_head = _ellipse_sd(uu, vv, fcx, fcy - 3, fa + 4, fb + 6)
        xs = (uu - np.float32(fcx)) / np.float32(fa)
        curve = np.float32(hl) + np.float32(side_drop) * xs * xs
        if style == "fringe":
            curve = curve + np.float32(1.2) * np.sin(uu * np.float32(0.9) + np.float32(P.hair_part))
        if style == "receding":
            curve = curve - np.float32(6) * np.exp(-((uu - np.float32(fcx)) / 6) ** 2)
        d_cap = np.maximum(d_head, vv - curve)
        cap = cv.cov(d_cap)
        cv.paint(sl, cap, hair_colour(sl), HAIR)
        # parting line
        if style in ("short", "long"):
            px = fcx + P.hair_part
            d = np.maximum(np.abs(uu - np.float32(px)) - np.float32(0.4), vv - np.float32(hl - 4))
            cv.paint(sl, cv.cov(d) * cap * 0.5, P.skin * 0.8)

    # --- glasses (occasional, per image) ---
    if img.glasses:
        gt = img.glasses_t * 0.5
        for ex, ey in eyes:
            sl = cv.box(ex, ey, P.eye_a + 6, 8)
            if sl is None:
                continue
            d = _ellipse_sd(u[sl], v[sl], ex, ey + 0.5, P.eye_a + 4.0, P.eye_b + 4.5)
            cv.paint(sl, cv.cov(np.abs(d) - np.float32(gt)), img.glasses_col)
            cv.paint(sl, cv.cov(d) * 0.08, np.array([0.85, 0.9, 1.0], np.float32))
        (lx, ly), (rx, ry) = eyes
        sl = cv.box((lx + rx) / 2, (ly + ry) / 2, (rx - lx) / 2, 4)
        if sl is not None:
            uu, vv = u[sl], v[sl]
            inner_l, inner_r = lx + P.eye_a + 4.0, rx - P.eye_a - 4.0
            d = np.maximum(np.abs(vv - np.float32((ly + ry) / 2 - 1)) - np.float32(gt), np.maximum(np.float32(inner_l) - uu, uu - np.float32(inner_r)))
            cv.paint(sl, cv.cov(d), img.glasses_col)
        for ex, ey, sd in ((lx, ly, -1), (rx, ry, 1)):
            x0 = ex + sd * (P.eye_a + 4.0)
            sl = cv.box(x0 + sd * 6, ey, 7, 3)
            if sl is not None:
                uu, vv = u[sl], v[sl]
                d = np.maximum(np.abs(vv - np.float32(ey - 1)) - np.float32(gt), np.maximum((np.float32(x0) - uu) * sd, (uu - np.float32(x0)) * sd - 12))
                cv.paint(sl, cv.cov(d), img.glasses_col)

    # --- lighting: directional gradient, brightness, colour cast; then sensor noise ---
    if img.light_strength or img.brightness != 1.0 or np.any(img.cast != 1):
        g = np.float32(img.light_strength / 45.0)
        ramp = 1 + g * ((u - 48) * np.float32(np.cos(img.light_dir)) + (v - 62) * np.float32(np.sin(img.light_dir)))
        cv.rgb *= (ramp * np.float32(img.brightness))[None] * img.cast[:, None, None]
    if img.noise > 0:
        if rng is None:
            raise ValueError("render_face: sensor noise needs an rng")
        # uniform noise with standard deviation img.noise (much cheaper to draw than Gaussian)
        cv.rgb += (rng.random(cv.rgb.shape, dtype=np.float32) - np.float32(0.5)) * np.float32(img.noise * 12**0.5)
    np.clip(cv.rgb, 0, 1, out=cv.rgb)

    lm = np.array([eyes[0], eyes[1], (nx, ny), mouth_l, mouth_r], np.float64)
    return cv.rgb, cv.parsing, cv.to_pixels(lm).astype(np.float32)
