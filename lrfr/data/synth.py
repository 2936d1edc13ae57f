"""SynthFaces: lrfr's embedded, procedurally rendered face data set with identity labels.

No real face data set can ship inside the package, so lrfr draws its own. The design is lrfr's
own (not from a paper): deterministic RGB faces at any size (default 112×96 H×W, SphereFace's
crop), each with its exact face-parsing map (:data:`PARSING_CLASSES`) and five landmarks
(:data:`LANDMARK_NAMES`, SphereFace's template in a neutral pose). The drawing itself lives in
:mod:`lrfr.data.synth_render`.

* An **identity** (seeded from ``(seed, identity)``) fixes face shape, skin tone, eye spacing,
  size and tilt, iris colour and streak pattern, lid line, brows, nose, lips, hair style and
  colour, and fine marks (moles, freckles, forehead/eye/nasolabial lines, stubble) that are only
  a few pixels across at 112×96.
* Each **image** (seeded from ``(seed, identity, image)``) varies pose (roll, shift, scale, a
  yaw-like feature shift), expression (smile, mouth opening, brow raise, eye opening, gaze),
  lighting (direction, strength, brightness, colour cast), background, occasional glasses
  (15 %) and sensor noise.

**Calibration** — the point of the data set: identity must be learnable at 112×96 and badly hurt
at 14×12 (8× bicubic down with antialias, then bicubic up: :func:`lrfr.data.resample.degrade`).
Coarse cues (skin tone, hair colour and style, face size) come from small shared palettes and
are blurred per image by brightness, colour cast, hair light, occasional haircut changes and pose
jitter; most of what separates identities is fine detail. Measured with a scratch experiment
(not shipped): a small CNN (4 stride-2 blocks of two 3×3 convs, 24-48-96-128 channels, a
128-d embedding, cosine softmax with margin 0.25 and scale 16, AdamW, 10 epochs ≈ 5 CPU minutes
on one thread) trained on 100 identities × 20 images at 112×96, then cosine verification on
50 *held-out* identities × 20 images (``identity_offset=10000``, :meth:`SynthFaces.make_pairs`:
10 folds × (300 same + 300 different), threshold chosen on the other 9 folds). Two seeds:

==========================  =============  =============
images fed to the CNN       seed 0         seed 1
==========================  =============  =============
HR 112×96                   96.4 ± 2.4 %   97.4 ± 1.8 %
bicubic 28×24 (4×) → back   79.9 ± 4.0 %   78.9 ± 5.1 %
bicubic 14×12 (8×) → back   70.4 ± 4.8 %   69.1 ± 5.3 %
==========================  =============  =============

(chance is 50 %). These are lrfr's measurements on its own data, not figures from a paper.

Speed: 300–450 images/s at 112×96 in one process on one thread of the shared 2-core CI machine
(``python -c "from lrfr.data.synth import measure_speed; print(measure_speed())"``).

Determinism: no global RNG is used; every image is drawn from its own
``numpy.random.SeedSequence(seed, spawn_key=(identity, 1, image))``, so the same seed gives the
same bytes whatever order (or process) the images are requested in.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lrfr.data.synth_render import (
    HAIR_STYLES,
    LANDMARK_NAMES,
    PARSING_CLASSES,
    TEMPLATE_112x96,
    IdentityParams,
    draw_identity,
    draw_image,
    render_face,
)

__all__ = [
    "SynthFaces",
    "PARSING_CLASSES",
    "LANDMARK_NAMES",
    "HAIR_STYLES",
    "template_landmarks",
    "save_preview",
    "measure_speed",
    "CALIBRATION",
    "MEASURED_SPEED",
]

#: smallest image side SynthFaces renders (below that the features are sub-pixel)
MIN_SIDE = 16

#: Scratch small-CNN experiment (module docstring): held-out verification accuracy, mean over the
#: two seeds, HR 112×96 vs bicubic 14×12 brought back to 112×96.
CALIBRATION = {"hr_112x96": 0.969, "bicubic_28x24": 0.794, "bicubic_14x12": 0.698}

#: images/s, one process, one thread, 112×96, :func:`measure_speed` on the shared 2-core CI
#: machine (range over runs; the machine was shared with other jobs).
MEASURED_SPEED = (300, 450)

# spawn-key kinds: (number, kind, index); fixed length so that streams never collide
_IDENTITY, _IMAGE, _PAIRS, _BLUFR = 0, 1, 2, 3

# BLUFR's proportions on LFW (Liao et al. 2014): 1,500 of 5,749 identities train; 1,000 of the
# 4,249 test identities form the gallery (one image each); 100 + 100 identities for development.
_BLUFR_TRAIN_FRACTION = 1500 / 5749
_BLUFR_GALLERY_FRACTION = 1000 / 4249
_BLUFR_DEV_FRACTION = 100 / 5749


def template_landmarks(size: tuple[int, int] = (112, 96)) -> np.ndarray:
    """SphereFace's five landmarks (x, y) scaled to an ``(H, W)`` image (pixel centres on integers)."""
    h, w = size
    t = TEMPLATE_112x96.astype(np.float64)
    out = np.stack([(t[:, 0] + 0.5) * w / 96 - 0.5, (t[:, 1] + 0.5) * h / 112 - 0.5], 1)
    return out.astype(np.float32)


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"SynthFaces: {name} must be an integer >= {lo}; got {value!r}")
    if value < lo:
        raise ValueError(f"SynthFaces: {name} must be >= {lo}; got {value}")
    return int(value)


