"""Face alignment: MTCNN's 5 landmarks → similarity warp onto SphereFace's 112×96 template.

.. warning::
   The shared LFW (``lfw-112x96``) and CelebA (``celeba-train-112x96``) copies are **already
   aligned** this way. Do not align them again: a second alignment re-detects on a tight crop,
   shifts and rescales the face a little and blurs it with a second interpolation, so the faces
   no longer match those the recognizer was trained on ("faces aligned twice").
   ``lrfr align`` warns when every input image is already exactly 112×96, and an image of the
   output size whose detected landmarks already sit near the template (:func:`looks_aligned`) is
   *not* re-warped: it is copied unchanged and reported as "already aligned" (``realign=True``
   warps it anyway).

Tiny faces never meet the detector: MTCNN cannot find a face smaller than its ``min_face_size``
(20 px), so a 14×12 low-resolution face has nothing to detect. An image whose shorter side is
under ``min_image_side`` (default :data:`MIN_IMAGE_SIDE`) is not given to MTCNN; it is reported
"too small for the detector" with what to do instead: align the HR photo and carry its
landmarks to the LR image (divide them by the scale and call :func:`warp_face` with the LR
size), or pass crops that are already aligned (lrfr's evaluation and index read them as they are).

The procedure
-------------
1. Detect faces and their 5 landmarks (left eye, right eye, nose tip, left and right mouth
   corner, in the image's (x, y) pixel coordinates) with MTCNN (Zhang et al. 2016), as ported by
   facenet-pytorch (weights ship inside its wheel: nothing is downloaded).
2. Pick one face: the largest box (``select="largest"``, SphereFace's and the shared copies'
   rule) or the most confident one (``select="most_confident"``), among the faces whose
   probability is at least ``min_prob``. If faces were found but none reaches ``min_prob`` the
   image is reported as "low confidence p < min_prob" (p the best probability).
3. Fit the least-squares similarity transform (rotation, uniform scale, translation; no
   reflection: Umeyama 1991) from the 5 landmarks to the template and warp the image with it
   (bilinear in float via ``grid_sample``, rounded; black outside the photo).

Values and their origin
-----------------------
* Template (:data:`SPHEREFACE_TEMPLATE`, 112×96, (x, y)): from SphereFace's public alignment
  code (Liu et al. 2017, ``preprocess/code/face_align_demo.m``), which fits MATLAB's
  ``cp2tform(..., 'similarity')``; the non-reflective least-squares fit here gives the same
  transform for any real face. Other output sizes scale the template uniformly and centre it
  (:func:`template_for`; 112×112 gives InsightFace's template).
* MTCNN's own thresholds (0.6, 0.7, 0.7), ``factor=0.709`` and ``min_face_size=20`` are
  facenet-pytorch's defaults. ``min_prob=0.9`` is our choice (the shared CelebA copy kept
  faces down to probability 0.71; its ``index.txt`` lists each face's probability).
* Pixel convention (our choice, as cv2's ``warpAffine`` used by most Python ports): a pixel's
  centre is at integer coordinates, landmarks are given in that frame.
* Output files keep their relative path and name; JPEG quality 95 with 4:4:4 chroma
  (:func:`lrfr.io.write_image`).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

#: SphereFace's 5-point template for a 112 (H) × 96 (W) crop, (x, y) per row: left eye,
#: right eye, nose tip, left mouth corner, right mouth corner.
SPHEREFACE_TEMPLATE = np.array(
    [
        [30.2946, 51.6963],
        [65.5318, 51.5014],
        [48.0252, 71.7366],
        [33.5493, 92.3655],
        [62.7299, 92.2041],
    ],
    dtype=np.float64,
)
TEMPLATE_SIZE = (112, 96)  # (H, W)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
REPORT_NAME = "align_report.tsv"

#: smallest image side (px) handed to MTCNN: twice its default min_face_size of 20 (our choice;
#: a face must fill most of an image this small to be found at all)
MIN_IMAGE_SIDE = 40
#: an output-size image whose landmark→template similarity stays within these bounds is already
#: aligned: scale range, |rotation| in degrees, shift of the crop centre in px per 112 px of height.
#: Our choice, with margin over what MTCNN re-detection gives on aligned crops: on 100 of the
#: shared LFW 112×96 crops (every 8th of the first 800 identities) scale 0.77–1.05, rotation
#: −2.7°…4.0°, centre shift 0.1–12.8 px (re-detection on a tight crop is that noisy).
ALIGNED_BOUNDS = {"scale": (0.7, 1.3), "rotation": 6.0, "shift": 18.0}
ALREADY_ALIGNED = "already aligned"
TOO_SMALL = "too small for the detector"


def too_small_reason(height: int, width: int, min_side: int = MIN_IMAGE_SIDE) -> str | None:
    """Why an image of ``height``×``width`` is not given to MTCNN, or None when it may be."""
    if min(height, width) >= min_side:
        return None
    return (f"{TOO_SMALL}: {height}x{width} is under {min_side} px, and MTCNN finds no face below 20 px; "
            "align the HR image and carry its landmarks (lrfr.data.align.warp_face with landmarks / scale), "
            "or pass pre-aligned crops")


def alignment_offset(landmarks5, size: tuple[int, int]) -> tuple[float, float, float]:
    """``(scale, rotation in degrees, centre shift in px per 112 px of height)`` of the warp that
    would align a ``size`` image with these landmarks: ``(1, 0, 0)`` for a perfectly aligned crop."""
    m = similarity_transform(np.asarray(landmarks5, np.float64), template_for(size))
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    rotation = float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
    centre = np.array([(size[1] - 1) / 2, (size[0] - 1) / 2])
    shift = float(np.linalg.norm(m[:, :2] @ centre + m[:, 2] - centre)) * TEMPLATE_SIZE[0] / size[0]
    return scale, rotation, shift


def looks_aligned(landmarks5, size: tuple[int, int]) -> tuple[bool, str]:
    """Whether an image of the output ``size`` with these landmarks is already an aligned crop
    (within :data:`ALIGNED_BOUNDS`), and the offsets that say so."""
    scale, rotation, shift = alignment_offset(landmarks5, size)
    b = ALIGNED_BOUNDS
    ok = b["scale"][0] <= scale <= b["scale"][1] and abs(rotation) <= b["rotation"] and shift <= b["shift"]
    return ok, f"scale {scale:.2f}, rotation {rotation:+.1f} deg, shift {shift:.1f} px"


def template_for(size: tuple[int, int] = TEMPLATE_SIZE) -> np.ndarray:
    """The template for an ``(H, W)`` output.

    SphereFace's 112×96 template scaled uniformly by ``s = min(H/112, W/96)`` and centred:
    ``x' = s·x + (W − 96·s)/2``, ``y' = s·y + (H − 112·s)/2``. The face keeps its proportions (a
    similarity cannot follow a non-uniformly stretched template); for 112×112 this gives
    ArcFace/InsightFace's public 112×112 template (SphereFace's shifted 8 px right), for
    224×192 twice SphereFace's. The centring rule for other shapes is our choice.
    """
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"output size must be positive (H, W); got {size!r}")
    s = min(h / TEMPLATE_SIZE[0], w / TEMPLATE_SIZE[1])
    offset = np.array([(w - TEMPLATE_SIZE[1] * s) / 2, (h - TEMPLATE_SIZE[0] * s) / 2])
    return SPHEREFACE_TEMPLATE * s + offset


def similarity_transform(src, dst) -> np.ndarray:
    """Least-squares similarity ``M`` (2×3) with ``dst ≈ M @ [x, y, 1]`` (Umeyama 1991, no reflection).

    ``src``, ``dst``: ``(N, 2)`` point arrays, N ≥ 2. ``M[:, :2] = s·R`` with ``R`` a rotation.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"similarity_transform: need two (N, 2) arrays with N >= 2; got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("similarity_transform: points must be finite")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    var_s = (sc**2).sum() / len(src)
    if var_s < 1e-12:
        raise ValueError("similarity_transform: source points coincide")
    cov = dc.T @ sc / len(src)
    u, sing, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sing * d).sum() / var_s
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def warp_face(rgb: np.ndarray, landmarks5, size: tuple[int, int] = TEMPLATE_SIZE) -> np.ndarray:
    """Warp ``rgb`` (uint8 ``(H, W, 3)``) so that ``landmarks5`` ((5, 2), (x, y)) land on the template.

    Returns uint8 ``size`` = ``(H, W)`` (default 112×96): bilinear sampling in float
    (``torch.nn.functional.grid_sample``), rounded to the nearest level; black outside the photo.
    (PIL's affine transform truncates instead of rounding, darkening by half a level on average.)
    """
    import torch
    import torch.nn.functional as F

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"warp_face: need an RGB uint8 (H, W, 3) image; got {rgb.dtype} {rgb.shape}")
    pts = np.asarray(landmarks5, dtype=np.float64).reshape(-1, 2)
    if pts.shape != (5, 2):
        raise ValueError(f"warp_face: need 5 (x, y) landmarks; got shape {np.shape(landmarks5)}")
    h, w = int(size[0]), int(size[1])
    m = similarity_transform(pts, template_for((h, w)))
    inv = np.linalg.inv(m[:, :2])
    # source point of every output pixel centre (pixel centres on integer coordinates)
    oy, ox = np.mgrid[0:h, 0:w].astype(np.float64)
    out_pts = np.stack([ox.ravel(), oy.ravel()], axis=1) - m[:, 2]
    src = out_pts @ inv.T
    # Only the part of the photo the face comes from is converted to float (photos can be large):
    # the bounding box of the source points, 2 px margin, clipped to the photo.
    x0 = int(np.clip(np.floor(src[:, 0].min()) - 2, 0, rgb.shape[1]))
    x1 = int(np.clip(np.ceil(src[:, 0].max()) + 3, x0, rgb.shape[1]))
    y0 = int(np.clip(np.floor(src[:, 1].min()) - 2, 0, rgb.shape[0]))
    y1 = int(np.clip(np.ceil(src[:, 1].max()) + 3, y0, rgb.shape[0]))
    if x1 <= x0 or y1 <= y0:  # the template region lies wholly outside the photo
        return np.zeros((h, w, 3), np.uint8)
    crop = rgb[y0:y1, x0:x1]
    src = src - [x0, y0]
    ih, iw = crop.shape[:2]
    # grid_sample(align_corners=False): -1 and 1 are the outer edges of the border pixels
    grid = np.stack([(src[:, 0] + 0.5) * (2.0 / iw) - 1.0, (src[:, 1] + 0.5) * (2.0 / ih) - 1.0], axis=1)
    grid_t = torch.from_numpy(grid.reshape(1, h, w, 2).astype(np.float32))
    img_t = torch.from_numpy(crop.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)
    out = F.grid_sample(img_t, grid_t, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8).numpy().copy()


