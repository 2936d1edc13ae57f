"""Face-parsing maps: the prior that the prior-guided attention generator learns to predict (papers/003).

A **parsing provider** answers "which facial component is each pixel of training face ``i``?"
with a label map ``(N, H, W)`` of indices into its ``classes`` (and :meth:`ParsingProvider.maps`
turns it into the 0/1 class maps ``(N, K, H, W)`` that the prior loss, thesis eq. 3.6, compares
with the generator's predicted maps). Two providers ship:

* :class:`SynthParsing` — SynthFaces' **exact** maps, drawn by its renderer together with each
  image (:data:`PARSING_CLASSES`: background, skin, brows, eyes, nose, mouth, hair).
* :class:`LandmarkParsing` — for real faces, **component masks derived from the 5 landmarks**
  (eyes, nose tip, mouth corners): ellipses for eyes, brows, nose and mouth, a face ellipse for
  the skin, a cap above it for the hair, the rest background. For faces aligned to SphereFace's
  112×96 template (:func:`lrfr.data.align.template_for`) every face gets the template's map; give
  per-image landmarks (``landmarks=``, e.g. a SynthFaces export's ``landmarks.txt`` or MTCNN's
  points) for per-face masks. The proportions are lrfr's, fitted by eye to SynthFaces' mean map
  of 80 faces; they are coarse regions, not a segmentation.

The thesis trains on CelebAMask-HQ's hand-labelled maps (11 classes), which are not available
here; a provider of real labelled maps plugs in by subclassing :class:`ParsingProvider` (implement
``labels(indices)``; set ``classes`` and ``size``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch

from lrfr.data.synth_render import PARSING_CLASSES

__all__ = ["PARSING_CLASSES", "ParsingProvider", "SynthParsing", "LandmarkParsing", "landmark_parsing", "one_hot_maps"]

BACKGROUND, SKIN, BROWS, EYES, NOSE, MOUTH, HAIR = (PARSING_CLASSES.index(n) for n in
                                                   ("background", "skin", "brows", "eyes", "nose", "mouth", "hair"))


def one_hot_maps(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Label maps ``(N, H, W)`` (integers in ``[0, n_classes)``) → float 0/1 class maps ``(N, K, H, W)``."""
    if labels.dim() != 3:
        raise ValueError(f"one_hot_maps expects label maps (N, H, W); got shape {tuple(labels.shape)}")
    return torch.nn.functional.one_hot(labels.long(), n_classes).permute(0, 3, 1, 2).float()


class ParsingProvider(ABC):
    """Parsing maps of a training set's faces, by item index. Subclasses set ``classes`` and ``size``."""

    classes: tuple[str, ...] = PARSING_CLASSES
    size: tuple[int, int] = (112, 96)

    @abstractmethod
    def labels(self, indices: torch.Tensor) -> torch.Tensor:
        """int64 label maps ``(N, H, W)`` of items ``indices``."""

    def maps(self, indices: torch.Tensor) -> torch.Tensor:
        """0/1 class maps ``(N, K, H, W)``, float32, of items ``indices`` (K = ``len(classes)``)."""
        return one_hot_maps(self.labels(indices), len(self.classes))


class SynthParsing(ParsingProvider):
    """SynthFaces' exact parsing maps of ``dataset``'s items (rendered on first use, kept as uint8).

    ``dataset`` is the :class:`~lrfr.data.synth.SynthFaces` the training images come from (or an
    identical one: the same arguments draw the same faces and maps).
    """

    def __init__(self, dataset):
        from lrfr.data.synth import SynthFaces

        if not isinstance(dataset, SynthFaces):
            raise TypeError(f"SynthParsing needs a SynthFaces data set; got {type(dataset).__name__} "
                            "(use LandmarkParsing for other faces)")
        self.dataset = dataset
        self.size = tuple(dataset.size)
        self.classes = tuple(dataset.parsing_classes)
        self._maps: dict[int, np.ndarray] = {}

    def labels(self, indices: torch.Tensor) -> torch.Tensor:
        out = []
        for i in torch.as_tensor(indices).tolist():
            if i not in self._maps:
                self._maps[i] = self.dataset.render(i)[1]
            out.append(torch.from_numpy(self._maps[i].astype(np.int64)))
        return torch.stack(out)