def _rng(seed: int, number: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(number, kind, index)))


class SynthFaces(Dataset):
    """Procedural faces with identity labels: a ``torch.utils.data.Dataset`` of ``(image, label, name)``.

    Parameters
    ----------
    n_identities, images_per_identity:
        The data set holds ``n_identities × images_per_identity`` images, ordered identity by
        identity (item ``i`` is image ``i % images_per_identity`` of identity ``i // images_per_identity``).
    size:
        ``(H, W)`` of the images, each side ≥ 16; default ``(112, 96)`` (SphereFace's crop). Any
        size is the 112×96 drawing rescaled (x by ``W/96``, y by ``H/112``), rendered natively.
    seed:
        Everything is a function of ``seed``; no global RNG is used.
    identity_offset:
        Identity numbers are ``identity_offset + label``; use disjoint ranges for train and test
        sets (e.g. train 0–499, test from 10,000). Names are ``synth_%05d`` of that number.

    Items: ``image`` float32 ``(3, H, W)`` in [0, 1]; ``label`` int in ``[0, n_identities)``;
    ``name`` LFW-style ``"synth_00042/synth_00042_0003.jpg"`` — image numbers are 1-based as in
    LFW, and :meth:`export` writes exactly these relative paths. Images are rendered on demand
    (nothing is kept), so a large data set costs no memory up front; ``cache=True`` keeps the
    rendered items.

    Attributes: ``labels`` (``np.int64``), ``names``, ``classes`` (``classes[label]``),
    ``identities`` (the identity numbers), ``size``, ``seed``.
    """

    parsing_classes = PARSING_CLASSES
    landmark_names = LANDMARK_NAMES

    def __init__(
        self,
        n_identities: int = 100,
        images_per_identity: int = 20,
        size: tuple[int, int] = (112, 96),
        seed: int = 0,
        identity_offset: int = 0,
        cache: bool = False,
    ):
        self.n_identities = _check_int("n_identities", n_identities, 1)
        self.images_per_identity = _check_int("images_per_identity", images_per_identity, 1)
        self.seed = _check_int("seed", seed, 0)
        self.identity_offset = _check_int("identity_offset", identity_offset, 0)
        try:
            h, w = (int(s) for s in size)
        except (TypeError, ValueError):
            raise ValueError(f"SynthFaces: size must be (H, W), two integers; got {size!r}") from None
        if h < MIN_SIDE or w < MIN_SIDE:
            raise ValueError(
                f"SynthFaces: size {h}x{w} (HxW) is too small; each side must be >= {MIN_SIDE} "
                f"(render at 112x96 and use lrfr.data.resample for low-resolution faces)"
            )
        self.size = (h, w)
        self.identities = np.arange(self.identity_offset, self.identity_offset + self.n_identities, dtype=np.int64)
        self.classes = [f"synth_{int(g):05d}" for g in self.identities]
        self.labels = np.repeat(np.arange(self.n_identities, dtype=np.int64), self.images_per_identity)
        ipi = self.images_per_identity
        self.names = [f"{c}/{c}_{j + 1:04d}.jpg" for c in self.classes for j in range(ipi)]
        self._params: dict[int, IdentityParams] = {}
        self._cache: dict[int, tuple] | None = {} if cache else None

    # --- indexing -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_identities * self.images_per_identity

    def _index(self, i) -> tuple[int, int, int]:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"SynthFaces indices must be integers; got {type(i).__name__}")
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"SynthFaces index {i} out of range for {n} images")
        label, j = divmod(i, self.images_per_identity)
        return i, label, j

    def identity_params(self, label: int) -> IdentityParams:
        """The drawn parameters of identity ``label`` (0-based within this data set)."""
        if label not in self._params:
            number = int(self.identities[label])
            self._params[label] = draw_identity(_rng(self.seed, number, _IDENTITY, 0))
        return self._params[label]

    # --- rendering ------------------------------------------------------------------------
    def render(self, i: int, neutral: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw item ``i``: ``(rgb float32 (3, H, W) in [0, 1], parsing uint8 (H, W), landmarks float32 (5, 2))``.

        ``parsing`` holds indices into :data:`PARSING_CLASSES`; ``landmarks`` are (x, y) pixels in
        the image, in :data:`LANDMARK_NAMES` order. ``neutral=True`` draws the identity frontal,
        with a neutral expression, even light, no glasses and no noise (the landmarks then sit
        near :func:`template_landmarks`); only the background still varies.
        """
        i, label, j = self._index(i)
        if self._cache is not None and not neutral and i in self._cache:
            return self._cache[i]
        rng = _rng(self.seed, int(self.identities[label]), _IMAGE, j)
        img = draw_image(rng, neutral=neutral)
        out = render_face(self.identity_params(label), img, self.size[0], self.size[1], rng=rng)
        if self._cache is not None and not neutral:
            self._cache[i] = out
        return out

    def sample(self, i: int, neutral: bool = False) -> dict:
        """Item ``i`` with its annotations, as tensors.

        Keys: ``image`` float32 ``(3, H, W)``, ``parsing`` int64 ``(H, W)``, ``landmarks`` float32
        ``(5, 2)`` (x, y), ``label`` int, ``name`` str.
        """
        rgb, parsing, lm = self.render(i, neutral=neutral)
        _, label, _ = self._index(i)
        return {
            "image": torch.from_numpy(rgb.copy()),
            "parsing": torch.from_numpy(parsing.astype(np.int64)),
            "landmarks": torch.from_numpy(lm.copy()),
            "label": label,
            "name": self.names[self._index(i)[0]],
        }

    def __getitem__(self, i):
        rgb, _, _ = self.render(i)
        i, label, _ = self._index(i)
        return torch.from_numpy(rgb.copy()), label, self.names[i]

    def __repr__(self) -> str:
        return (
            f"SynthFaces(n_identities={self.n_identities}, images_per_identity={self.images_per_identity}, "
            f"size={self.size}, seed={self.seed}, identity_offset={self.identity_offset})"
        )

    # --- protocols ------------------------------------------------------------------------
    def make_pairs(self, n_folds: int = 10, pairs_per_fold: int | None = None):
        """LFW-style verification pairs: ``(pairs, n_folds, k)`` with ``k`` same + ``k`` different per fold.

        Identities are split into ``n_folds`` disjoint groups (as LFW's folds hold disjoint people)
        when there are at least two per fold; otherwise every fold draws from all identities.
        ``pairs_per_fold=None`` picks ``k = min(300, what the smallest fold can supply)`` (LFW has
        ``k = 300``). Image numbers are 1-based. Deterministic from ``seed``.
        """
        from lrfr.data.pairs import Pair

        n_folds = _check_int("n_folds", n_folds, 1)
        n, ipi = self.n_identities, self.images_per_identity
        if n < 2 or ipi < 2:
            raise ValueError(
                f"SynthFaces: pairs need >= 2 identities with >= 2 images each; have {n} x {ipi}"
            )
        rng = _rng(self.seed, self.identity_offset, _PAIRS, n)
        if n >= 2 * n_folds:
            groups = np.array_split(rng.permutation(n), n_folds)
        else:
            groups = [np.arange(n)] * n_folds
        caps = [min(len(g) * ipi * (ipi - 1) // 2, len(g) * (len(g) - 1) // 2 * ipi * ipi) for g in groups]
        cap = min(caps)
        if pairs_per_fold is None:
            k = min(300, cap)
        else:
            k = _check_int("pairs_per_fold", pairs_per_fold, 1)
            if k > cap:
                raise ValueError(
                    f"SynthFaces: pairs_per_fold={k} is more than the smallest fold can supply ({cap} distinct "
                    f"same and different pairs from {n} identities x {ipi} images in {n_folds} folds)"
                )
        pairs = []
        for fold, g in enumerate(groups):
            same: set[tuple[int, int, int]] = set()
            while len(same) < k:
                a, b = rng.choice(ipi, 2, replace=False)
                same.add((int(rng.choice(g)), int(min(a, b)), int(max(a, b))))
            diff: set[tuple[int, int, int, int]] = set()
            while len(diff) < k:
                p, q = rng.choice(g, 2, replace=False)
                if p > q:
                    p, q = q, p
                diff.add((int(p), int(rng.integers(ipi)), int(q), int(rng.integers(ipi))))
            for p, a, b in sorted(same):
                pairs.append(Pair(self.classes[p], a + 1, self.classes[p], b + 1, True, fold))
            for p, a, q, b in sorted(diff):
                pairs.append(Pair(self.classes[p], a + 1, self.classes[q], b + 1, False, fold))
        return pairs, n_folds, k

    def make_blufr(self, n_trials: int = 10):
        """A BLUFR config (:class:`lrfr.data.blufr.BlufrConfig`, 0-based in memory) with BLUFR's proportions.

        Per trial, identities are split at random: about 26 % train (BLUFR: 1,500 of 5,749), the
        rest test; about 24 % of the test identities (BLUFR: 1,000 of 4,249) put one random image
        each in the gallery, and every other test image is a probe, so probes of identities
        outside the gallery make it open-set. ``devTrainIndex``/``devTestIndex`` hold two further
        disjoint identity groups (BLUFR: 100 + 100). ``labels`` are 1-based, as in BLUFR's file;
        ``imageList`` holds bare file names (``synth_00042_0003.jpg``).
        """
        from lrfr.data.blufr import BlufrConfig

        n_trials = _check_int("n_trials", n_trials, 1)
        n, ipi = self.n_identities, self.images_per_identity
        if n < 3 or ipi < 2:
            raise ValueError(
                f"SynthFaces: a BLUFR config needs >= 3 identities (train, gallery and non-gallery test) "
                f"with >= 2 images each; have {n} x {ipi}"
            )
        by_id = np.arange(n * ipi, dtype=np.int64).reshape(n, ipi)
        n_train = min(max(1, round(n * _BLUFR_TRAIN_FRACTION)), n - 2)
        n_test = n - n_train
        n_gal = min(max(1, round(n_test * _BLUFR_GALLERY_FRACTION)), n_test - 1)
        train, test, gal, prob = [], [], [], []
        for t in range(n_trials):
            rng = _rng(self.seed, self.identity_offset, _BLUFR, t)
            perm = rng.permutation(n)
            tr_ids, te_ids = np.sort(perm[:n_train]), perm[n_train:]
            gal_ids = np.sort(te_ids[:n_gal])
            te_ids = np.sort(te_ids)
            tr = by_id[tr_ids].ravel()
            te = by_id[te_ids].ravel()
            g = by_id[gal_ids, rng.integers(ipi, size=len(gal_ids))]
            train.append(np.sort(tr))
            test.append(np.sort(te))
            gal.append(np.sort(g))
            prob.append(np.setdiff1d(te, g))
        rng = _rng(self.seed, self.identity_offset, _BLUFR, n_trials + 1000)
        n_dev = min(max(1, round(n * _BLUFR_DEV_FRACTION)), n // 2)
        perm = rng.permutation(n)
        dev_train = np.sort(by_id[perm[:n_dev]].ravel())
        dev_test = np.sort(by_id[perm[n_dev : 2 * n_dev]].ravel())
        image_list = [name.split("/", 1)[1] for name in self.names]
        return BlufrConfig(image_list, self.labels + 1, train, test, gal, prob, dev_train, dev_test)

    # --- export ---------------------------------------------------------------------------
    def export(
        self,
        path: str | Path,
        jpeg_quality: int = 95,
        n_folds: int = 10,
        pairs_per_fold: int | None = None,
        n_trials: int = 10,
        progress: bool = True,
    ) -> Path:
        """Write an LFW-style folder and return its path.

        ``path/images/Name/Name_0001.jpg`` (the relative paths are :attr:`names`), ``path/pairs.txt``
        (LFW format, :meth:`make_pairs`), ``path/blufr_config.mat`` (BLUFR's field names, 1-based,
        :meth:`make_blufr`), ``path/landmarks.txt`` (``name x1 y1 … x5 y5`` in
        :data:`LANDMARK_NAMES` order, pixels of the exported image) and ``path/README.txt``.
        """
        from tqdm.auto import tqdm

        from lrfr.data.blufr import write_blufr_config
        from lrfr.data.pairs import write_pairs
        from lrfr.io import atomic_write_text, write_image

        if not 1 <= int(jpeg_quality) <= 100:
            raise ValueError(f"SynthFaces.export: jpeg_quality must be in 1..100; got {jpeg_quality}")
        # build the protocol files first so that bad arguments fail before any image is written
        pairs, n_folds, k = self.make_pairs(n_folds, pairs_per_fold)
        blufr = self.make_blufr(n_trials)
        root = Path(path)
        images = root / "images"
        lines = []
        for i in tqdm(range(len(self)), desc="SynthFaces export", unit="img", disable=not progress):
            rgb, _, lm = self.render(i)
            u8 = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
            write_image(images / self.names[i], u8, quality=int(jpeg_quality))
            lines.append(self.names[i] + "\t" + "\t".join(f"{x:.2f}" for x in lm.ravel()))
        atomic_write_text(root / "landmarks.txt", "\n".join(lines) + "\n")
        write_pairs(root / "pairs.txt", pairs, n_folds, k)
        write_blufr_config(root / "blufr_config.mat", blufr)
        h, w = self.size
        readme = f"""SynthFaces export (lrfr {_lrfr_version()})

Procedurally rendered faces from lrfr.data.SynthFaces: not real people. lrfr's own design.
Parameters: n_identities={self.n_identities} images_per_identity={self.images_per_identity}
size={h}x{w} (HxW) seed={self.seed} identity_offset={self.identity_offset} jpeg_quality={jpeg_quality}
Regenerate: SynthFaces(n_identities={self.n_identities}, images_per_identity={self.images_per_identity}, size=({h}, {w}), seed={self.seed}, identity_offset={self.identity_offset}).export(PATH)

images/NAME/NAME_0001.jpg  one folder per identity, images numbered from 1 (LFW layout)
pairs.txt                  LFW View-2 format: {n_folds} folds x ({k} same + {k} different) pairs
blufr_config.mat           BLUFR format (imageList, labels, {n_trials} trials of trainIndex/testIndex/
                           galIndex/probIndex, devTrainIndex, devTestIndex), all 1-based
landmarks.txt              NAME then x,y of: {', '.join(LANDMARK_NAMES)} (pixels)
"""
        atomic_write_text(root / "README.txt", readme)
        return root


def _lrfr_version() -> str:
    try:
        from importlib.metadata import version

        return version("lrfr")
    except Exception:  # not installed (running from a source tree)
        return "source"


def _bicubic_down_up(x: torch.Tensor, scale: int) -> torch.Tensor:
    """8× bicubic down (antialias) then bicubic up: lrfr's degradation chain (lrfr.data.resample)."""
    from lrfr.data.resample import degrade

    return degrade(x, scale, upscale=True)


def save_preview(
    path: str | Path,
    n_identities: int = 6,
    n_images: int = 6,
    seed: int = 0,
    identity_offset: int = 0,
    scale: int = 8,
    zoom: int = 1,
    palette: bool = True,
) -> Path:
    """Save a PNG grid: one identity per row, ``n_images`` HR 112×96 images, then the same images at
    ``112/scale × 96/scale`` (bicubic down with antialias, then bicubic up), a gap between the halves.

    ``palette=True`` stores 256 colours (small file); ``False`` keeps full RGB. The README picture is
    ``save_preview("docs/synthfaces.png")``.
    """
    from PIL import Image, ImageDraw

    ds = SynthFaces(n_identities, n_images, seed=seed, identity_offset=identity_offset)
    hr = torch.stack([ds[i][0] for i in range(len(ds))])
    lr = _bicubic_down_up(hr, scale)
    h, w = ds.size
    gap, top = 8, 14
    canvas = np.full((top + n_identities * h, 2 * n_images * w + gap, 3), 255, np.uint8)
    for half, imgs in enumerate((hr, lr)):
        u8 = (imgs.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for k in range(len(ds)):
            r, c = divmod(k, n_images)
            x0 = half * (n_images * w + gap) + c * w
            canvas[top + r * h : top + (r + 1) * h, x0 : x0 + w] = u8[k]
    im = Image.fromarray(canvas)
    draw = ImageDraw.Draw(im)
    draw.text((4, 1), f"{h}x{w} (one identity per row)", fill=(0, 0, 0))
    draw.text((n_images * w + gap + 4, 1), f"bicubic {h // scale}x{w // scale}, upsampled back", fill=(0, 0, 0))
    if palette:
        # 256 colours fitted to the smooth low-resolution half (the HR half's noise hides the
        # rounding): keeps the PNG small (~280 KB for 6×6) without visible banding
        lr_half = im.crop((n_images * w + gap, top, im.width, im.height))
        im = im.quantize(palette=lr_half.quantize(256, method=Image.Quantize.MEDIANCUT, kmeans=2), dither=Image.Dither.NONE)
    if zoom != 1:
        im = im.resize((im.width * zoom, im.height * zoom), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, optimize=True)
    return path


def measure_speed(n: int = 500, size: tuple[int, int] = (112, 96), threads: int = 1) -> float:
    """Images per second of ``SynthFaces.__getitem__`` in this process (``threads`` torch threads).

    Renders ``n`` images of ``n // 20`` identities after a short warm-up.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ds = SynthFaces(max(1, n // 20), 20, size=size, seed=12345)
        for i in range(min(20, len(ds))):
            ds[i]
        t0 = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        return len(ds) / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)
