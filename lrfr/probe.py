"""The probe pipeline: a low-resolution face → front-end → probe recognizer, compared with a gallery that the
gallery recognizer embedded at full resolution.

    pipe = lrfr.ProbePipeline.create(front_end="bicubic", weights="packaged:mobilefacenet_casia.pt",
                                     probe_weights="packaged:lr_mobilefacenet_robust.pt")
    hr_features = pipe.embed_gallery(hr_faces)          # (N, 3, 112, 96) in [0, 1]
    lr_features = pipe.embed_probes([face_14x12, face_20x16, camera_crop])   # any sizes

:func:`lrfr.evaluate` (its LR side), :mod:`lrfr.calibration`, :class:`lrfr.gallery.Gallery` and ``lrfr index``
all embed through this one object, so a threshold, a gallery and a table of figures are made the same way.

Four parts, and the fingerprint that names them (:meth:`ProbePipeline.fingerprint`):

* **front-end** (:class:`FrontEnd`): ``"bicubic"``; a generator's model file or ``"packaged:NAME"``; an
  ``nn.Module``. A registered architecture's name alone (``"srresnet"``) is refused: it would be an
  untrained network;
* **gallery recognizer**: embeds the HR enrolment images (``recognizer`` / ``weights``);
* **probe recognizer**: embeds what the front-end made (``probe_recognizer`` / ``probe_weights``; the
  gallery recognizer when not given). A different one must have been trained against the gallery
  recognizer — distilled from it (its model file names its teacher's sha256) — so that their embeddings
  share one space: the cross setting;
* **flip fusion** of both (``"concat"``, ``"sum"``, ``None``).

Native low-resolution faces (:data:`LR_RULE`): a probe of any size from :data:`MIN_SIDE` px to the
recognizer's input is used as it is — nothing degrades it again — and brought to the size the front-end
needs by :func:`lrfr.data.resample.fit_to_size`: centre-cropped to the recognizer's proportions (only when
they differ by a pixel or more: a 20×16 crop → 19×16, a 24×24 crop → 24×21), then resized by bicubic
(antialiased when it shrinks). For ``bicubic`` that size is the recognizer's input (112×96); for an ×s
generator it is the recognizer's input / s (14×12 for ×8), and the generator brings it the rest of the way.
So a 14×12 PNG written by ``lrfr degrade`` gives exactly the features of lrfr's own in-memory degradation of
the same face (tested).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from lrfr.errors import LrfrError

#: the smallest side of a native low-resolution probe
MIN_SIDE = 8
#: the rule native LR probes follow, in words (printed by ``lrfr index search --help``, stated in docs)
LR_RULE = ("a probe of any size from 8 px up to the recognizer's input is centre-cropped to the recognizer's "
           "proportions (when they differ by a pixel or more) and resized by bicubic to what the front-end takes")


class ProbePipelineError(LrfrError, ValueError):
    """A front-end, recognizer pair or probe image that this pipeline cannot use, named."""


@dataclass
class FrontEnd:
    """What brings a low-resolution face to the recognizer's input size: bicubic, or a generator.

    ``name`` is what tables show; ``sha256`` pins it (the model file's, ``"bicubic"`` for bicubic,
    ``module:<digest>`` for a module)."""

    name: str
    sha256: str
    model: nn.Module | None = None  # None: bicubic
    scale: int | None = None  # the generator's factor (None: bicubic, any factor)

    @classmethod
    def resolve(cls, spec: "str | Path | nn.Module | FrontEnd" = "bicubic", device=None) -> "FrontEnd":
        """``"bicubic"``, a generator's model file, ``"packaged:NAME"`` or an ``nn.Module`` (an SR model)."""
        from lrfr import sr as sr_registry
        from lrfr.fingerprint import file_sha256, module_digest
        from lrfr.weights import resolve

        if isinstance(spec, FrontEnd):
            return spec
        if isinstance(spec, nn.Module):
            model = spec.to(device).eval() if device is not None else spec.eval()
            return cls(getattr(spec, "name", type(spec).__name__), f"module:{module_digest(spec)}", model,
                       getattr(spec, "scale", None))
        text = str(spec)
        if text == "bicubic":
            return cls("bicubic", "bicubic")
        if text in sr_registry.names():
            if sr_registry.is_learned(text):
                raise ProbePipelineError(
                    f"front-end {text!r} is a learned architecture whose name alone would build an untrained network; "
                    "pass the model file a training run wrote (e.g. results/weights/srgan.pt) or a packaged one "
                    "(packaged:srgan_celeba.pt)")
            return cls(text, text)
        path = resolve(text)
        if not path.is_file():
            raise ProbePipelineError(f"front-end {text!r}: not 'bicubic', not a model file (no such file: {path}), "
                                     f"and not a packaged one (packaged:NAME)")
        model = sr_registry.load(path, device=device)
        return cls(getattr(model, "name", path.stem), file_sha256(path), model, int(model.scale))

    def input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The size it takes to make faces of ``size`` (the recognizer's input)."""
        if self.scale is None:
            return tuple(size)
        h, w = size
        if h % self.scale or w % self.scale:
            raise ProbePipelineError(f"front-end {self.name} super-resolves ×{self.scale}, which does not divide the "
                                     f"recognizer's input {h}x{w}")
        return h // self.scale, w // self.scale

    def __call__(self, faces: "Sequence[torch.Tensor] | torch.Tensor", size: tuple[int, int],
                 batch_size: int = 128, device=None) -> torch.Tensor:
        """Faces ``(3, h, w)`` of any sizes (or one batch) → ``(N, 3, *size)`` in [0, 1], on the CPU."""
        from lrfr.data.resample import fit_to_size

        need = self.input_size(size)
        fitted = torch.stack([fit_to_size(f, need) for f in _as_list(faces)]) if len(faces) else torch.zeros(0, 3, *need)
        if self.model is None:
            return fitted
        device = device or next(self.model.parameters(), torch.empty(0)).device
        outs = []
        with torch.no_grad():
            for s in range(0, len(fitted), batch_size):
                outs.append(self.model(fitted[s:s + batch_size].to(device)).float().clamp_(0, 1).cpu())
        out = torch.cat(outs) if outs else torch.zeros(0, 3, *size)
        if tuple(out.shape[-2:]) != tuple(size):
            raise ProbePipelineError(f"front-end {self.name} made {tuple(out.shape[-2:])} faces from {need}; the "
                                     f"recognizer takes {tuple(size)}")
        return out


class FittedFrontEnd(nn.Module):
    """A front-end as an SR module for any scale (for :func:`lrfr.evaluate`): every LR face of a batch is brought
    to what the front-end takes by the native-LR rule (:data:`LR_RULE`), then through it, to ``size`` — so an ×8
    generator can be scored on 7×6 or 28×24 faces (fitted to 14×12 first)."""

    learned = True

    def __init__(self, front_end: FrontEnd, scale: int, size: tuple[int, int] = (112, 96)):
        super().__init__()
        self.front_end, self.scale, self.size = front_end, int(scale), tuple(size)
        self.model = front_end.model  # its parameters make the module's digest (feature cache keys)
        need = front_end.input_size(self.size)
        self.name = (front_end.name if front_end.scale in (None, self.scale)
                     else f"{front_end.name} (LR fitted to {need[0]}x{need[1]})")

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.front_end(lr, self.size, device=lr.device).to(lr.device)


def _as_list(faces) -> list[torch.Tensor]:
    if isinstance(faces, torch.Tensor):
        return list(faces) if faces.dim() == 4 else [faces]
    return list(faces)


@dataclass
class Recognizer:
    """A recognizer of the pipeline with what pins it: its ``arch``, its weights' ``sha256`` and, for a
    student, the sha256 of the recognizer it was trained against (``teacher_sha256``)."""

    model: nn.Module
    arch: str
    sha256: str
    teacher_sha256: tuple[str, ...] = ()  # a distilled recognizer: its teacher's weights
    source_sha256: tuple[str, ...] = ()  # a re-saved copy (packaged fp16): the file it was made from
    weights: str = ""  # where it was read from: "packaged:NAME" as given, else the file's absolute path

    @classmethod
    def resolve(cls, recognizer=None, weights=None, device=None) -> "Recognizer":
        """A module, or a registry name / ``None`` with ``weights`` (a file or ``packaged:NAME``); ``None`` and
        no weights: the packaged default (SynthFaces; meaningful on SynthFaces only)."""
        from lrfr import recognition
        from lrfr.fingerprint import file_sha256, module_digest
        from lrfr.weights import DEFAULT_RECOGNIZER, PACKAGED, resolve

        if isinstance(recognizer, nn.Module):
            model = recognizer.to(device) if device is not None else recognizer
            meta = getattr(recognizer, "weights_meta", None) or {}
            return cls(model.eval(), getattr(recognizer, "arch", type(recognizer).__name__),
                       f"module:{module_digest(recognizer)}", *_lineage(meta), getattr(recognizer, "weights_path", ""))
        if weights is None:
            if recognizer is not None:
                raise ProbePipelineError(f"recognizer {recognizer!r} needs weights (a file or packaged:NAME); lrfr "
                                         "downloads nothing at run time")
            weights = PACKAGED + DEFAULT_RECOGNIZER
        path = resolve(weights)
        model = recognition.load(recognizer, weights=path, device=device)
        from lrfr.recognition.weights import read_weights

        meta = (model.weights_meta if str(path).endswith(".onnx") else read_weights(path).get("meta")) or {}
        given = str(weights) if str(weights).startswith(PACKAGED) else str(Path(path).resolve())
        return cls(model.eval(), getattr(model, "arch", recognizer or "unknown"), file_sha256(path), *_lineage(meta),
                   given)

    def names(self) -> set[str]:
        """Every sha256 this recognizer answers to (its file's, and the file it was re-saved from)."""
        return {self.sha256, *self.source_sha256}


def _lineage(meta: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    teacher = meta.get("teacher") or {}
    teacher_sha = tuple(s for s in (teacher.get("sha256"), *(teacher.get("source_sha256") or ())) if s)
    source = tuple(s for s in (meta.get("source_sha256"),) if s)
    return teacher_sha, source


@dataclass
class ProbePipeline:
    """Front-end, gallery recognizer, probe recognizer and flip fusion (module doc); build with :meth:`create`."""

    front_end: FrontEnd
    gallery: Recognizer
    probe: Recognizer
    flip: str | None = "concat"
    device: torch.device | None = None
    batch_size: int = 128
    backend: str = "torch"  # or "onnxruntime": the recognizers exported once and run by onnxruntime (CPU)

    @classmethod
    def create(cls, front_end="bicubic", recognizer=None, weights=None, probe_recognizer=None, probe_weights=None,
               flip: str | None = "concat", device=None, batch_size: int = 128, backend: str = "torch") -> "ProbePipeline":
        from lrfr.devices import resolve_device

        device = resolve_device(device)
        if flip not in (None, "none", "concat", "sum"):
            raise ProbePipelineError(f"flip must be 'concat', 'sum' or None; got {flip!r}")
        gallery = Recognizer.resolve(recognizer, weights, device)
        probe = (gallery if probe_recognizer is None and probe_weights is None
                 else Recognizer.resolve(probe_recognizer, probe_weights, device))
        if backend not in ("torch", "onnxruntime"):
            raise ProbePipelineError(f"backend must be 'torch' or 'onnxruntime'; got {backend!r}")
        if backend == "onnxruntime":
            from lrfr.recognition.onnx_backend import require_onnxruntime

            require_onnxruntime()
        pipe = cls(FrontEnd.resolve(front_end, device), gallery, probe, None if flip == "none" else flip, device,
                   batch_size, backend)
        pipe.check_pair()
        return pipe

    @classmethod
    def preset(cls, name: str, device=None, **overrides) -> "ProbePipeline":
        """A named pipeline of :mod:`lrfr.presets` (``overrides``: any :meth:`create` argument)."""
        from lrfr.presets import get

        return cls.create(**{**get(name).pipeline, **overrides}, device=device)

    # -- what it is --------------------------------------------------------------------------------------

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.gallery.model.input_size)

    @property
    def cross(self) -> bool:
        """Whether the probes have a recognizer of their own (the cross setting)."""
        return self.probe is not self.gallery

    def fingerprint(self) -> dict[str, str]:
        """All four parts: the gallery side (``recognizer``, ``weights_sha256``, ``flip``), the probe side
        (``probe_recognizer``, ``probe_weights_sha256``) and the front-end (``front_end``, ``front_end_sha256``)."""
        from lrfr.fingerprint import recognizer_fingerprint

        return {**recognizer_fingerprint(self.gallery.arch, self.gallery.sha256, self.flip, self.probe.arch,
                                         self.probe.sha256),
                "front_end": self.front_end.name, "front_end_sha256": self.front_end.sha256}

    def gallery_fingerprint(self) -> dict[str, str]:
        """What a gallery embedded by this pipeline records: the gallery recognizer and the flip fusion."""
        from lrfr.fingerprint import recognizer_fingerprint

        return recognizer_fingerprint(self.gallery.arch, self.gallery.sha256, self.flip)

    def describe(self) -> str:
        probe = "the gallery recognizer" if not self.cross else f"{self.probe.arch} {self.probe.sha256[:12]}"
        return (f"front-end {self.front_end.name} → probe recognizer {probe}; gallery recognizer "
                f"{self.gallery.arch} {self.gallery.sha256[:12]}; flip {self.flip or 'none'}")

    def check_pair(self) -> None:
        """A probe recognizer other than the gallery's must have been trained against it (module doc)."""
        g, p = self.gallery, self.probe
        if not self.cross or g.names() & p.names():
            if tuple(p.model.input_size) != tuple(g.model.input_size):
                raise ProbePipelineError("the probe recognizer and the gallery recognizer take different input sizes")
            return
        if tuple(p.model.input_size) != tuple(g.model.input_size):
            raise ProbePipelineError(
                f"the probe recognizer ({p.arch}) takes {'x'.join(map(str, p.model.input_size))} faces, the gallery "
                f"recognizer ({g.arch}) {'x'.join(map(str, g.model.input_size))}: the front-end makes one size")
        if p.model.embedding_dim != g.model.embedding_dim:
            raise ProbePipelineError(
                f"the probe recognizer ({p.arch}) embeds in {p.model.embedding_dim} dimensions, the gallery recognizer "
                f"({g.arch}) in {g.model.embedding_dim}: their features cannot be compared")
        if not set(p.teacher_sha256) & g.names():
            trained = (f"it was trained against {p.teacher_sha256[0][:12]}" if p.teacher_sha256
                       else "its file names no recognizer it was trained against")
            raise ProbePipelineError(
                f"the probe recognizer ({p.arch} {p.sha256[:12]}) was not trained against the gallery recognizer "
                f"({g.arch} {g.sha256[:12]}): {trained}, so their embeddings do not share one space; embed the "
                "gallery with its teacher, or use the gallery recognizer for the probes too")

    def check_gallery(self, recorded: dict | None, what: str) -> None:
        """Refuse a gallery (or a calibration) whose gallery side was embedded another way, in words."""
        from lrfr.fingerprint import FingerprintMismatchError, describe

        if recorded is None:
            return
        mine = self.gallery_fingerprint()
        differ = [said for key, said in (("recognizer", "architecture"), ("weights_sha256", "weights"),
                                         ("flip", "flip fusion"))
                  if str(recorded.get(key)) != str(mine[key])
                  and not (key == "weights_sha256" and str(recorded.get(key)) in self.gallery.names())]
        if differ:  # (the same weights re-saved — packaged fp16, an ONNX export — are the same recognizer)
            raise FingerprintMismatchError(
                f"{what} was embedded by another gallery recognizer ({', '.join(differ)} differ): it holds "
                f"[{describe(recorded)}], this search uses [{describe(mine)}]; search it with the gallery recognizer "
                "it was built with (the probe recognizer may differ, if trained against it), or build the gallery again")

    # -- embedding ---------------------------------------------------------------------------------------

    def embed_gallery(self, images: "torch.Tensor | Sequence[torch.Tensor]", progress: bool = False) -> np.ndarray:
        """HR faces at the recognizer's input size → gallery features ``(N, D)`` (flip-fused)."""
        from lrfr.recognition import embed

        return np.asarray(embed(self.gallery.model, images, flip=self.flip, batch_size=self.batch_size,
                                device=self.device, progress=progress, backend=self.backend), np.float32)

    def front(self, faces: "torch.Tensor | Sequence[torch.Tensor]") -> torch.Tensor:
        """LR faces of any sizes (:data:`LR_RULE`) → the recognizer's input, through the front-end."""
        for i, f in enumerate(_as_list(faces)):
            if min(f.shape[-2:]) < MIN_SIDE:
                raise ProbePipelineError(f"probe {i} is {f.shape[-2]}x{f.shape[-1]}: below {MIN_SIDE} px on a side "
                                         "nothing of a face is left to recognize")
        return self.front_end(faces, self.input_size, self.batch_size, self.device)

    def embed_probes(self, faces: "torch.Tensor | Sequence[torch.Tensor]", progress: bool = False) -> np.ndarray:
        """LR probes of any sizes → probe features ``(N, D)``: front-end, then the probe recognizer."""
        from lrfr.recognition import embed

        x = self.front(faces)
        return np.asarray(embed(self.probe.model, x, flip=self.flip, batch_size=self.batch_size, device=self.device,
                                progress=progress, backend=self.backend), np.float32)