class Detection(NamedTuple):
    box: np.ndarray  # (4,) x1, y1, x2, y2
    prob: float
    landmarks: np.ndarray  # (5, 2) x, y


class FaceAligner:
    """MTCNN (facenet-pytorch) + similarity warp to SphereFace's template.

    Args:
        device: torch device for MTCNN.
        min_prob: faces below this MTCNN probability are not used (0.9, our choice).
        select: ``"largest"`` (box area; SphereFace's rule) or ``"most_confident"``.
        size: output ``(H, W)``; default 112×96.
        min_face_size: MTCNN's smallest face in pixels (facenet-pytorch's default 20).
        min_image_side: images with a shorter side are not given to MTCNN (module doc).
        realign: warp an image of the output size whose landmarks already sit on the template
            (default False: it is reported as already aligned instead).
    """

    def __init__(
        self,
        device="cpu",
        min_prob: float = 0.9,
        select: str = "largest",
        size: tuple[int, int] = TEMPLATE_SIZE,
        min_face_size: int = 20,
        min_image_side: int = MIN_IMAGE_SIDE,
        realign: bool = False,
    ):
        from facenet_pytorch import MTCNN

        if select not in ("largest", "most_confident"):
            raise ValueError(f"select must be 'largest' or 'most_confident'; got {select!r}")
        self.min_prob = float(min_prob)
        self.select = select
        self.size = (int(size[0]), int(size[1]))
        self.device = device
        self.min_image_side = int(min_image_side)
        self.realign = bool(realign)
        self._mtcnn = MTCNN(keep_all=True, select_largest=(select == "largest"), min_face_size=min_face_size, device=device)
        self.last_reason: str | None = None

    def detect_all(self, rgb: np.ndarray) -> list[Detection]:
        """Every face MTCNN finds (any probability), as :class:`Detection`\\ s."""
        rgb = _as_rgb(rgb)
        boxes, probs, points = self._mtcnn.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        probs = np.asarray(probs, dtype=np.float64).reshape(-1)
        points = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
        return [Detection(b, float(p), l) for b, p, l in zip(boxes, probs, points)]

    def _choose(self, rgb) -> tuple[Detection | None, str | None]:
        small = too_small_reason(*np.shape(rgb)[:2], self.min_image_side)
        if small:
            return None, small
        faces = self.detect_all(rgb)
        if not faces:
            return None, "no face"
        good = [f for f in faces if f.prob >= self.min_prob]
        if not good:
            best = max(f.prob for f in faces)
            return None, f"low confidence {best:.4g} < {self.min_prob:g}"
        if self.select == "largest":
            face = max(good, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        else:
            face = max(good, key=lambda f: f.prob)
        return face, None

    def detect(self, rgb: np.ndarray) -> Detection | None:
        """The selected face ``(box, prob, landmarks5)``, or ``None`` (reason in ``.last_reason``)."""
        face, self.last_reason = self._choose(rgb)
        return face

    def align_with_reason(self, rgb: np.ndarray) -> tuple[np.ndarray | None, str | None]:
        """``(aligned uint8, None)`` or ``(None, reason)`` with reason ``"no face"`` / ``"low confidence …"``
        / ``"too small for the detector …"`` / ``"already aligned …"`` (see the module doc)."""
        rgb = _as_rgb(rgb)
        face, reason = self._choose(rgb)
        if face is not None and rgb.shape[:2] == self.size and not self.realign:
            aligned, offsets = looks_aligned(face.landmarks, self.size)
            if aligned:
                face, reason = None, (f"{ALREADY_ALIGNED}: a {self.size[0]}x{self.size[1]} crop whose re-alignment "
                                      f"would be a near-identity warp ({offsets}); not re-warped")
        self.last_reason = reason
        if face is None:
            return None, reason
        return warp_face(rgb, face.landmarks, self.size), None

    def align(self, rgb: np.ndarray) -> np.ndarray | None:
        """The aligned face (uint8 ``size``), or ``None`` when no usable face (reason in ``.last_reason``)."""
        return self.align_with_reason(rgb)[0]


def _as_rgb(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"need an RGB (H, W, 3) image; got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"need a uint8 image; got {rgb.dtype}")
    return np.ascontiguousarray(rgb)


@dataclass
class AlignReport:
    """What :func:`align_folder` did. ``failures``: ``(relative path, reason)`` for every image not aligned."""

    src: Path
    dst: Path
    total: int = 0
    aligned: int = 0
    skipped: int = 0  # already present in dst (skip_existing)
    failures: list[tuple[str, str]] = field(default_factory=list)
    already_aligned: list[tuple[str, str]] = field(default_factory=list)  # copied unchanged
    report_path: Path | None = None

    @property
    def failed(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        s = f"aligned {self.aligned} of {self.total} images into {self.dst}"
        if self.skipped:
            s += f" ({self.skipped} already there, skipped)"
        if self.already_aligned:
            s += f"; {len(self.already_aligned)} already aligned, copied unchanged (not re-warped)"
        if self.failures:
            s += f"; {self.failed} NOT aligned, listed with reasons in {self.report_path}"
        else:
            s += f"; none failed (report: {self.report_path})"
        return s


def list_images(src: str | Path, exclude: Path | None = None) -> list[str]:
    """Relative posix paths of every image under ``src`` (recursive, sorted), skipping ``exclude``."""
    src = Path(src)
    out = []
    excl = exclude.resolve() if exclude is not None else None
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (excl is None or (Path(dirpath) / d).resolve() != excl))
        for f in filenames:
            if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES):
                out.append((Path(dirpath) / f).relative_to(src).as_posix())
    return sorted(out)


def image_sizes(paths, limit: int | None = None) -> list[tuple[int, int] | None]:
    """``(H, W)`` from each image's header (no decoding); ``None`` where unreadable."""
    from PIL import Image

    sizes = []
    for p in list(paths)[:limit]:
        try:
            with Image.open(p) as im:
                sizes.append((im.height, im.width))
        except Exception:  # noqa: BLE001 - only a hint; the real read reports the error
            sizes.append(None)
    return sizes


def align_folder(
    src: str | Path,
    dst: str | Path,
    size: tuple[int, int] = TEMPLATE_SIZE,
    progress: bool = True,
    skip_existing: bool = True,
    aligner: FaceAligner | None = None,
    device="cpu",
    min_prob: float = 0.9,
    select: str = "largest",
    realign: bool = False,
) -> AlignReport:
    """Align every image under ``src`` into ``dst`` (same relative paths and file names).

    Every image that is not aligned is listed with its reason (``"no face"``,
    ``"low confidence 0.7 < 0.9"``, ``"unreadable image: …"``, ``"error: …"``) in
    ``dst/align_report.tsv`` (columns ``path``, ``reason``; written even when nothing failed) and in
    the returned :class:`AlignReport`: no image is dropped silently. With ``skip_existing`` an
    output that already exists is kept and counted as skipped (so an interrupted run resumes).
    An image too small for the detector is a failure with what to do instead; an image that is
    already an aligned crop (module doc) is copied unchanged, listed in ``already_aligned`` and in
    the report file.

    Do not run this on already aligned faces (the shared LFW/CelebA copies): see the module warning.
    """
    from tqdm.auto import tqdm

    from lrfr.io import read_image, write_image

    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"source folder not found: {src}")
    if src.resolve() == dst.resolve():
        raise ValueError(f"destination must differ from the source folder: {src}")
    names = list_images(src, exclude=dst)
    if not names:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {src}")
    if aligner is None:
        aligner = FaceAligner(device=device, min_prob=min_prob, select=select, size=size, realign=realign)
    elif tuple(aligner.size) != tuple(size):
        raise ValueError(f"aligner.size {aligner.size} differs from size {tuple(size)}")
    dst.mkdir(parents=True, exist_ok=True)
    report = AlignReport(src=src, dst=dst, total=len(names))
    for name in tqdm(names, desc="aligning", unit="img", disable=not progress):
        out = dst / name
        if skip_existing and out.is_file():
            report.skipped += 1
            continue
        try:
            rgb = read_image(src / name)
        except (ValueError, OSError) as err:
            report.failures.append((name, f"unreadable image: {_one_line(err)}"))
            continue
        try:
            aligned, reason = aligner.align_with_reason(rgb)
        except Exception as err:  # noqa: BLE001 - one bad image must not end a long run; it is reported
            report.failures.append((name, f"error: {type(err).__name__}: {_one_line(err)}"))
            continue
        if aligned is None and reason and reason.startswith(ALREADY_ALIGNED):
            import shutil

            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / name, out)
            report.already_aligned.append((name, reason))
            continue
        if aligned is None:
            report.failures.append((name, reason or "no face"))
            continue
        write_image(out, aligned)
        report.aligned += 1
    report.report_path = write_report(dst / REPORT_NAME, report.failures + report.already_aligned)
    return report


def _one_line(err) -> str:
    return " ".join(str(err).split())


def write_report(path: Path, failures: list[tuple[str, str]]) -> Path:
    from lrfr.io import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(["path", "reason"])
    for name, reason in failures:
        w.writerow([name, reason.replace("\t", " ")])
    return atomic_write_text(path, buf.getvalue())


def read_report(path: str | Path) -> list[tuple[str, str]]:
    """The ``(path, reason)`` rows of an ``align_report.tsv``."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return [(r[0], r[1]) for r in rows[1:] if r]