def _inside(a: np.ndarray, b: np.ndarray, centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
    """Which points of the face frame (a across, b down) fall in the axis-aligned ellipse."""
    return ((a - centre[0]) / radii[0]) ** 2 + ((b - centre[1]) / radii[1]) ** 2 <= 1.0


def landmark_parsing(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Component masks of faces from their 5 landmarks: uint8 label maps ``(N, H, W)`` (indices into PARSING_CLASSES).

    ``landmarks``: ``(5, 2)`` or ``(N, 5, 2)`` (x, y) pixels (pixel centres on integers), in the order
    left eye, right eye, nose tip, left mouth corner, right mouth corner. The face frame has its
    origin between the eyes, ``a`` along the eye line and ``b`` perpendicular to it (down); lengths
    are in units of the eye distance ``d``, the eye-to-mouth distance ``m`` and the nose length ``n``.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim == 2:
        pts = pts[None]
    if pts.ndim != 3 or pts.shape[1:] != (5, 2) or not np.isfinite(pts).all():
        raise ValueError(f"landmark_parsing expects finite landmarks (5, 2) or (N, 5, 2) as (x, y); "
                         f"got shape {pts.shape}")
    h, w = int(size[0]), int(size[1])
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((len(pts), h, w), np.uint8)
    for k, (left_eye, right_eye, nose, left_mouth, right_mouth) in enumerate(pts):
        centre = (left_eye + right_eye) / 2
        d = float(np.linalg.norm(right_eye - left_eye))
        if d < 1e-6:
            raise ValueError(f"landmark_parsing: face {k} has both eyes at the same point")
        u = (right_eye - left_eye) / d
        v = np.array([-u[1], u[0]])  # perpendicular to the eye line, pointing down the face

        def frame(p):
            q = np.asarray(p) - centre
            return float(q @ u), float(q @ v)

        a = (xs - centre[0]) * u[0] + (ys - centre[1]) * u[1]
        b = (xs - centre[0]) * v[0] + (ys - centre[1]) * v[1]
        m = frame((left_mouth + right_mouth) / 2)
        nose_a, nose_b = frame(nose)
        mouth_w = float(np.linalg.norm(right_mouth - left_mouth))
        labels = out[k]
        face = _inside(a, b, (0.0, 0.5 * m[1]), (1.17 * d, 1.2 * m[1]))
        hair = _inside(a, b, (0.0, -0.3 * m[1]), (1.05 * d, 0.9 * m[1])) & (b < 0) & ~face
        labels[hair] = HAIR
        labels[face] = SKIN
        for eye in (left_eye, right_eye):
            ea, eb = frame(eye)
            labels[_inside(a, b, (ea, eb - 0.25 * d), (0.22 * d, 0.06 * d))] = BROWS
            labels[_inside(a, b, (ea, eb), (0.17 * d, 0.08 * d))] = EYES
        labels[_inside(a, b, (0.72 * nose_a, 0.72 * nose_b), (0.17 * d, 0.5 * max(nose_b, 1e-6)))] = NOSE
        labels[_inside(a, b, (m[0], m[1] + 0.05 * d), (0.4 * mouth_w, 0.09 * d))] = MOUTH
    return out


class LandmarkParsing(ParsingProvider):
    """Landmark-derived component masks (:func:`landmark_parsing`) for faces of ``size`` (H, W).

    ``landmarks=None``: every face is taken as aligned to SphereFace's template
    (:func:`lrfr.data.align.template_for` at ``size``), so every item gets the same map; else an
    array ``(n_items, 5, 2)`` of each item's (x, y) landmarks.
    """

    def __init__(self, size: Sequence[int] = (112, 96), landmarks: np.ndarray | None = None):
        from lrfr.data.align import template_for

        self.size = (int(size[0]), int(size[1]))
        self.classes = PARSING_CLASSES
        if landmarks is None:
            self._template = torch.from_numpy(landmark_parsing(template_for(self.size), self.size)[0].astype(np.int64))
            self._per_item = None
        else:
            self._template = None
            self._per_item = np.asarray(landmarks, dtype=np.float64)
            if self._per_item.ndim != 3 or self._per_item.shape[1:] != (5, 2):
                raise ValueError(f"LandmarkParsing: landmarks must be (n_items, 5, 2); got {self._per_item.shape}")

    def labels(self, indices: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(indices).long()
        if self._template is not None:
            return self._template.expand(len(idx), *self.size).clone()
        return torch.from_numpy(landmark_parsing(self._per_item[idx.numpy()], self.size).astype(np.int64))
